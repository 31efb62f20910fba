"""A suite spec that is not UTF-8 text (a binary file given by mistake) is one line and exit 2:
load_spec and load_suite caught TOML's and JSON's parse errors but not UnicodeDecodeError, so
`suite train|sweep|precision --spec` and `eval|weights --suite` ended in its traceback (exit 1)."""
import pytest

from test_cli_audit import one_line_error

BYTES = b"\x90\x80\xff\xfe" + bytes(range(256)) * 2


@pytest.mark.parametrize("args", [
    ["suite", "train", "--spec", "{spec}", "--corpus", "{tmp}/corpus", "--out", "{tmp}/o"],
    ["suite", "sweep", "--spec", "{spec}", "--out", "{tmp}/o"],
    ["suite", "precision", "--spec", "{spec}"],
    ["eval", "--suite", "{spec}", "--out", "{tmp}/o", "--dataset", "v={spec}"],
    ["weights", "--suite", "{spec}", "--out", "{tmp}/o"],
], ids=["train", "sweep", "precision", "eval", "weights"])
def test_a_spec_that_is_not_utf8_text_is_one_line(tmp_path, args):
    spec = tmp_path / "bin.toml"
    spec.write_bytes(BYTES)
    filled = [a.format(spec=spec, tmp=tmp_path) for a in args]
    one_line_error(filled, "bin.toml", "not UTF-8 text (byte offset 0)", "suite spec is a TOML")


def test_a_spec_json_that_is_not_utf8_text_is_one_line(tmp_path):
    spec = tmp_path / "bin.json"
    spec.write_bytes(BYTES)
    one_line_error(["weights", "--suite", str(spec), "--out", str(tmp_path / "o")],
                   "bin.json: cannot read suite spec: not UTF-8 text", "TOML or JSON text file")


def test_warmup_study_says_how_many_panels_it_studies_by_default():
    """Its refusal of no panels said "the mini-suite report's eleven" while PANELS held 13."""
    from scalefit.errors import InputError
    from scalefit.scaling.trajectories.warmup_study import PANELS, checked_panels

    with pytest.raises(InputError, match=f"report's {len(PANELS)}, warmup_study.PANELS"):
        checked_panels([])


def test_a_schedule_too_long_to_hold_in_memory_is_one_line(tmp_path):
    """--schedule cosine:99999999999 asked numpy for 745 GiB: _ArrayMemoryError's traceback, exit 1."""
    one_line_error(["predict", "curve", "--model", "mini-3", "--bootstrap", "3",
                    "--schedule", "cosine:99999999999"],
                   "--schedule 'cosine:99999999999': STEPS 99999999999 is over 1e+08",
                   "give a run of at most that many steps")


def test_init_study_help_says_its_data_is_a_checkpoint_table_and_names_its_default():
    """init-study's --help called --data a "Run table" (the laws' per-run table) while it reads
    the init runs' checkpoints; its default is the shipped init study's table."""
    from click.testing import CliRunner

    from scalefit.cli import main
    from scalefit.data import INIT_STUDY_CHECKPOINTS

    text = " ".join(CliRunner().invoke(main, ["init-study", "--help"], terminal_width=400).output.split())
    assert "--data FILE Checkpoint table of init runs" in text and "Run table" not in text
    assert f"data/{'/'.join(INIT_STUDY_CHECKPOINTS)}" in text


def test_init_study_text_says_how_its_intervals_are_made_as_its_report_does():
    """The terminal said only "[a, b] = 95% interval"; report.md said Welch t over seeds."""
    from scalefit.scaling.trajectories.init_study_cli import INTERVAL_WORDS, study_header

    class Study:
        runs, dataset, sentences = [1, 2], "prose-val", []

    assert "Welch t over seeds" in INTERVAL_WORDS
    assert study_header(Study, "t.csv").endswith(f"pythia of its size and warmup {INTERVAL_WORDS}.")
