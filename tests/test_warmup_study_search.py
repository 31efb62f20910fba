"""warmup-study finds a statistic's warmup family from the runs' facts, without fitting every run
first: only the family's runs are searched for transitions, and the family is the one the fitted
summary gave."""
import pandas as pd

from scalefit.data import MINI_CHECKPOINTS, data_path
from scalefit.scaling.trajectories import transitions
from scalefit.scaling.trajectories.table import stat_trajectory
from scalefit.scaling.trajectories.transitions import detect_transitions, run_schedules, warmup_families
from scalefit.scaling.trajectories.warmup_study import study_row


def test_a_study_row_searches_only_its_familys_runs(monkeypatch):
    table = pd.read_parquet(data_path(*MINI_CHECKPOINTS))
    searched, real = [], transitions.find_transitions

    def counted(x, y, **settings):
        searched.append(len(x))
        return real(x, y, **settings)

    monkeypatch.setattr(transitions, "find_transitions", counted)
    row = study_row(table, "sv_max", "mlp_in", n_bootstrap=0)
    assert len(row["runs"].split(",")) == len(searched) == 4  # not the 12 long runs, then 4


def test_the_family_from_the_runs_facts_is_the_one_from_the_fitted_summary():
    table = pd.read_parquet(data_path(*MINI_CHECKPOINTS))
    for stat, group in [("t_nu", "attn_out"), ("max_abs", "embed_in")]:
        traj = stat_trajectory(table, stat, group=group)
        fitted = detect_transitions(traj, n_bootstrap=0)[1]
        facts = run_schedules(traj)
        assert warmup_families(facts) == warmup_families(fitted) != []
        pd.testing.assert_frame_equal(facts, fitted[list(facts.columns)])
        assert not {"n_transitions", "delta_bic", "error_rho"} & set(facts.columns)
