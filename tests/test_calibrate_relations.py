"""Calibration of the relations (issue 15): leave-future-out coverage of the 95% prediction
intervals of loss-to-loss and loss-to-accuracy laws, on data with a known truth and on the
published tables in ../shared/anchors (Brandfonbrener's sweep and its 3.3B runs, Gadre's
over-training runs, the OLMo ladder, Pythia's evals; skipped when absent). On the published
tables only what holds robustly is asserted; the numbers are printed (pytest -s)."""
from __future__ import annotations

import json
import warnings

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from scalefit.cli import main
from scalefit.scaling.laws.forms import kaplan_nde
from scalefit.scaling.relations import forms as relation_forms
from scalefit.scaling.relations.calibrate import calibrate_relation
from tests.ladder_tables import ladder_checkpoints

KAPLAN_X = {"E": 1.8, "N_c": 2e8, "D_c": 2e9, "alpha_N": 0.34, "alpha_D": 0.28}
SHIFTED = {"K": 1.3, "kappa": 1.4, "E_y": 0.9}
SIGMOID = {"a": 0.6, "k": -4.0, "L0": 2.9, "b": 0.25}
REPLICATES = 6


def synthetic_pairs(seed: int, relation: str, sigma: float = 0.01) -> pd.DataFrame:
    """6 sizes x 5 token ratios: x a Kaplan L(N, D) + E loss, y the relation of x (known
    constants), each with its own noise (relative for losses, additive for accuracies)."""
    rng = np.random.default_rng(seed)
    N, tpp = np.meshgrid(np.geomspace(2e7, 3e9, 6), [5, 10, 20, 40, 80], indexing="ij")
    N, D = N.ravel(), (N * tpp).ravel()
    x = kaplan_nde(N, D, *KAPLAN_X.values()) * np.exp(rng.normal(0, sigma, N.size))
    if relation == "shifted-power":
        y = relation_forms.shifted_power_law(x, SHIFTED["K"], SHIFTED["kappa"], KAPLAN_X["E"],
                                             SHIFTED["E_y"]) * np.exp(rng.normal(0, sigma, N.size))
    else:
        y = relation_forms.sigmoid_accuracy(x, *SIGMOID.values()) + rng.normal(0, sigma, N.size)
    return pd.DataFrame({"params": N, "tokens": D, "loss": x, "y": y})


def _coverage(relation: str) -> float:
    inside = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for r in range(REPLICATES):
            cal = calibrate_relation(synthetic_pairs(100 + r, relation), "loss", "y", relation,
                                     cuts=2, n_bootstrap=40, seed=r, min_fit=15)
            inside.append(cal.predictions["inside"].to_numpy())
    return float(np.concatenate(inside).mean())


def test_sigmoid_prediction_intervals_cover_on_known_truth():
    """Fit below a compute cut, predict above: ~95% of observed accuracies inside their
    interval (98% over 20 replicates x 40 draws; 6 x 40 here, ~100 correlated predictions)."""
    coverage = _coverage("sigmoid")
    assert 0.85 <= coverage <= 1.0, coverage


@pytest.mark.slow
def test_calibration_counts_runs_without_a_pair():
    """Runs with x but no y were left out of every cut without a word, as in predict downstream."""
    table = synthetic_pairs(7, "sigmoid")
    table.loc[[3, 11], "y"] = np.nan
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        cal = calibrate_relation(table, "loss", "y", "sigmoid", cuts=1, n_bootstrap=2,
                                 min_fit=15)
    assert "2 runs with loss have no y (left out of the pairs)" in cal.notes


def test_shifted_power_with_refitted_e_covers_on_known_truth():
    """The shifted power law with E_x, E_y refitted (Kaplan fits of the runs below each cut)
    per cut and per resample: 95% of ~100 held-out losses inside (measured 94.8%)."""
    coverage = _coverage("shifted-power")
    assert 0.85 <= coverage <= 1.0, coverage


