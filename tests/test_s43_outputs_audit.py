"""Audit s43 of what the commands write: strict JSON in every file (missing values as null, as
stdout --json), one N on suite report's loss-vs-compute figure, and init-study's text giving the
exact permutation p and the seeds beside Welch's p."""
from __future__ import annotations

import json
import math
import re

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402
from click.testing import CliRunner  # noqa: E402

from scalefit.cli import main  # noqa: E402
from scalefit.data import data_path  # noqa: E402

SHIPPED = data_path("suites", "mini", "checkpoints.parquet")


def strict_json(text: str):
    """JSON as every parser reads it: NaN, Infinity and -Infinity are no JSON."""
    def refuse(constant):
        raise ValueError(f"{constant} is not JSON")
    return json.loads(text, parse_constant=refuse)


# ------------------------------------------------------------------ 1. strict JSON in files


def test_write_json_writes_missing_values_as_null(tmp_path):
    """atomic.write_json wrote bare NaN and Infinity (json.dumps' default), which no strict parser
    reads; stdout --json writes null for them."""
    from scalefit.atomic import write_json

    path = write_json(tmp_path / "a.json", {"nan": math.nan, "inf": np.float64(np.inf), "ok": np.float32(0.5),
                                            "array": np.array([1.0, np.nan]), "n": np.int64(3),
                                            "missing": pd.NA, "path": tmp_path})
    doc = strict_json(path.read_text())
    assert doc == {"nan": None, "inf": None, "ok": 0.5, "array": [1.0, None], "n": 3, "missing": None,
                   "path": str(tmp_path)}
    compact = write_json(tmp_path / "b.json", [math.nan], indent=None)
    assert compact.read_text() == "[null]"


@pytest.mark.skipif(not SHIPPED.exists(), reason="shipped checkpoints absent")
def test_predict_curve_out_writes_the_json_it_prints(tmp_path):
    """`predict curve --out` wrote prediction.json with "mean_rel_error": NaN (no --measured run)
    while --json printed null: the file is now the printed document, strict JSON."""
    args = ["predict", "curve", "--law", "momentum", "--schedule", "wsd:1120:0.2", "--model", "mini-3",
            "--bootstrap", "0"]
    written = CliRunner().invoke(main, [*args, "--out", str(tmp_path / "out")])
    assert written.exit_code == 0, written.output
    printed = CliRunner().invoke(main, [*args, "--json"])
    assert printed.exit_code == 0, printed.output
    doc = strict_json((tmp_path / "out" / "prediction.json").read_text())
    assert doc["measured_run"] is None and None in [v for k, v in doc.items() if "error" in k]
    assert doc == strict_json(printed.stdout)
    strict_json((tmp_path / "out" / "scalefit_settings.json").read_text())


def test_a_setting_of_nan_is_one_setting_in_its_folder(tmp_path):
    """The settings record of a folder is strict JSON from the claim on, and a command given the
    same NaN option again is let into its own folder (NaN read back was never equal to NaN)."""
    from scalefit.atomic import write_json
    from scalefit.folder_settings import SETTINGS_FILE, claim_folder, refuse_other_settings

    out = tmp_path / "out"
    settings = {"command": "fit x", "options": {"--delta": math.nan, "--steps": 3}}
    assert claim_folder(out, settings) is not None
    claim = strict_json((out / SETTINGS_FILE).read_text())
    assert claim["options"] == {"--delta": None, "--steps": 3}
    (out / "report.md").write_text("done")
    write_json(out / SETTINGS_FILE, settings, indent=1)  # one_setting_per_folder's record at the end
    refuse_other_settings(out, settings)  # the same setting: let through
    with pytest.raises(Exception, match="other settings"):
        refuse_other_settings(out, {"command": "fit x", "options": {"--delta": 0.1, "--steps": 3}})


