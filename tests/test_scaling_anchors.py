"""Real published data: Besiroglu et al. 2024's Chinchilla replication and Porian et al. 2024's
IsoFLOP exponents (skipped when ../shared/anchors is absent)."""
from __future__ import annotations

import pandas as pd
import pytest

from scalefit.scaling.laws.fit import fit_law
from scalefit.scaling.laws.published import published_laws


def epoch_runs(anchors):
    """Epoch's 245 points minus the 5 highest losses (240); D = C / (6N)."""
    df = pd.read_csv(anchors / "scaling" / "epoch_chinchilla_svg_extracted_data.csv")
    df = df[df["loss"] < df["loss"].nlargest(5).min()]
    return pd.DataFrame({"params": df["Model Size"], "flops": df["Training FLOP"],
                         "loss": df["loss"]})


def test_chinchilla_reproduces_besiroglu(anchors):
    runs = epoch_runs(anchors)
    assert len(runs) == 240
    ref = published_laws()["besiroglu2024"]
    result = fit_law(runs, "chinchilla", n_bootstrap=200, seed=0)
    v = result.values()
    assert result.converged and result.extra["n_starts_at_best"] >= 2
    assert v["E"] == pytest.approx(ref["E"], abs=0.01)
    assert v["alpha"] == pytest.approx(ref["alpha"], abs=0.003)
    assert v["beta"] == pytest.approx(ref["beta"], abs=0.003)
    assert v["A"] == pytest.approx(ref["A"], rel=0.05)
    assert v["B"] == pytest.approx(ref["B"], rel=0.05)
    assert result.extra["allocation"]["a"] == pytest.approx(ref["a"], abs=0.003)
    # their bootstrap standard errors (4000 resamples) vs ours (200): same size within 2x
    for name, theirs in ref["stderr"].items():
        mine = result.extra["allocation"]["a_stderr"] if name == "a" else result.params[name].bootstrap_stderr
        assert 0.5 < mine / theirs < 2.0, (name, mine, theirs)
    for name in ("E", "A", "B", "alpha", "beta"):
        lo, hi = result.params[name].ci95
        assert lo < ref[name] < hi


def test_isoflop_reproduces_porian_exponents(anchors):
    folder = anchors / "scaling" / "porian"
    points = pd.read_csv(folder / "porian_isoflop_points.csv")
    summary = pd.read_csv(folder / "porian_fit_summary.csv")
    checked = 0
    for (source, label), group in points.groupby(["source_file", "label"], sort=False):
        row = summary[(summary.source_file == source) & (summary.label == label)].iloc[0]
        runs = group.rename(columns={"n": "params"})[["params", "tokens", "flops", "loss"]]
        result = fit_law(runs, "isoflop", isoflop_method="akima", n_bootstrap=0)
        assert row.a_ci95_lo <= result.value("a") <= row.a_ci95_hi, (source, label)
        checked += 1
    assert checked == len(summary) == 15