def test_calibrate_relation_cli_json_text_and_report(tmp_path):
    data = tmp_path / "pairs.csv"
    synthetic_pairs(1, "sigmoid").rename(columns={"y": "acc"}).to_csv(data, index=False)
    args = ["calibrate", "sigmoid", "--data", str(data), "--x", "loss", "--y", "acc",
            "--cuts", "2", "--bootstrap", "20", "--min-fit", "15"]
    result = CliRunner().invoke(main, args + ["--json", "--out", str(tmp_path / "cal")])
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    assert doc["law"].startswith("sigmoid") and len(doc["cuts"]) == 2
    assert doc["observed"] == "accuracies" and doc["n_bootstrap"] == 20
    assert 0 <= doc["coverage"] <= 1 and doc["n_predictions"] == len(doc["predictions"])
    for name in ("report.md", "predictions.csv", "by_distance.csv", "calibration.png"):
        assert (tmp_path / "cal" / name).stat().st_size > 0
    text = CliRunner().invoke(main, args).stdout
    assert "prediction intervals" in text and "by distance" in text and "accuracies" in text
    for bad in (["--bootstrap", "1"], ["--y", "nope"]):
        out = CliRunner().invoke(main, args + bad)
        assert out.exit_code == 2, out.output
        assert len(out.output.strip().splitlines()) == 1, out.output
    help_text = CliRunner().invoke(main, ["calibrate", "--help"]).stdout
    assert "shifted-power" in help_text


def _check_shape(cal) -> None:
    """What holds on any table: cuts in compute order with growing fit sets, every prediction
    beyond the largest fitted run, coverages in [0, 1]."""
    cuts = cal.cuts
    assert list(cuts["cut_flops"]) == sorted(cuts["cut_flops"]) and len(cuts) >= 2
    assert list(cuts["n_fit"]) == sorted(cuts["n_fit"])
    assert (cal.predictions["distance"] >= 1).all()
    assert 0 <= cal.coverage <= 1
    assert cuts["coverage"].between(0, 1).all() and cal.by_distance["coverage"].between(0, 1).all()


def _near(cal, bins=("1-2x", "2-4x")) -> pd.DataFrame:
    return cal.predictions[cal.predictions["distance_bin"].isin(bins)]


def _print(tag, cal) -> None:
    print(f"\n{tag}: coverage {cal.coverage:.3f} of {len(cal.predictions)}\n"
          f"{cal.cuts[['cut_flops', 'n_fit', 'n_predicted', 'coverage']].to_string()}\n"
          f"{cal.by_distance.to_string()}\n{cal.notes[1:]}")


def test_loss2loss_sweep_and_its_3p3b_runs(anchors):
    """Brandfonbrener's sweep, FineWeb-Edu -> StarCoder val loss (train-to-train, E refitted
    per cut), the 3.3B runs at 1e21 FLOPs predicted at every cut. Near the data the intervals
    hold, and the 3.3B StarCoder run is predicted within 2.5% from the last cut (from an earlier
    one its FineWeb-Edu loss can lie below the fitted E_x: no prediction, and a note)."""
    root = anchors / "loss2loss"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        cal = calibrate_relation(pd.read_csv(root / "sweep.csv"), "val_loss", "val_loss",
                                 "shifted-power", pairing="train-to-train",
                                 x_from="fineweb-edu-100b", y_from="starcoder",
                                 targets=pd.read_csv(root / "extrapolation.csv"), cuts=3,
                                 n_bootstrap=50, source="sweep.csv")
    _print("loss2loss fineweb-edu -> starcoder", cal)
    _check_shape(cal)
    target = cal.predictions[cal.predictions["target"]]
    assert len(target) == len(cal.cuts)  # the 3.3B starcoder run, once per cut
    print(target[["cut_flops", "distance", "observed", "predicted", "pi95_lo", "pi95_hi",
                  "relative_error"]].to_string())
    assert (target["params"] > 3e9).all()
    assert _near(cal)["inside"].mean() >= 0.8
    # from the last cut (45x beyond the largest fitted run) within the paper's 20x error
    assert abs(target["relative_error"].iloc[-1]) < 0.025
    if target["predicted"].isna().any():  # its x below a cut's fitted E_x: said, not hidden
        assert any("undefined" in n for n in cal.notes)


