"""`scalefit predict run` works for every registered law of a run's final loss: the data-constrained
law (muennighoff) reads the run's unique tokens (--unique-tokens, required there: no default;
refused for the other laws); it refused muennighoff outright."""
from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from scalefit.cli import main
from scalefit.errors import InputError
from scalefit.scaling.laws.muennighoff import data_constrained
from scalefit.scaling.laws.registry import REGISTRY, law_for

sys.path.insert(0, str(Path(__file__).parent))
from test_muennighoff import CHIN, repeated_runs  # noqa: E402

TRUTH = dict(CHIN, R_D_star=15.0, R_N_star=5.0)
POINTS = ([1e9, 1e9, 3e8], [1e11, 4e10, 6.4e10], [2.5e10, 4e10, 1e9])  # N, D, U_D: 4x, 1x, 64x repeated


@pytest.fixture(scope="module")
def fitted():
    from scalefit.scaling.laws.fit import fit_law
    from scalefit.scaling.laws.runtable import validate_runs
    table = validate_runs(repeated_runs(TRUTH), "muennighoff")
    return fit_law(table, "muennighoff", n_bootstrap=40, seed=0, all_runs=table), table


def test_predict_run_reads_unique_tokens(fitted):
    from scalefit.scaling.laws.run_prediction import predict_run
    result, table = fitted
    N, D, U = (np.array(x) for x in POINTS)
    frame = predict_run(result, N, D, unique_tokens=U, table=table)
    by_hand = data_constrained(N, D, U, **{k: result.values()[k] for k in TRUTH})
    assert frame["loss"].to_numpy() == pytest.approx(by_hand, rel=1e-12)
    assert frame["unique_tokens"].tolist() == U.tolist()
    assert ((frame["loss_pi95_lo"] <= frame["loss_ci95_lo"]) & (frame["loss_ci95_hi"] <= frame["loss_pi95_hi"])).all()
    # repetition is read: the same N and D with every token unique predict a lower loss
    unique = predict_run(result, N, D, unique_tokens=D, table=table)
    assert (unique["loss"].to_numpy()[[0, 2]] < frame["loss"].to_numpy()[[0, 2]]).all()


def test_curve_interval_covers_the_truth():
    """The curve's 95% interval at four runs (1x to 64x repeated, one with excess parameters)
    holds the true law's loss over 12 simulated run tables (measured 90% of 48 with 40 draws per
    fit: a rough interval, and the four points of a table are not independent)."""
    from scalefit.scaling.laws.fit import fit_law
    from scalefit.scaling.laws.run_prediction import predict_run
    from scalefit.scaling.laws.runtable import validate_runs
    N, D, U = (np.array(x) for x in ([1e9, 1e9, 3e8, 1e9], [1e11, 4e10, 6.4e10, 8e10],
                                     [2.5e10, 4e10, 1e9, 1e10]))
    truth = data_constrained(N, D, U, **TRUTH)
    hits = []
    for seed in range(20, 32):
        table = validate_runs(repeated_runs(TRUTH, seed=seed), "muennighoff")
        result = fit_law(table, "muennighoff", n_bootstrap=40, seed=seed, all_runs=table)
        frame = predict_run(result, N, D, unique_tokens=U, table=table)
        hits += ((frame["loss_ci95_lo"] <= truth) & (truth <= frame["loss_ci95_hi"])).tolist()
    assert np.mean(hits) >= 0.8, np.mean(hits)


def test_unique_tokens_required_for_muennighoff_refused_elsewhere(fitted):
    from scalefit.scaling.laws.run_prediction import checked_unique_tokens, predict_run
    result, table = fitted
    with pytest.raises(InputError, match="unique_tokens: required for law muennighoff"):
        predict_run(result, 1e9, 1e11, table=table)
    with pytest.raises(InputError, match="above the run's 1e\\+11 tokens"):
        predict_run(result, 1e9, 1e11, unique_tokens=2e11, table=table)
    with pytest.raises(InputError, match="law chinchilla reads no unique tokens"):
        checked_unique_tokens("chinchilla", 1e10)
    # every registered law of a run's final loss is predictable now
    from scalefit.scaling.laws.run_prediction import predictable
    for name in REGISTRY:
        law = law_for(name)
        if law.predicts_loss and not law.reads_checkpoints:
            predictable(name)


def test_command(tmp_path):
    data = tmp_path / "repeated.csv"
    repeated_runs(TRUTH).to_csv(data, index=False)
    runner = CliRunner()
    args = ["predict", "run", "muennighoff", "--data", str(data), "--bootstrap", "10", "--N", "1e9",
            "--D", "1e11,4e10"]
    done = runner.invoke(main, args + ["--unique-tokens", "2.5e10,4e10", "--json", "--out", str(tmp_path / "o")])
    assert done.exit_code == 0, done.output
    doc = json.loads(done.stdout)
    assert [r["unique_tokens"] for r in doc["runs"]] == [2.5e10, 4e10]
    assert "unique_tokens" in (tmp_path / "o" / "predictions.csv").read_text().splitlines()[0].split(",")
    for extra, words in (([], "--unique-tokens: required for law muennighoff"),
                         (["--unique-tokens", "1e10,2e10,3e10"], "gives 3 values for 2 runs")):
        done = runner.invoke(main, args + extra)
        assert done.exit_code == 2 and words in done.output, done.output
    done = runner.invoke(main, ["predict", "run", "chinchilla", "--N", "1e9", "--D", "1e11",
                                "--unique-tokens", "1e10", "--bootstrap", "0"])
    assert done.exit_code == 2 and "law chinchilla reads no unique tokens" in done.output
    assert "Traceback" not in done.output
    assert "no default" in runner.invoke(main, ["predict", "run", "--help"]).output
