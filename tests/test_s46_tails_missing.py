"""init_study.tails: an init whose start is missing (NaN) has no ratio to judge, so it is not far."""
import numpy as np
import pandas as pd

from scalefit.scaling.trajectories.init_study import FAR_FACTOR, tails


def _shapes(family_start: float) -> pd.DataFrame:
    """One size and warmup: the source (start 3, Gaussian 0 on embed_out; 0.01 on mlp_in, too
    near the Gaussian to judge), empirical starting with the source's law and family at
    ``family_start`` on embed_out."""
    rows = []
    for init, embed_out in (("source", 3.0), ("empirical", 2.9), ("family", family_start)):
        rows += [{"size": "tiny", "init": init, "warmup": "warmup", "group": "embed_out",
                  "start": embed_out, "gaussian": 0.0},
                 {"size": "tiny", "init": init, "warmup": "warmup", "group": "mlp_in",
                  "start": 0.01, "gaussian": 0.0}]
    return pd.DataFrame(rows)


def test_a_missing_start_is_not_far():
    t = tails(_shapes(np.nan)).set_index(["init", "group"])
    assert np.isnan(t.at[("family", "embed_out"), "ratio"])
    assert not t["far"].any()


def test_a_start_beyond_the_factor_is_far_and_one_within_is_not():
    far = tails(_shapes(3.0 * FAR_FACTOR * 1.5)).set_index(["init", "group"])["far"]
    assert far[("family", "embed_out")] and not far[("empirical", "embed_out")]
    near = tails(_shapes(3.0 * FAR_FACTOR * 0.9)).set_index(["init", "group"])["far"]
    assert not near.any()
