"""What compare and fit state, audited: (1) a prediction interval beyond the fitted sizes drew the
runs' scatter from a variance model carried past them (Chinchilla's log sd -0.80 per log N on the
shipped grid, 12x past its largest run, predicted almost no scatter: loss_pi95 = loss_ci95 at
its low end); beyond the runs the scale is now no smaller than at the nearest fitted size.
(2) The JSON states its loss unit and the level of intervals named without one. (3) The header's
largest fitted compute is one per compute basis where the rows use two."""
from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from scalefit.cli import main
from scalefit.options import apply_column_mapping
from scalefit.scaling.laws import projection
from scalefit.scaling.laws.compare import compare_laws
from scalefit.scaling.laws.fit import fit_law
from scalefit.scaling.laws.forms import chinchilla
from scalefit.scaling.laws.report import compare_text
from scalefit.scaling.laws.scatter import SIZED, fit_scatter

BEYOND = "no smaller than at the nearest fitted size"  # scatter.BEYOND, as the JSON says it


def falling_scatter_runs(slope: float = -0.5, seed: int = 5) -> pd.DataFrame:
    """30 Chinchilla runs (6 sizes x 5 token ratios) whose log noise sd goes as N^slope."""
    grid_n, tpp = np.meshgrid(np.geomspace(2e7, 3e9, 6), [5, 10, 20, 40, 80], indexing="ij")
    N, D = grid_n.ravel(), (grid_n * tpp).ravel()
    sd = 0.03 * (N / np.exp(np.mean(np.log(N)))) ** slope
    L = chinchilla(N, D, 1.8, 480.0, 2000.0, 0.35, 0.37) * np.exp(
        sd * np.random.default_rng(seed).standard_normal(N.size))
    return pd.DataFrame({"params": N, "tokens": D, "loss": L})


def test_scatter_beyond_the_fitted_sizes_is_no_smaller_than_at_the_nearest():
    """A falling trend is not carried past the runs (old: 10x past the largest drew
    10^-0.5 of its scatter); a rising one is, and inside the runs nothing changes."""
    rng = np.random.default_rng(0)
    x = np.log(np.repeat(np.geomspace(1e7, 1e9, 6), 40))
    for slope in (-0.5, 0.5):
        resid = 0.02 * np.exp(slope * (x - x.mean())) * rng.standard_normal(x.size)
        scatter = fit_scatter(resid, x, 5)
        assert scatter.model == SIZED
        targets = [x.min(), x.max(), x.max() + np.log(10), x.min() - np.log(10)]
        sd = np.std(scatter.draw(np.random.default_rng(1), (4000, 4), targets,
                                 slope_rng=np.random.default_rng(2)), axis=0)
        if slope < 0:  # falls with N: 10x above the largest, the largest's scale
            assert sd[2] == pytest.approx(sd[1], rel=0.1)
            assert sd[3] > 1.5 * sd[0]  # below the smallest it grows on
        else:
            assert sd[2] > 1.5 * sd[1]
            assert sd[3] == pytest.approx(sd[0], rel=0.1)
        assert scatter.x_range == (x.min(), x.max())
        assert scatter.describe()["beyond_fitted_N"] == BEYOND
        assert scatter.describe()["fitted_N_range"] == pytest.approx([1e7, 1e9])


def test_prediction_interval_beyond_the_runs_keeps_the_largest_runs_scatter():
    """Without bootstrap draws an interval is the scatter alone: 10x past the largest run it is
    at least about as wide as at the largest (old: about 10^-0.5 of it)."""
    runs = falling_scatter_runs()
    fit = fit_law(runs, "chinchilla", n_bootstrap=0, budgets=[])
    n_max = runs["params"].max()
    pi = projection.prediction_intervals(fit, [n_max, 10 * n_max], [20 * n_max, 200 * n_max])
    assert pi["pi95_scatter"]["slope_log_sd_per_log_N"] < -0.2
    widths = np.log(np.asarray(pi["pi95_hi"]) / np.asarray(pi["pi95_lo"]))
    assert widths[1] > 0.95 * widths[0]  # old: about 10^-0.5 of it
    assert fit.extra["loss_unit"] == "nats/token"


@pytest.fixture(scope="module")
def shipped_compare():
    result = CliRunner().invoke(main, ["compare", "kaplan", "chinchilla", "--bootstrap", "100",
                                       "--json"])
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def test_compare_states_the_scatter_rule_the_unit_and_holds_the_curve(shipped_compare):
    doc = shipped_compare
    assert doc["loss_unit"] == "nats/token"
    assert all(f["loss_unit"] == "nats/token" for f in doc["fits"].values())
    scatter = doc["fits"]["chinchilla"]["allocation"]["pi95_scatter"]
    lo, hi = scatter["fitted_N_range"]
    line = next(x for x in compare_text(doc).splitlines() if x.startswith("the runs' scatter"))
    assert f"beyond the fitted runs' N, {lo:.2g} to {hi:.2g}, {BEYOND}" in line
    for row in doc["budgets"]:
        for law in ("kaplan", "chinchilla"):
            (pi_lo, pi_hi), (ci_lo, ci_hi) = row[f"{law}_loss_pi95"], row[f"{law}_loss_ci95"]
            assert pi_lo <= ci_lo and ci_hi <= pi_hi  # at least as wide as the curve's


def test_fit_json_states_its_loss_unit():
    result = CliRunner().invoke(main, ["fit", "chinchilla", "--bootstrap", "0", "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["loss_unit"] == "nats/token"


def test_reconcile_json_states_its_intervals_level():
    from scalefit.scaling.laws.reconcile import INTERVAL_LEVEL, Reconciliation
    rec = Reconciliation(by="x", panel=[], law="isoflop", method="m", n_bootstrap=0, seed=0,
                         steps=[], moves=[], findings=[])
    assert rec.to_dict()["interval_level"] == INTERVAL_LEVEL == 95.0


def test_warmup_study_rows_state_their_intervals_level():
    """first_lo/_hi, largest_lo/_hi: 95% intervals, in transitions' convention (percent)."""
    from scalefit.data import MINI_CHECKPOINTS, data_path
    from scalefit.scaling.trajectories.transitions import INTERVAL_CONFIDENCE
    from scalefit.scaling.trajectories.warmup_study import study_row
    row = study_row(pd.read_parquet(data_path(*MINI_CHECKPOINTS)), "sv_max", "mlp_in", n_bootstrap=0)
    assert "first_lo" in row and row["interval_level"] == INTERVAL_CONFIDENCE == 95.0


def test_header_gives_the_largest_compute_of_each_basis():
    from tests.test_s43_mixed_budgets import isoflop_runs_with_both_counts, kaplan_c
    runs = isoflop_runs_with_both_counts()
    mixed = compare_laws(apply_column_mapping(runs, {"params": "params_nonembed"}, "t"),
                         ["isoflop", "chinchilla"], n_bootstrap=0)
    head = compare_text(mixed.to_dict()).splitlines()[0]
    for basis in mixed.to_dict()["compute_bases"]:
        assert f"{basis['largest_fitted_flops']:.3g} FLOPs as C = {basis['compute']}" in head
    assert f"{kaplan_c(runs).max():.3g}" in head and f"{runs['flops'].max():.3g}" in head
    one = compare_laws(runs, ["isoflop", "chinchilla"], n_bootstrap=0)  # one basis: as before
    assert compare_text(one.to_dict()).splitlines()[0].endswith(
        f"largest fitted compute {runs['flops'].max():.3g} FLOPs)")
