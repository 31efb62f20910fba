"""Validated option values: every bad numeric value is one line naming the option, exit 2."""
from pathlib import Path

import pytest
from click.testing import CliRunner

from scalefit.cli import main
from scalefit.errors import InputError
from scalefit.options import bootstrap_count, holdout_spec, positive_float


BAD = [
    (["fit", "chinchilla", "--holdout", "nan"], "--holdout"),
    (["fit", "chinchilla", "--holdout", "inf"], "--holdout"),
    (["fit", "chinchilla", "--holdout", "-1"], "--holdout"),
    (["fit", "chinchilla", "--holdout", "2.5"], "--holdout"),
    (["compare", "kaplan", "chinchilla", "--holdout", "nan"], "--holdout"),
    (["fit", "chinchilla", "--bootstrap", "1"], "at least 2 resamples, or 0 for none"),
    (["fit", "chinchilla", "--bootstrap", "1e9"], "at most 100000"),  # was a 149 GiB MemoryError
    (["reconcile", "--by", "label", "--bootstrap", "1000000000"], "at most 100000"),  # was the OOM killer
    (["fit", "chinchilla", "--columns", "params=params,params=loss"], "params is mapped twice"),
    (["fit", "chinchilla", "--seed", "-1"], "--seed"),
    (["fit", "chinchilla", "--delta", "nan"], "--delta"),
    (["compare", "kaplan", "chinchilla", "--delta", "0"], "--delta"),
    (["transitions", "--stat", "t_nu", "--warmup-steps", "nan"], "--warmup-steps"),
    (["transitions", "--stat", "t_nu", "--warmup-steps", "-5"], "--warmup-steps"),
    (["transitions", "--stat", "t_nu", "--total-steps", "0"], "--total-steps"),
    (["transitions", "--stat", "t_nu", "--min-delta-bic", "nan"], "--min-delta-bic"),
    (["warmup-study", "--bootstrap", "1"], "--bootstrap"),
    (["trajectory", "--stat", "t_nu", "--E", "inf"], "--E"),
]


@pytest.mark.parametrize("args,named", BAD, ids=[" ".join(a) for a, _ in BAD])
def test_bad_value_is_one_line_exit_2(args, named):
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 2, result.output
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1, result.output
    assert lines[0].startswith("error: ") and named in lines[0]
    assert "Traceback" not in result.output


def test_trajectory_E_above_the_losses_is_refused_not_ignored():
    result = CliRunner().invoke(main, ["trajectory", "--stat", "t_nu", "--group", "attn_out",
                                       "--E", "100"])
    if "shipped suite table is missing" in result.output:
        pytest.skip("shipped checkpoint table absent")
    assert result.exit_code == 2
    assert "--E: 100 is not below the smallest loss" in result.output


def test_parsers():
    assert holdout_spec("--holdout", None) is None
    assert holdout_spec("--holdout", "0") is None
    assert holdout_spec("--holdout", "none") is None
    assert holdout_spec("--holdout", "0.2") == 0.2
    assert holdout_spec("--holdout", "5") == 5 and isinstance(holdout_spec("--holdout", 5.0), int)
    assert bootstrap_count("--bootstrap", "0") == 0 and bootstrap_count("--bootstrap", 2) == 2
    for bad in ("nan", "-inf", "-0.5", "1.5", "abc"):
        with pytest.raises(InputError, match="--holdout"):
            holdout_spec("--holdout", bad)
    with pytest.raises(InputError, match="at least 2"):
        bootstrap_count("--bootstrap", 1)
    with pytest.raises(InputError, match="> 0"):
        positive_float("--delta", -1e-3)


