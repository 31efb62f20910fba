"""reconcile's report folder: the walk's plot and reconcile.md."""
from __future__ import annotations

import numpy as np


def test_the_walk_plot_draws_an_interval_that_leaves_out_its_estimate():
    """A few resamples' percentiles can leave a outside its interval: the plot's yerr from a
    went negative and matplotlib refused it (reconcile --bootstrap 4 --out ended in a traceback)."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from scalefit.scaling.laws.reconcile import Reconciliation, Step
    from scalefit.scaling.laws.reconcile_cli import plot_walk
    steps = [Step(panel="", condition="a", n_runs=9, a=0.50, a_lo=0.52, a_hi=0.60),
             Step(panel="", condition="b", n_runs=9, a=0.40, a_lo=0.35, a_hi=0.45)]
    rec = Reconciliation(by="condition", panel=[], law="isoflop", method="akima", n_bootstrap=4,
                         seed=0, steps=steps, moves=[], findings=[])
    fig = plot_walk(rec)
    ax = fig.axes[0]
    bars = [seg for coll in ax.collections for seg in coll.get_segments()]
    spans = sorted((float(seg[0][1]), float(seg[1][1])) for seg in bars)
    np.testing.assert_allclose(spans, [(0.35, 0.45), (0.52, 0.60)], rtol=1e-12)
    points = [line for line in ax.lines if line.get_marker() == "o"]
    assert list(points[0].get_ydata()) == [0.50, 0.40]
    plt.close(fig)
