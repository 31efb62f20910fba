"""t_xi = 1/t_nu, the Student-t tail index, derived from a table's t_nu rows when read
(scalefit.derived_stats): usable wherever a statistic of a table is, and nu's cap is a value (1e-4)."""
import json

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from scalefit.cli import main
from scalefit.derived_stats import DERIVED_STATS, with_derived
from scalefit.errors import InputError
from scalefit.scaling.trajectories.table import stat_trajectory

ONSET = 300  # the step at which the planted run's tails start growing


def capped_run_table(seed: int = 0, model: str = "run", onset: float = ONSET,
                     warmup: int = 20) -> pd.DataFrame:
    """One run whose xi = 1/nu is 1e-4 (nu at its cap 1e4) until ``onset``, then rises linearly in
    log10(step): the transition is in xi, and every checkpoint before it has nu at the cap."""
    rng = np.random.default_rng(seed)
    steps = np.unique(np.geomspace(2, 3000, 70).round()).astype(int)
    xi = 1e-4 + np.maximum(0.0, np.log10(steps / onset)) * 0.2 + rng.normal(0, 0.003, len(steps))
    xi = np.where(steps <= onset, 1e-4, np.maximum(xi, 1e-4))
    nu = np.minimum(1.0 / xi, 1e4)
    return pd.DataFrame({"model": model, "step": steps, "tensor": "*", "group": "attn_out",
                         "layer": np.nan, "stat": "t_nu", "value": nu,
                         "lr": 1e-3, "tokens": steps * 1000.0, "warmup_steps": warmup,
                         "total_steps": 3000, "params": 1e6, "lr_peak": 1e-3})


def test_t_xi_is_one_over_t_nu_with_nothing_left_out():
    table = capped_run_table()
    xi = stat_trajectory(table, "t_xi", group="attn_out")
    nu = stat_trajectory(table, "t_nu", group="attn_out")
    assert len(xi) == len(table) and not xi.attrs.get("at_bound")  # the cap is xi = 1e-4, a value
    assert len(nu) < len(xi) and nu.attrs["at_bound"][0]["n_at_bound"] > 10
    np.testing.assert_array_equal(xi["value"].to_numpy(), 1.0 / table["value"].to_numpy())
    assert xi["value"].min() == pytest.approx(1e-4)


def test_transitions_recovers_a_transition_planted_in_one_over_nu(tmp_path):
    """With every checkpoint before the onset at nu's cap, t_nu leaves them out and cannot place
    the onset; t_xi finds it within 5%, its interval within 30% of the planted step (the flat
    stretch at the cap has no noise, so the interval is narrow)."""
    path = tmp_path / "w.parquet"
    capped_run_table().to_parquet(path)
    runner = CliRunner()
    args = ["transitions", "--group", "attn_out", "--data", str(path), "--bootstrap", "50", "--json"]
    xi = runner.invoke(main, args + ["--stat", "t_xi"])
    assert xi.exit_code == 0, xi.output
    found = json.loads(xi.stdout)["transitions"]
    assert found, xi.stdout
    first = min(found, key=lambda t: t["step"])
    assert abs(np.log10(first["step"] / ONSET)) < 0.02, first  # within 5%
    assert ONSET / 1.3 < first["step_ci95_lo"] <= first["step_ci95_hi"] < 1.3 * ONSET, first
    assert "left out" not in xi.stderr
    nu = runner.invoke(main, args + ["--stat", "t_nu"])
    assert nu.exit_code == 0, nu.output
    assert "left out" in nu.stderr  # the checkpoints before the onset: nu at its cap
    assert all(t["step"] > 1.2 * ONSET for t in json.loads(nu.stdout)["transitions"])


def test_t_xi_in_trajectory_warmup_study_and_weights_plot(tmp_path):
    """Each command that takes a table's statistic takes t_xi."""
    table = capped_run_table()
    losses = table[["model", "step"]].assign(dataset="train-val", metric="loss",
                                             value=3 + 5 * (table["step"] + 10) ** -0.3)
    path = tmp_path / "w.parquet"
    pd.concat([table, losses], ignore_index=True).to_parquet(path)
    runner = CliRunner()
    traj = runner.invoke(main, ["trajectory", "--stat", "t_xi", "--group", "attn_out", "--data",
                                str(path), "--json"])
    assert traj.exit_code == 0, traj.output
    assert json.loads(traj.stdout)["stat"] == "t_xi / attn_out"
    family = tmp_path / "family.parquet"  # three runs differing only in warmup; onset = 200 + W
    pd.concat([capped_run_table(i, f"W{w}", 200 + w, w) for i, w in enumerate((20, 100, 400))],
              ignore_index=True).to_parquet(family)
    study = runner.invoke(main, ["warmup-study", "--panel", "t_xi/attn_out", "--data", str(family),
                                 "--bootstrap", "0", "--json"])
    assert study.exit_code == 0, study.output
    row, = json.loads(study.stdout)["rows"]
    onsets = [float(s) for s in row["first_steps"].split(",")]
    np.testing.assert_allclose(onsets, [220, 300, 600], rtol=0.05)
    plot = runner.invoke(main, ["weights", "plot", "--stat", "t_xi", "--data", str(path), "--out",
                                str(tmp_path / "plots")])
    assert plot.exit_code == 0, plot.output
    assert (tmp_path / "plots" / "t_xi_vs_step.png").exists()


def test_one_registry_names_t_xi():
    """The readers, the stat-name check and a misspelling's suggestion read one definition."""
    pytest.importorskip("torch")
    from scalefit.sweep.weights import check_stat_names

    assert DERIVED_STATS["t_xi"].source == "t_nu"
    check_stat_names(["t_xi"], "--stat")  # `weights --stat t_xi`: known, as t_nu is
    with pytest.raises(InputError, match="t_xi"):
        stat_trajectory(capped_run_table(), "t_xj", group="attn_out")
    rows = with_derived(capped_run_table(), ["t_xi"])
    assert set(rows["stat"]) == {"t_nu", "t_xi"}
    assert with_derived(capped_run_table(), ["t_nu"]).equals(capped_run_table())


def test_help_texts_name_t_xi():
    runner = CliRunner()
    for command in (["transitions"], ["trajectory"], ["warmup-study"], ["weights", "plot"]):
        result = runner.invoke(main, [*command, "--help"])
        assert "t_xi" in result.output, command
