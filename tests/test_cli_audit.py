"""What a new user's audit of the command line found: input that ran and printed a result it
should have refused. Each case is one line naming what is wrong, exit status 2, no traceback."""
from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from scalefit.cli import main
from scalefit.errors import InputError
from scalefit.options import irreducible_loss


def one_line_error(args, *named):
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 2, result.output
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1, result.output
    assert lines[0].startswith("error: ") and "Traceback" not in result.output
    for text in named:
        assert text in lines[0], lines[0]
    return lines[0]


# one law under two of its names ran and printed every row twice, as if two laws agreed exactly
@pytest.mark.parametrize("laws,named", [
    (["chinchilla", "hoffmann"], ["'hoffmann' is another name for 'chinchilla'"]),
    (["kaplan", "chinchilla", "approach3"], ["'approach3' is another name for 'chinchilla'"]),
    (["kaplan", "chinchilla", "Kaplan"], ["'kaplan' is named twice"]),
    (["kaplan", "chinchilla", "kaplan"], ["'kaplan' is named twice"]),
    (["chinchilla"], ["needs two different laws"]),
])
def test_compare_refuses_a_law_named_twice(laws, named):
    one_line_error(["compare", *laws, "--bootstrap", "0"], *named)


# a loss related to itself on the same runs fitted the identity (K = 1, kappa = 1) and exited 0;
# --y-from with train-to-test was silently ignored (y is read from the --x-from runs)
@pytest.mark.parametrize("args,named", [
    (["predict", "downstream", "--x", "loss", "--y", "loss"], ["--x and --y", "'loss'", "identity"]),
    (["predict", "downstream", "--y", "loss"], ["--x and --y", "identity"]),
    (["fit", "shifted-power", "--x", "loss", "--y", "loss"], ["identity"]),
    (["calibrate", "sigmoid", "--x", "loss", "--y", "loss"], ["identity"]),
    (["predict", "downstream", "--y-from", "code"], ["--y-from code", "train-to-train"]),
    (["fit", "shifted-power", "--pair", "train-to-test", "--y-from", "code"], ["--y-from"]),
])
def test_relations_refuse_an_identity_and_an_ignored_flag(args, named):
    # calibrate's --bootstrap takes 2 or more (0 is refused when parsed)
    one_line_error([*args, "--bootstrap", "2" if args[0] == "calibrate" else "0"], *named)


def test_train_to_train_still_takes_one_column_from_two_training_sets():
    """--x loss --y loss is the documented train-to-train use: the identity check must not stop it
    (it may still fail for the shipped table's few code runs, but not for being the identity)."""
    result = CliRunner().invoke(main, ["predict", "downstream", "--pair", "train-to-train",
                                       "--x", "loss", "--y", "loss", "--bootstrap", "0"])
    assert "identity" not in result.output


# a negative irreducible loss was taken as given (a cross-entropy is never below 0)
@pytest.mark.parametrize("args,option", [
    (["predict", "downstream", "--e", "given", "--E-x", "-1", "--E-y", "1"], "--E-x"),
    (["predict", "downstream", "--e", "given", "--E-x", "1", "--E-y", "-0.5"], "--E-y"),
    (["trajectory", "--stat", "t_nu", "--E", "-1"], "--E"),
])
def test_a_negative_irreducible_loss_is_refused(args, option):
    one_line_error(args, f"{option}: '", "is negative", ">= 0")


def test_irreducible_loss_parser():
    assert irreducible_loss("--E", "0") == 0.0 and irreducible_loss("--E", "1.5") == 1.5
    for bad in ("-1", "nan", "inf", "abc"):
        with pytest.raises(InputError, match="--E"):
            irreducible_loss("--E", bad)


# an unknown LAW listed the laws but not the other names the same place takes (`fit shifted-power`,
# `calibrate sigmoid`), so `calibrate sigmoidd` read as if relations were not calibrated at all
@pytest.mark.parametrize("args,named", [
    (["calibrate", "sigmoidd"], ["'sigmoid' (a relation)", "did you mean 'sigmoid'?"]),
    (["fit", "shifted-powr"], ["'schedule-law' (whole loss curves)", "did you mean 'shifted-power'?"]),
    (["compare", "kaplan", "chinchila"], ["did you mean 'chinchilla'?"]),
])
def test_an_unknown_law_names_every_accepted_name_and_the_nearest(args, named):
    line = one_line_error(args, "is not one of", *named)
    assert line.endswith("--help')")


def test_an_unrelated_name_gets_no_guess():
    line = one_line_error(["fit", "nosuchlaw"], "'shifted-power' (a loss-to-loss law)")
    assert "did you mean" not in line


# a run table given as --spec was not read as a spec: the first complaint was a missing corpus
@pytest.mark.parametrize("command", [["suite", "train", "--out", "OUT"], ["suite", "sweep"],
                                     ["suite", "precision"], ["suite", "ship", "--from", "x"]])
def test_a_spec_of_the_wrong_kind_is_named_as_the_spec(command, tmp_path):
    pytest.importorskip("torch")
    table = tmp_path / "runs.csv"
    table.write_text("model,params,tokens,loss\nm,1,2,3\n")
    one_line_error([*command, "--spec", str(table), "--corpus", str(tmp_path / "no-corpus")],
                   f"{table}: cannot read spec")


