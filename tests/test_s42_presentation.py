"""Presentation defects a new-user audit found (s42/s10): raw bytes in errors, help that
understated the formats or said nothing of the output, sentences that said what did not apply,
labels and plots that left things out, degenerate intervals, fractions beside percent."""
from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from click.testing import CliRunner  # noqa: E402

from scalefit.cli import main  # noqa: E402


def _error_of(args):
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 2, result.output
    return result.output


def test_a_binary_table_is_named_binary_and_no_control_byte_reaches_the_terminal(tmp_path):
    """`fit chinchilla --data bin.csv` (garbage, NUL, 0x01, 0x02) echoed the raw bytes as a column
    name in its one-line error."""
    binary = tmp_path / "bin.csv"
    binary.write_bytes(b"garbage\x00\x01\x02")
    out = _error_of(["fit", "chinchilla", "--data", str(binary)])
    assert "binary content" in out
    assert not any(ord(c) < 32 and c != "\n" for c in out), repr(out)
    assert out.count("\n") == 1


def test_control_characters_of_a_column_name_are_escaped_in_the_error(tmp_path):
    """A text table whose header holds an escape sequence (no NUL): the missing-column error names
    the columns, escaped, never the raw ESC byte that recolours the terminal."""
    table = tmp_path / "esc.csv"
    table.write_bytes(b"params,tok\x1b[31mens,loss\n1,2,3\n")
    out = _error_of(["fit", "chinchilla", "--data", str(table)])
    assert "\x1b" not in out and "\\x1b[31m" in out


def test_data_help_names_every_format_the_reader_loads():
    """--data's help said '(CSV, Parquet or JSON)' while TSV, JSONL and .gz load too; it now
    reads the list off tables.READERS and COMPRESSED."""
    from scalefit.tables import COMPRESSED, READERS
    text = " ".join(CliRunner().invoke(main, ["fit", "--help"]).output.split())
    assert "CSV, Parquet or JSON" not in text
    for suffix in [*READERS, *COMPRESSED]:
        assert f"{suffix}," in text or f"{suffix})" in text, suffix
    for name in ("TSV", "JSONL", "Parquet"):
        assert name in text


def test_fit_and_predict_curve_help_say_what_they_print():
    fit = " ".join(CliRunner().invoke(main, ["fit", "--help"]).output.split())
    assert "Prints the fit" in fit and "95% interval" in fit and "N*, D*" in fit
    curve = " ".join(CliRunner().invoke(main, ["predict", "curve", "--help"]).output.split())
    assert "Prints" in curve and "relative error" in curve


def test_gap_sentence_says_only_what_applies():
    """compare --schedules printed 'interval [-0.208, +0.163] includes 0 (or is missing)' beside
    an interval that was there."""
    from scalefit.scaling.laws.schedule_gap import unidentified_share  # the text's and the JSON's words
    present = unidentified_share([-0.208, 0.163])
    assert "[-0.21, +0.16] includes 0" in present and "missing" not in present  # its precision
    missing = unidentified_share([float("nan"), float("nan")])
    assert "no bootstrap interval" in missing and "includes 0" not in missing


def test_not_identified_says_how_wide_the_interval_is_in_words():
    """'G (95% CI 1x its value)' read as a multiplier of 1: now the interval is so many times as
    wide as the parameter itself, and one that rounds to 1 is 'wider than' it."""
    from scalefit.scaling.fitresult import FitResult, ParamEstimate
    from scalefit.scaling.laws.identifiability import annotate
    rng = np.random.default_rng(0)
    draws = {"G": 2.0 + 0.6 * rng.standard_normal(400), "a": 0.3 * np.exp(rng.standard_normal(400))}
    params = {"G": ParamEstimate(2.0, ci95=(1.0, 3.005)), "a": ParamEstimate(0.3, ci95=(0.1, 1.0))}
    result = FitResult(law="chinchilla", n_points=8, objective=0.0, converged=True, params=params,
                       draws=draws)
    annotate(result)
    warning = next(w for w in result.warnings if w.startswith("not identified"))
    assert "its value" not in warning
    assert "G (95% interval wider than G itself" in warning
    assert "a (95% interval 3 times as wide as a itself" in warning


def test_the_grid_set_on_the_wsd_sizes_is_labelled_by_what_it_is():
    from scalefit.scaling.laws.schedule_gap import SETS
    assert SETS["grid-wsd-sizes"] == "(ii') grid, same sizes as (iii)"


