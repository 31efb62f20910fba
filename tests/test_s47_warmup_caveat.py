"""`scalefit warmup-study --bootstrap 50` said nothing of what fewer resamples than the interval
level was chosen with cost, while `transitions --bootstrap 50` says 'The level was chosen with 200
resamples; with 50 ... use --bootstrap 200 or more for figures to quote'. warmup-study's text and
report.md now say the same sentence (transitions.interval_caveat's, not a copy) for
0 < --bootstrap < CALIBRATION_RESAMPLES, and nothing where there are no intervals or enough draws."""
from __future__ import annotations

import pandas as pd
import pytest
from click.testing import CliRunner

from scalefit.cli import main
from scalefit.scaling.trajectories.breakpoint_intervals import CALIBRATION_RESAMPLES, INTERVAL_METHOD
from scalefit.scaling.trajectories.transitions import interval_caveat
from tests.test_trajectory_inputs import long_table


@pytest.fixture(scope="module")
def checkpoints(tmp_path_factory):
    path = tmp_path_factory.mktemp("table") / "t.parquet"
    long_table().to_parquet(path)
    return path


def transitions_few_resamples_words(n_bootstrap: int) -> str:
    """What `scalefit transitions --bootstrap N` adds to its interval caveat for N resamples."""
    full, enough = interval_caveat(INTERVAL_METHOD, n_bootstrap), interval_caveat(INTERVAL_METHOD)
    assert full.startswith(enough)
    return full[len(enough):].strip()


def _warmup_study(checkpoints, out, n_bootstrap: int):
    result = CliRunner().invoke(main, ["warmup-study", "--data", str(checkpoints), "--panel",
                                       "t_nu/mlp_in", "--bootstrap", str(n_bootstrap), "--jobs", "1",
                                       "--out", str(out)])
    assert result.exit_code == 0, result.output
    return result.stdout, (out / "report.md").read_text()


def test_few_resamples_get_transitions_caveat_in_text_and_report(checkpoints, tmp_path):
    words = transitions_few_resamples_words(5)
    assert "with 5 " in words and f"--bootstrap {CALIBRATION_RESAMPLES} or more" in words
    text, report = _warmup_study(checkpoints, tmp_path / "out", 5)
    caption = text.splitlines()[0]
    assert caption.endswith(f"calibrated on synthetic runs. {words}"), caption
    assert f"{caption}\n" in report
    assert len(pd.read_csv(tmp_path / "out" / "warmup_transitions.csv")) == 1


@pytest.mark.parametrize("n_bootstrap", [0, CALIBRATION_RESAMPLES])
def test_no_caveat_without_intervals_or_with_enough_resamples(checkpoints, tmp_path, n_bootstrap):
    assert transitions_few_resamples_words(n_bootstrap) == ""
    text, report = _warmup_study(checkpoints, tmp_path / "out", n_bootstrap)
    assert "The level was chosen with" not in text and "The level was chosen with" not in report