def test_threads_devices_and_output_places(tmp_path):
    import os

    from scalefit.options import output_file, output_folder, thread_count, torch_device

    pytest.importorskip("torch")
    assert thread_count("--threads", "2") == 2
    with pytest.raises(InputError, match=f"from 1 to {4 * os.cpu_count()}"):
        thread_count("--threads", 99999)
    assert torch_device("--device", "cpu") == "cpu"
    for bad, message in (("gpu", "not a device"), ("meta", "cannot measure on a 'meta' device")):
        with pytest.raises(InputError, match=message):
            torch_device("--device", bad)
    assert output_folder("--out", tmp_path / "a" / "b") == tmp_path / "a" / "b"
    assert not (tmp_path / "a").exists()  # checked, not left behind: a refused command makes no folder
    (tmp_path / "file").write_text("x")
    with pytest.raises(InputError, match="--out .*file: is a file; expected a folder"):
        output_folder("--out", tmp_path / "file")
    with pytest.raises(InputError, match="'.*file' is a file, so no folder can be made below it"):
        output_folder("--out", tmp_path / "file" / "sub")
    (tmp_path / "ro").mkdir(mode=0o500)
    if os.geteuid() != 0:  # root writes anywhere
        with pytest.raises(InputError, match="cannot write in that folder"):
            output_folder("--out", tmp_path / "ro" / "new")
    with pytest.raises(InputError, match="cannot write in its folder"):
        output_file("--out", tmp_path / "file" / "x.csv")
    (tmp_path / "a").mkdir()
    with pytest.raises(InputError, match="is a folder"):
        output_file("--out", tmp_path / "a")


MACHINE_BAD = [
    (["weights", "--checkpoint", "{tmp}/step0", "--device", "meta", "--out", "{tmp}/w"], "--device meta"),
    (["weights", "--checkpoint", "{tmp}/step0", "--out", "{tmp}/file"], "--out"),
    (["data", "build-corpus", "--out", "{tmp}/file/corpus"], "--out"),
    (["suite", "train", "--spec", "{spec}", "--threads", "99999"], "--threads: '99999' is out of range"),
    (["suite", "precision", "--spec", "{spec}", "--out", "{tmp}/file/p.csv"], "--out"),
]


@pytest.mark.parametrize("args,named", MACHINE_BAD, ids=[" ".join(a[:3]) for a, _ in MACHINE_BAD])
def test_bad_device_threads_or_out_is_one_line_exit_2(tmp_path, args, named):
    pytest.importorskip("torch")
    (tmp_path / "file").write_text("x")
    (tmp_path / "step0").mkdir()  # a checkpoint folder as far as the grid checks (its weights file)
    (tmp_path / "step0" / "model.safetensors").write_bytes(b"")
    spec = Path(__file__).resolve().parents[1] / "data" / "suites" / "mini.toml"  # a valid spec: --spec is read
    test_bad_value_is_one_line_exit_2([a.replace("{tmp}", str(tmp_path)).replace("{spec}", str(spec))
                                       for a in args], named)


def test_a_library_warning_is_one_warning_line_in_the_cli_and_a_python_warning_elsewhere(tmp_path):
    """What a run goes on past (a damaged part file, a diverged checkpoint) was printed to stderr by
    the library itself, so a notebook could neither catch nor filter it: now a ScalefitWarning,
    shown by the CLI as one 'warning: ...' line, every time, and Python's filters restored after."""
    import warnings

    import click

    from scalefit.cli import LazyGroup
    from scalefit.errors import ScalefitWarning, warn

    @click.command()
    def twice():
        warn("the same thing")
        warn("the same thing")

    class Group(LazyGroup):  # the scalefit group's invoke, with this one command
        def list_commands(self, ctx):
            return ["twice"]

        def get_command(self, ctx, name):
            return twice if name == "twice" else None

    group = Group(name="scalefit")
    before = warnings.showwarning

    result = CliRunner().invoke(group, ["twice"])
    assert result.exit_code == 0 and result.stderr == "warning: the same thing\n" * 2
    with pytest.warns(ScalefitWarning, match="caught in Python"):
        warn("caught in Python")
    assert warnings.showwarning is before  # the command's display is not left behind


def test_one_column_mapped_to_two_names_is_both():
    """--columns budget=C,flops=C kept only the last name (flops), and the isoflop budgets the
    user named were silently read from rounded flops instead."""
    import pandas as pd

    from scalefit.options import apply_column_mapping, file_column

    df = pd.DataFrame({"C": [1.0, 2.0], "flops": [9.0, 9.0], "x": [3.0, 4.0]})
    both = apply_column_mapping(df, {"budget": "C", "flops": "C"}, "t.csv")
    assert both["budget"].tolist() == both["flops"].tolist() == [1.0, 2.0]
    assert file_column(both, "budget") == file_column(both, "flops") == "C"
    swapped = apply_column_mapping(df, {"flops": "x", "params": "flops"}, "t.csv")
    assert swapped["flops"].tolist() == [3.0, 4.0] and swapped["params"].tolist() == [9.0, 9.0]