def test_a_sweep_measured_with_a_nan_option_is_measured_again_into_its_folder(tmp_path):
    """measurements.json is strict JSON, and the same NaN option again is the same option (it was
    refused as '--cap nan: the folder was measured with --cap nan')."""
    from scalefit.sweep import engine
    from scalefit.sweep.checkpoints import CheckpointInfo

    grid = [CheckpointInfo(model="m", step=0, tokens=0, lr=None)]
    measured = [engine.Measurement("loss:val", lambda model, info: pd.DataFrame([{"metric": "loss", "value": 1.0}]),
                                   options={"--cap": math.nan, "--context": 64})]
    out = tmp_path / "sweep"
    engine.sweep_checkpoints(grid, measured, out, load=lambda info: (None, None), progress=False)
    assert strict_json((out / engine.OPTIONS_FILE).read_text()) == {"loss:val": {"--cap": None, "--context": 64}}
    engine.check_options(measured, out)  # raised InputError before


# ------------------------------------------------------------------ 2. one N on loss vs compute


@pytest.mark.skipif(not SHIPPED.exists(), reason="shipped checkpoints absent")
def test_loss_vs_compute_axis_and_legend_count_one_n(tmp_path, suite_report_figures):
    """The x axis is C = 6ND with N all parameters (the tables' flops: mini-1's 287,616), while the
    legend named each size by its non-embedding count alone (25,472). Each size's N in the legend
    is now the N its points' compute counts, and the axis says which N that is."""
    from scalefit.trainer import report

    figures = suite_report_figures
    runs = pd.read_csv(data_path("suites", "mini", "runs.csv"))
    table = pd.read_parquet(SHIPPED)
    report.plot_loss_vs_compute(runs, table, tmp_path)
    ax = figures["loss_vs_compute"].axes[0]
    assert "N = all parameters" in ax.get_xlabel()
    grid = runs[runs["part"] == "grid"]
    lines = {line.get_label(): line for line in ax.get_lines()}
    for text in ax.get_legend().get_texts():
        label = text.get_text()
        model, n = label.split()[0], int(re.search(r"N = ([\d,]+)", label)[1].replace(",", ""))
        assert n == grid.loc[grid["model"] == model, "params"].iloc[0]
        sized = grid[grid["model"] == model].sort_values("tokens")
        x = lines[label].get_xdata()
        assert np.allclose(x, 6 * n * sized["tokens"].to_numpy(float))  # the compute of this N
        assert f"{int(sized['params_nonembed'].iloc[0]):,} non-emb." in label
    plt.close(figures["loss_vs_compute"])


# ------------------------------------------------------------------ 3. init-study's p values


def test_init_study_text_gives_the_permutation_p_and_the_seeds_beside_welchs():
    """The text gave 'p = 1.7e-05 (welch)' for 3 seeds against 3, whose exact permutation p
    (contrasts.csv) cannot go below 0.1: each tested contrast now says its seeds each side and
    its permutation p, and the warmup sentences say what their p is over."""
    from test_init_study import synthetic_table

    from scalefit.scaling.trajectories.init_contrasts import permutation_p
    from scalefit.scaling.trajectories.init_study import init_study
    from scalefit.scaling.trajectories.init_study_text import permutation_floor

    assert permutation_floor(3, 3) == permutation_p([10, 11, 12], [1, 2, 3]) == 0.1
    assert permutation_floor(1, 3) == permutation_p([10], [1, 2, 3]) == 0.25
    study = init_study(synthetic_table())
    tested = [s for s in study.sentences if re.search(r"p = \S+ \((welch|one run vs seeds)\)", s)]
    assert tested
    for sentence in tested:
        # the shape contrasts' control is gauss-matched
        assert re.search(r"\d+ \S+ seeds? vs \d+ (pythia|gauss-matched): exact permutation p = \S+", sentence), sentence
    c = study.contrasts
    row = c[(c["init"] == "empirical") & (c["measure"] == "final_loss") & (c["warmup"] == "warmup")].iloc[0]
    line = next(s for s in study.sentences if s.startswith("late: empirical"))
    assert (f"3 empirical seeds vs 3 pythia: exact permutation p = {row['p_perm']:.2g}" in line
            and f"p = {row['p']:.2g} (welch)" in line)
    source = next(s for s in study.sentences if s.startswith("late: source"))
    assert "1 source seed vs 3 pythia: exact permutation p = 0.25 (the least 1 vs 3 can give)" in source
    warm = [s for s in study.sentences if s.startswith("warmup,") and "p = " in s]
    assert warm and all("Welch t over the four run sets" in s and "seeds each" in s for s in warm)
