"""Brandfonbrener et al. 2024 on their own data (../shared/anchors/loss2loss; skipped when absent).

Train-to-train from FineWeb-Edu: the kappa, K and E of the paper's notebooks (as recomputed in
derived/, which reproduces the notebook's printed table) and the predictions for the held-out
3.3B models at 1e21 FLOPs (~20x the largest sweep budget) within the paper's error.
"""
from __future__ import annotations

import pandas as pd
import pytest

from scalefit.scaling.relations.downstream import run_downstream

X_FROM = "fineweb-edu-100b"


@pytest.fixture(scope="module")
def l2l(anchors):
    root = anchors / "loss2loss"
    return {"sweep": pd.read_csv(root / "sweep.csv"),
            "targets": pd.read_csv(root / "extrapolation.csv"),
            "train": pd.read_csv(root / "derived" / "recomputed_train_to_train_extrap_1e21.csv"),
            "test": pd.read_csv(root / "derived" / "recomputed_train_to_test_extrap_1e21.csv"),
            "kaplan": pd.read_csv(root / "opt_params_data.csv")}


@pytest.mark.parametrize("y_from", ["fineweb-100b", "proof-pile-2", "starcoder"])
def test_train_to_train_reproduces_kappa_k_and_20x_extrapolation(l2l, y_from):
    out = run_downstream(l2l["sweep"], "val_loss", "val_loss", pairing="train-to-train",
                         x_from=X_FROM, y_from=y_from, targets=l2l["targets"],
                         n_bootstrap=200, source="sweep.csv").to_dict()
    ref = l2l["train"].query("d0 == @X_FROM and d1 == @y_from").iloc[0]
    p = {k: v["value"] for k, v in out["params"].items()}
    assert out["n_points"] == ref["n"]
    assert p["kappa"] == pytest.approx(ref["kappa"], rel=1e-4)
    assert p["K"] == pytest.approx(ref["K"], rel=1e-4)
    assert p["E_x"] == pytest.approx(ref["E0"], rel=1e-4)
    assert p["E_y"] == pytest.approx(ref["E1"], rel=1e-4)
    # E is the irreducible term of the paper's own per-dataset Kaplan fits
    kap = l2l["kaplan"].query("kaplan and loss_name == 'val_loss'").set_index("data")["E"]
    assert p["E_y"] == pytest.approx(kap[y_from], rel=1e-4)
    lo, hi = out["params"]["kappa"]["ci95"]
    # the interval carries E's uncertainty (both Kaplan fits refitted per resample): 0.16 wide
    # for fineweb-100b, 0.32 for starcoder on ~90 runs per dataset, where holding E fixed gave
    # under 0.1
    assert lo < p["kappa"] < hi and hi - lo < 0.4
    for e in ("E_x", "E_y"):
        e_lo, e_hi = out["params"][e]["ci95"]
        assert e_lo < p[e] < e_hi

    held = out["holdout"]
    assert held["n"] == 1  # the 3.3B model trained on y_from, paired with the FineWeb-Edu one
    point = held["points"][0]
    assert point["params"] == pytest.approx(3.31e9, rel=0.01)
    assert point["predicted"] == pytest.approx(ref["pred"], rel=1e-4)
    assert abs(point["relative_error"]) < 0.025  # the paper's 20x error: max 2.07% of 30 pairs
    # ... and better than a Kaplan law fitted to the target loss alone (the paper's point)
    assert abs(point["relative_error"]) < abs(point["baseline_relative_error"])
    base = l2l["kaplan"].query("kaplan and loss_name == 'val_loss' and data == @y_from")
    assert point["baseline_predicted"] == pytest.approx(base["extrap_pred"].iloc[0], rel=2e-3)


def test_train_to_test_downstream_ce_loss(l2l):
    column = "eval/downstream_ce_loss/hellaswag_test_ce_loss"
    sweep = l2l["sweep"]
    out = run_downstream(sweep, "val_loss", column, pairing="train-to-test", x_from=X_FROM,
                         targets=l2l["targets"], n_bootstrap=0, source="sweep.csv").to_dict()
    ref = l2l["test"].query("train == @X_FROM and test == 'hellaswag_test_ce_loss'").iloc[0]
    assert out["params"]["kappa"]["value"] == pytest.approx(ref["kappa"], rel=1e-3)
    assert out["params"]["K"]["value"] == pytest.approx(ref["K"], rel=1e-3)
    point = out["holdout"]["points"][0]
    assert point["predicted"] == pytest.approx(ref["pred"], rel=1e-3)
    assert abs(point["relative_error"]) < 0.05
