"""The package shell: CLI group, error convention, shipped-data lookup, table reading."""
import json

import pandas as pd
import pytest
from click.testing import CliRunner

from scalefit.cli import main
from scalefit.data import data_path
from scalefit.errors import InputError
from scalefit.report import dumps
from scalefit.tables import read_table


def test_help_lists_commands():
    result = CliRunner().invoke(main, ["--help"])
    assert result.exit_code == 0
    assert "Usage: scalefit" in result.output


def test_data_path_points_into_the_package():
    assert data_path().is_dir()
    assert (data_path() / "__init__.py").exists()


@pytest.mark.parametrize("suffix", [".csv", ".parquet", ".json", ".jsonl"])
def test_read_table_round_trips(tmp_path, suffix):
    df = pd.DataFrame({"params": [1e6, 2e6], "tokens": [1e9, 2e9], "loss": [3.1, 3.0]})
    path = tmp_path / f"runs{suffix}"
    if suffix == ".csv":
        df.to_csv(path, index=False)
    elif suffix == ".parquet":
        df.to_parquet(path)
    elif suffix == ".json":
        df.to_json(path, orient="records")
    else:
        df.to_json(path, orient="records", lines=True)
    back = read_table(path)
    pd.testing.assert_frame_equal(back.astype(float), df.astype(float))


def test_read_table_errors_name_the_file(tmp_path):
    with pytest.raises(InputError, match="missing.csv: file not found"):
        read_table(tmp_path / "missing.csv")
    bad = tmp_path / "runs.xlsx"
    bad.write_text("x")
    with pytest.raises(InputError, match="runs.xlsx: unknown table format"):
        read_table(bad)
    broken = tmp_path / "broken.json"
    broken.write_text("{not json")
    with pytest.raises(InputError, match="broken.json: cannot read as json"):
        read_table(broken)


def test_json_dump_turns_nan_into_null():
    text = dumps({"a": float("nan"), "b": [1.0, float("inf")]})
    assert json.loads(text) == {"a": None, "b": [1.0, None]}


def test_json_dump_writes_a_missing_count_of_a_nullable_column_as_null():
    """The sweep tables keep counts as pandas' nullable Int64 (f152de4); a column's values as
    Python objects hold pd.NA where a row lacks the count, which json.dumps cannot write."""
    import pandas as pd

    counts = pd.Series([64, None], dtype="Int64").tolist()
    assert json.loads(dumps({"context": counts, "when": pd.NaT})) == {"context": [64, None], "when": None}


@pytest.mark.parametrize("args, path, says", [
    (["compare", "--schedule-law", "x"], "scalefit compare", "Did you mean '--schedules'?"),
    (["fit", "nosuchlaw"], "scalefit fit", "Invalid value for 'LAW': 'nosuchlaw' is not one of 'kaplan-n'"),
    (["nosuchcmd"], "scalefit", "No such command 'nosuchcmd'"),
    (["suite", "precision", "--pair"], "scalefit suite precision", "Option '--pair' requires an argument"),
    (["compare", "--bootstrap"], "scalefit compare", "Option '--bootstrap' requires an argument"),
    (["fit"], "scalefit fit", "Missing argument 'LAW'. Choose from: kaplan-n, kaplan-d,"),
])
def test_a_usage_error_is_one_line_naming_the_command_to_ask(args, path, says):
    """What click refuses (an unknown option or command, a value outside a choice, a missing
    value) is one line with exit status 2, like every other bad input, not click's usage block."""
    result = CliRunner().invoke(main, args)
    lines = result.stderr.strip().splitlines()
    assert result.exit_code == 2 and len(lines) == 1, result.stderr
    assert lines[0].startswith("error: ") and says in lines[0]
    assert lines[0].endswith(f"(see '{path} --help')")


@pytest.mark.parametrize("args, says", [
    (["suite", "train", "--spec", "data/suites/mini.toml", "--threads", "-2"], "--threads: '-2' is out of range"),
    (["suite", "sweep", "--spec", "data/suites/mini.toml", "--threads", "0"], "--threads: '0' is out of range"),
    (["suite", "precision", "--spec", "data/suites/mini.toml", "--threads", "nan"], "--threads: 'nan' is not finite"),
    (["suite", "precision", "--spec", "data/suites/mini.toml", "--target-se", "-0.1"], "--target-se"),
    (["data", "build-corpus", "--out", "OUT", "--vocab-size", "100"], "--vocab-size 100: use 258 to 65535"),
    (["data", "build-corpus", "--out", "OUT", "--seed", "-1"], "--seed: '-1' is out of range"),
    (["data", "build-corpus", "--out", "OUT", "--val-frac", "nan"], "--val-frac: 'nan' is not finite"),
    (["data", "build-corpus", "--out", "OUT", "--val-frac", "0.6", "--test-frac", "0.5"], "together below 1"),
])
def test_suite_commands_refuse_a_bad_count_in_one_line(args, says, tmp_path):
    """The suite trainer's --threads (and --target-se) are checked before torch sees them (a
    negative thread count was a RuntimeError traceback); build-corpus refuses a vocabulary that
    does not fit, a negative seed and shares of documents that leave none to train on (nan was
    accepted and a corpus written) before it reads a document."""
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    args = [str(root / a) if a.endswith(".toml") else str(tmp_path / "corpus") if a == "OUT" else a
            for a in args]
    result = CliRunner().invoke(main, args)
    lines = result.stderr.strip().splitlines()
    assert result.exit_code == 2 and len(lines) == 1, result.stderr
    assert says in lines[0]
    assert not (tmp_path / "corpus").exists()


@pytest.mark.parametrize("group", ["suite", "data", "predict"])
def test_a_bare_group_shows_its_help_not_an_error(group):
    """A group named without a subcommand prints its help as click does, not as an error line."""
    result = CliRunner().invoke(main, [group])
    assert result.output.startswith(f"Usage: scalefit {group}") and "error:" not in result.output
    assert "Commands:" in result.output


def test_a_list_of_accepted_values_says_when_it_goes_on():
    from scalefit.errors import known
    assert known(["b", "a", "a", float("nan"), None]) == "a, b"
    names = [f"s{i:02d}" for i in range(45)]
    assert known(names, limit=40).endswith("s39, ... (45 in all)")
    assert known(names, limit=45) == ", ".join(names)


def test_a_bad_stat_lists_every_stat_of_the_shipped_table():
    """The shipped table has 22 statistics; the message used to stop at 12, before t_nu. It also
    names t_xi, derived from t_nu (scalefit.derived_stats)."""
    result = CliRunner().invoke(main, ["transitions", "--stat", "nope"])
    assert result.exit_code == 2
    assert "t_nu, t_scale, t_xi)" in result.output and "in all" not in result.output


def test_the_near_name_matcher_offers_up_to_n_names_closest_first():
    """errors.suggestion is the one matcher; lm-eval's task check asks it for three names."""
    from scalefit.errors import suggestion
    names = ["lambada", "lambada_openai", "lambada_standard", "piqa"]
    assert suggestion("lambada_opnai", names) == "; did you mean 'lambada_openai'?"
    assert suggestion("lambada_opnai", names, n=2) == "; did you mean 'lambada_openai' or 'lambada'?"
    assert (suggestion("lambada_opnai", names, n=3, form="[{}]")
            == "; did you mean [lambada_openai], [lambada] or [lambada_standard]?")
    assert suggestion("hellaswag", names, n=3, otherwise="") == ""