# weights plot: an --out it cannot write was a FileNotFoundError / NotADirectoryError traceback
# when the first figure was saved; --hist without --checkpoint was silently ignored
def test_weights_plot_checks_out_and_hist(tmp_path):
    table = tmp_path / "w.csv"
    table.write_text("model,step,tensor,group,layer,stat,value\nm,0,w,mlp_in,0,t_nu,5\nm,1,w,mlp_in,0,t_nu,4\n")
    blocker = tmp_path / "file"
    blocker.write_text("x")
    one_line_error(["weights", "plot", "--data", str(table), "--out", str(blocker / "sub")],
                   "--out", "is a file, so no folder can be made below it")
    one_line_error(["weights", "plot", "--data", str(table), "--hist", "mlp_out", "--out",
                    str(tmp_path / "plots")], "--hist: only with --checkpoint")
    assert not (tmp_path / "plots").exists()
    result = CliRunner().invoke(main, ["weights", "plot", "--data", str(table), "--out",
                                       str(tmp_path / "plots")])
    assert result.exit_code == 0, result.output
    assert (tmp_path / "plots" / "t_nu_vs_step.png").exists()


def test_suite_ship_checks_out_before_the_work(tmp_path):
    """ship's --out was first tried when the merged table was written, after a --rescore that
    re-measures every run."""
    pytest.importorskip("torch")
    blocker = tmp_path / "file"
    blocker.write_text("x")
    spec = Path(__file__).resolve().parents[1] / "data" / "suites" / "mini.toml"
    one_line_error(["suite", "ship", "--spec", str(spec), "--from", str(tmp_path),
                    "--out", str(blocker / "sub")], "--out", "is a file")


def test_grid_test_names_a_finals_table_of_the_wrong_kind(tmp_path):
    """--grid-test --finals RUNS.csv (a run table, not the long finals table) was a KeyError
    traceback inside the prediction test."""
    runs = tmp_path / "runs.csv"
    runs.write_text("model,part,params,tokens,loss\nm,grid,1,2,3\n")
    one_line_error(["predict", "curve", "--grid-test", "--finals", str(runs)],
                   f"{runs}: --finals: columns dataset, metric, value", "missing")


@pytest.mark.parametrize("extra", [["--schedule", "cosine:100"], ["--measured", "mini-3"],
                                   ["--bootstrap", "0"], ["--model", "mini-3"]])
def test_grid_test_refuses_the_options_it_does_not_read(extra):
    """predict curve --grid-test ran and ignored --schedule, --measured, --bootstrap, --model ..."""
    one_line_error(["predict", "curve", "--grid-test", *extra], f"{extra[0]}: not with --grid-test")


# counts written in billions ran and printed D* = 0.0152 tokens
@pytest.mark.parametrize("column,scale", [("tokens", 1e-9), ("params", 1e-9), ("flops", 1e-21)])
def test_a_count_below_one_is_refused_as_a_unit_mistake(tmp_path, column, scale):
    import pandas as pd
    from scalefit.scaling.laws.cli import default_runs_path
    runs = pd.read_csv(default_runs_path())
    runs = runs[runs["part"] == "grid"].copy()
    runs[column] = runs[column] * scale
    path = tmp_path / "runs.csv"
    runs.to_csv(path, index=False)
    one_line_error(["fit", "chinchilla", "--data", str(path), "--bootstrap", "0"],
                   f"column '{column}'", "below 1", "count")


def test_too_few_runs_for_e_says_which_side():
    """train-to-train on the shipped table: the code (y) side has 5 runs, too few for the Kaplan
    fit that gives E_y; the error said '5 rows' without saying they were the y side's runs."""
    one_line_error(["predict", "downstream", "--pair", "train-to-train", "--bootstrap", "0"],
                   "5 rows", "E_y", "y side's runs", "--e fit")


def test_weights_plot_of_a_whole_suite_keeps_its_legend_readable(tmp_path):
    """Every model x group of a suite (5 x 9 = 45 lines) on one axes crammed the legend over the
    lines and leaked matplotlib's 'Tight layout not applied' warning to the terminal: one panel per
    group, a line per model, the models' legend beside the panels."""
    import warnings

    import matplotlib
    matplotlib.use("Agg")
    import pandas as pd
    from scalefit.weightstats.plots import stat_vs_step_figure
    groups = ["embed", "attn_qkv", "attn_out", "mlp_in", "mlp_out", "ln", "bias", "head", "pos"]
    rows = [{"model": f"mini-{m}", "step": s, "tensor": "*", "group": g, "layer": -1,
             "stat": "t_nu", "value": 3 + m + 0.1 * k + 0.01 * s}
            for m in range(1, 6) for k, g in enumerate(groups) for s in (0, 1, 2, 4, 8, 16)]
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # any layout warning fails the test
        fig = stat_vs_step_figure(pd.DataFrame(rows), "t_nu")
        fig.savefig(tmp_path / "all.png")
    panels = [ax for ax in fig.axes if ax.get_visible()]
    assert sorted(ax.get_title() for ax in panels) == sorted(groups)  # one panel per group
    assert all(len(ax.lines) == 5 for ax in panels)  # a line per model
    assert len(fig.legends) == 1 and [t.get_text() for t in fig.legends[0].get_texts()] == \
        [f"mini-{m}" for m in range(1, 6)]
    renderer = fig.canvas.get_renderer()
    legend_box = fig.legends[0].get_window_extent(renderer)
    assert all(legend_box.x0 >= ax.get_window_extent(renderer).x1 for ax in panels)


# a folder without weights was found only inside the sweep (exit 1, recorded as a failed checkpoint)
def test_a_checkpoint_folder_without_weights_is_refused_up_front(tmp_path):
    folder = tmp_path / "mini-1" / "step100"
    folder.mkdir(parents=True)
    (folder / "config.json").write_text("{}")
    one_line_error(["weights", "--checkpoint", str(folder), "--out", str(tmp_path / "out")],
                   f"--checkpoint {folder}", "no weights", "*.safetensors")
    assert not (tmp_path / "out").exists()