def test_loss_vs_n_draws_a_curve_at_each_of_the_shipped_grids_four_token_counts():
    """compare --out: loss_vs_n.png drew each law at 3 of the grid's 4 token counts (none at
    5.3e5) and the legend did not say so."""
    from scalefit.scaling.laws.cli import default_runs_path
    from scalefit.scaling.laws.compare import compare_laws
    from scalefit.scaling.laws.plots import plot_loss_vs_n
    from scalefit.scaling.laws.runtable import validate_runs
    runs = pd.read_csv(default_runs_path())
    runs = runs[runs["part"] == "grid"]
    fits = compare_laws(runs, ("kaplan", "chinchilla"), n_bootstrap=0).fits
    frame = validate_runs(runs, "chinchilla").frame
    fig = plot_loss_vs_n(frame, fits)
    ax = fig.axes[0]
    assert len(ax.get_lines()) == 2 * 4  # two laws, a curve at each of 4 token counts
    texts = [t.get_text() for t in ax.get_legend().get_texts()]
    assert sum(t.startswith("D = ") for t in texts) == 4
    assert not any("of the runs'" in t for t in texts)  # every token count drawn: nothing to say
    plt.close(fig)
    many = frame.copy()
    many["D"] = np.geomspace(2e5, 3e6, len(many))  # 20 token counts: 4 drawn, said in the legend
    fig = plot_loss_vs_n(many, fits)
    texts = [t.get_text() for t in fig.axes[0].get_legend().get_texts()]
    assert f"curves at 4 of the runs' {len(many)} token counts" in texts
    plt.close(fig)


def test_calibration_distance_axis_has_readable_major_ticks():
    """calibrate chinchilla --out: distances 1.13-7.8 were labelled at 2, 3 and 5 only; the axis
    now starts at 1 (the largest fitted run) and reaches the next decade."""
    from types import SimpleNamespace

    from scalefit.scaling.laws.calibrate_report import plot_calibration
    from test_figures import drawn_tick_labels
    rng = np.random.default_rng(0)
    distance = np.geomspace(1.13, 7.83, 22)
    preds = pd.DataFrame({"distance": distance, "relative_error": rng.lognormal(-5, 1, 22),
                          "interval_half_width": rng.lognormal(-3.5, 0.5, 22),
                          "inside": np.ones(22, bool)})
    fig = plot_calibration(SimpleNamespace(predictions=preds, law="chinchilla", coverage=1.0))
    ax = fig.axes[0]
    fig.canvas.draw()
    labels = drawn_tick_labels(ax.xaxis)
    assert labels[0] == "1" and labels[-1] == "10", labels
    assert "3" not in labels
    assert "1 = the largest fitted run" in ax.get_xlabel()
    plt.close(fig)


def test_a_schedule_law_refit_on_its_bound_at_zero_is_zero():
    """fit schedule-law printed 'its 95% interval [2.113e-16, 3.589]' beside the table's [0, 3.6]:
    a refit that ends on L0's bound at 0 (lmfit leaves 2e-16) is the bound."""
    import lmfit

    from scalefit.scaling.laws.curve_fit import _at_floor
    param = lmfit.Parameter("L0", value=2.113e-16, min=0.0, max=10.0)
    assert _at_floor(param) == 0.0
    assert _at_floor(lmfit.Parameter("C", value=3.5e-4, min=0.0)) == 3.5e-4
    assert _at_floor(lmfit.Parameter("x", value=2e-16, min=-1.0)) == 2e-16  # no bound at 0


def test_a_parameter_every_resample_leaves_on_its_bound_has_no_interval_printed():
    """predict downstream --relation sigmoid printed 'a 1.00000 bootstrap 95% CI [1, 1] at its
    upper bound': a degenerate interval instead of saying the bound holds it."""
    from scalefit.scaling.relations.report import downstream_text
    text = downstream_text({"relation": "sigmoid", "n_points": 9, "x": "a", "y": "b",
                            "bootstrap": {"n": 100},
                            "warnings": ["parameter a is at its upper bound"],
                            "params": {"a": {"value": 1.0, "stderr": 0.0, "ci95": [1.0, 1.0]},
                                       "b": {"value": 0.53, "stderr": 0.001,
                                             "ci95": [0.527, 0.531]}}})
    line_a = next(line for line in text.splitlines() if line.split()[:1] == ["a"])
    assert "[1, 1]" not in line_a and "1.00000" not in line_a
    assert "at its upper bound in the fit and in every resample: no interval" in line_a
    assert "bootstrap 95% CI [0.5270, 0.5310]" in text  # the other parameters as before


def test_grid_test_summary_prints_percent_as_its_sentences_do():
    """predict curve --grid-test printed 0.0179 (a fraction) in a table whose sentences and the
    README say 1.79%; the loss columns named no unit."""
    from scalefit.scaling.laws.schedule_prediction import percent_summary
    summary = pd.DataFrame({"method": ["schedule_law"], "part": ["all"], "n": [18],
                            "mean_abs_rel_error": [0.017912], "max_abs_rel_error": [0.028571]})
    shown = percent_summary(summary)
    assert list(shown.columns) == ["method", "part", "n", "mean |rel err|", "max |rel err|"]
    assert shown.iloc[0].tolist() == ["schedule_law", "all", 18, "1.79%", "2.86%"]
    assert summary["mean_abs_rel_error"].iloc[0] == 0.017912  # --json and the CSV keep fractions