def test_overtrain_exponential_error(anchors):
    """Gadre's RedPajama runs, top-1 error of the 17-task subset from C4 loss. Within 2x of
    the data the error is ~3%. The first cut's 9 runs (the smallest models, high loss) do not
    identify the law: its prediction intervals are wider than the predicted error itself,
    whichever bootstrap (median half-width over the error above 1; per distance bin up to
    thousands, bench/README.md). From 17 runs on the wild bootstrap's intervals hold the
    held-out errors (94-100% per cut; the pairs bootstrap, before: 67% at 17 runs, 54% over all
    cuts; bench/README.md) with half-widths of a few percent of the error (median)."""
    from tests.test_accuracy_anchors import GADRE_SUBSET
    models = pd.read_csv(anchors / "overtrain" / "overtrain_models_tidy.csv")
    models["err_avg_subset"] = 1 - models[[f"acc_{t}" for t in GADRE_SUBSET]].mean(axis=1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        cal = calibrate_relation(models, "loss_c4_val", "err_avg_subset", "exponential-error",
                                 group="dataset", x_from="rpj", n_bootstrap=50,
                                 source="overtrain_models_tidy.csv")
    _print("overtrain rpj", cal)
    _check_shape(cal)
    assert cal.cuts["n_fit"].min() >= 9  # 3 runs per parameter of the error law
    assert _near(cal, ("1-2x",))["relative_error"].abs().median() < 0.05
    preds = cal.predictions
    first = preds["cut_flops"] == cal.cuts["cut_flops"].iloc[0]
    assert cal.cuts["n_fit"].iloc[0] < 15
    # interval_half_width: the half-width over the predicted error
    assert preds.loc[first, "interval_half_width"].median() > 1  # not identified: said so
    later = preds[~first]
    assert later["inside"].mean() >= 0.9
    assert later["interval_half_width"].median() < 0.1


def test_ladder_sigmoid_hellaswag(anchors):
    """The OLMo ladder's step 2 (accuracy from task bpb) over its checkpoints, the 7B-4T and
    13B-5T models predicted at every cut: within 2x of the data the error is ~1.5%."""
    train, targets = ladder_checkpoints(anchors, "hellaswag_val")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        cal = calibrate_relation(train, "bpb", "acc", "sigmoid", targets=targets, cuts=3,
                                 n_bootstrap=30, source="ladder")
    _print("ladder hellaswag", cal)
    _check_shape(cal)
    assert cal.predictions["target"].sum() == 2 * len(cal.cuts)
    near = _near(cal, ("1-2x",))
    assert near["relative_error"].abs().median() < 0.05


def test_pythia_long_table_by_the_command(anchors):
    """`scalefit calibrate sigmoid` on Pythia's long table as it comes. Step-0 checkpoints are
    fitted, never cut at (every distance is defined). The intervals are too narrow far from
    the data: at >100x the largest fitted compute most observed accuracies lie outside."""
    path = anchors / "pythia" / "pythia_evals_core.csv"
    result = CliRunner().invoke(main, [
        "calibrate", "sigmoid", "--data", str(path), "--x", "lambada_openai:perplexity",
        "--y", "piqa:acc", "--subset", "eval_group=zero-shot", "--bootstrap", "30", "--json"])
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    preds = pd.DataFrame(doc["predictions"])
    print(f"\npythia piqa: coverage {doc['coverage']:.3f} of {len(preds)}\n"
          f"{pd.DataFrame(doc['cuts'])[['cut_flops', 'n_fit', 'coverage']].to_string()}\n"
          f"{pd.DataFrame(doc['by_distance']).to_string()}")
    assert np.isfinite(preds["distance"]).all() and (preds["distance"] >= 1).all()
    cuts = [c["cut_flops"] for c in doc["cuts"]]
    assert cuts == sorted(cuts) and 0 <= doc["coverage"] <= 1
    bins = {b["distance_bin"]: b["coverage"] for b in doc["by_distance"]}
    assert bins[">100x"] < 0.5 < bins["1-2x"]
