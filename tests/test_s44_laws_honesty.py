"""Three honesty fixes in the laws layer (s44): calibrate leaves out the cuts whose fit did not
converge (they were scored, their errors in the median and mean); an unidentified share's gap
interval is worded by one function for the JSON and the text (+.3g there, +.3f here); and
compare's frontier panels on two compute bases each draw their projections to their own budgets
(every panel ran to the largest budget of either basis)."""
from __future__ import annotations

import json
import warnings

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402
from click.testing import CliRunner  # noqa: E402

from scalefit.cli import main  # noqa: E402
from scalefit.scaling.laws import calibrate as calibrate_module  # noqa: E402
from scalefit.scaling.laws.calibrate import calibrate_law  # noqa: E402


def grid_runs(seed: int = 1) -> pd.DataFrame:
    """6 sizes x 5 token ratios of a Chinchilla law (E 1.8, A 480, B 2000, alpha 0.35, beta 0.37)
    with 0.5% lognormal scatter."""
    rng = np.random.default_rng(seed)
    N, tpp = np.meshgrid(np.geomspace(2e7, 3e9, 6), [5, 10, 20, 40, 80], indexing="ij")
    N, D = N.ravel(), (N * tpp).ravel()
    L = (1.8 + 480 / N ** 0.35 + 2000 / D ** 0.37) * np.exp(rng.normal(0, 0.005, N.size))
    return pd.DataFrame({"params": N, "tokens": D, "loss": L})


def runs_whose_low_cut_rises_with_tokens() -> pd.DataFrame:
    """grid_runs, but the 12 lowest-compute runs' loss rises with D (1e-3 D^0.1 in place of the D
    term): a fit of those and a few more ends with beta (and alpha) on a bound, its D term gone."""
    runs = grid_runs()
    N, D = runs["params"].to_numpy(), runs["tokens"].to_numpy()
    C = 6 * N * D
    low = C < np.unique(C)[12]
    runs.loc[low, "loss"] = 1.8 + 480 / N[low] ** 0.35 + 1e-3 * D[low] ** 0.1
    return runs


def test_a_cut_whose_fit_ends_on_a_bound_is_left_out_counted_and_said():
    """The cut at 1.06e+19 (16 runs) ends with exponents on their bounds: it was scored (0% of
    its predictions inside), its errors in the median and mean; now it is left out and said.
    (Since s45 the cuts of 10 and 23 runs, whose B term ends at ~1e-9 inside its bounds, are
    left out too: tests/test_s45_calibrate_terms.py.)"""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        cal = calibrate_law(runs_whose_low_cut_rises_with_tokens(), "chinchilla", cuts=4,
                            n_bootstrap=20, min_fit=10)
    assert len(cal.cuts) == 1 and len(cal.left_out) == 3  # 4 cuts, three left out
    out = cal.left_out[1]
    assert out["n_fit"] == 16 and "at its upper bound" in out["reason"]
    assert "the fit is not identified" in out["reason"]
    assert out["cut_flops"] not in set(cal.cuts["cut_flops"])
    assert out["cut_flops"] not in set(cal.predictions["cut_flops"])
    assert cal.coverage == cal.predictions["inside"].mean()
    note = next(n for n in cal.notes if "left out" in n)
    assert note.startswith("3 of 4 cuts left out: fit did not converge (cut ")
    assert f"cut {out['cut_flops']:.3g}, 16 runs fitted: parameter" in note
    doc = cal.to_dict()
    assert doc["cuts_left_out"] == cal.left_out and note in doc["notes"]
    json.dumps(doc, default=float)
    text = str(cal)
    assert "1 leave-future-out cut (3 more left out: fit did not converge)" in text
    assert f"note: {note}" in text


def test_a_cut_the_optimizer_did_not_finish_is_left_out(monkeypatch):
    """lmfit's success False (forced here on the lowest cut's fit) leaves that cut out."""
    real = calibrate_module.fit_law
    sizes = []

    def fit_law(train, *args, **kwargs):
        result = real(train, *args, **kwargs)
        sizes.append(len(train.L))
        if len(sizes) == 1:
            result.converged = False
        return result

    monkeypatch.setattr(calibrate_module, "fit_law", fit_law)
    cal = calibrate_law(grid_runs(), "chinchilla", cuts=3, n_bootstrap=4)
    assert list(cal.cuts["n_fit"]) == sizes[1:]  # the lowest cut is not scored
    assert [row["n_fit"] for row in cal.left_out] == [sizes[0]]
    assert cal.left_out[0]["reason"].startswith("the optimizer did not converge")
    assert any(n.startswith("1 of 3 cuts left out: fit did not converge") for n in cal.notes)


def test_every_cut_left_out_is_said_in_one_line_not_a_coverage_of_nan(tmp_path):
    """The 12 lowest runs fall as N^-4 (alpha's bound is 3): every cut's fit ends with alpha on
    its bound, so there is no prediction to score; the command says so (exit 2, one line)."""
    runs = grid_runs()
    N = runs["params"].to_numpy()
    C = 6 * N * runs["tokens"].to_numpy()
    low = C < np.unique(C)[12]
    runs.loc[low, "loss"] = 2 + 1e30 / N[low] ** 4 + 2000 / runs["tokens"].to_numpy()[low] ** 0.37
    data = tmp_path / "runs.csv"
    runs.to_csv(data, index=False)
    for extra in ([], ["--json"]):
        result = CliRunner().invoke(main, ["calibrate", "chinchilla", "--data", str(data),
                                           "--cuts", "3", "--bootstrap", "4", *extra])
        assert result.exit_code == 2, result.output
        assert not result.stdout  # no report, no JSON (the progress bars are stderr's)
        lines = [line for line in result.stderr.splitlines() if line.startswith("error:")]
        assert len(lines) == 1 and "nan" not in lines[0].lower()
        assert "no prediction to score: 3 of 3 cuts left out: fit did not converge" in lines[0]
        assert "alpha at its upper bound" in lines[0]


# --- 2. an unidentified share: the JSON's reason and the printed sentence in one wording ----------

def test_an_unidentified_shares_reason_is_printed_in_the_jsons_words():
    """A gap interval of about [-0.0004, +0.0012] (a loss gap's size): the JSON's reason wrote it
    +.3g, the text +.3f ('[-0.000, +0.001]', and 'the gap itself has an interval that includes
    0' for a); now both sentences carry the JSON's reason word for word."""
    from dataclasses import replace

    from scalefit.scaling.laws.schedule_gap import _share, schedule_gap, stated_share
    from scalefit.scaling.laws.schedule_gap_report import explain
    from tests.test_schedule_gap import synthetic_suite

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        gap = schedule_gap(*synthetic_suite(), n_bootstrap=0)
    rng = np.random.default_rng(0)
    n = 200
    den = rng.normal(0.0004, 0.0004, n)
    share = stated_share(_share(0.5 * den, den, 0.0002, 0.0004), n)
    lo, hi = share["gap_ci95"]
    assert lo < 0 < hi and f"{lo:+.3f}" in ("-0.000", "-0.001")  # +.3f loses it
    shares = {**gap.shares, "a": share, "loss_10x": share, "loss_100x": share}
    held = replace(gap, shares=shares, settings=dict(gap.settings, n_bootstrap=n))
    text = explain(held)
    said = [s for s in text if share["reason"] in s]
    assert len(said) == 2, text  # a's sentence and the 10x loss's
    from scalefit.scaling.interval_text import interval_text  # the interval's own precision
    assert interval_text(lo, hi, share["gap"], sign=True) in said[0]
    assert "gap itself" not in " ".join(text) and "share explained is not identified" not in " ".join(text)
    without = stated_share({**_share(0.5 * den, den, 0.0002, 0.0004), "gap_ci95": [np.nan, np.nan]}, n)
    held = replace(held, shares={**shares, "a": without, "loss_10x": without})
    assert sum(without["reason"] in s for s in explain(held)) == 2


# --- 3. compare on two compute bases: each frontier panel projects to its own budgets -------------

def test_each_frontier_panel_is_drawn_to_its_own_budgets(tmp_path, monkeypatch):
    """`compare isoflop chinchilla --params params_nonembed --out`: IsoFLOP's budgets are the flops
    column's, Chinchilla's Kaplan's C = 6 N_nonembed D (smaller here). The Kaplan-C panel drew
    its projection (and its x-axis) out to IsoFLOP's largest budget, past every budget of its
    own rows; now each panel ends at its own basis's largest budget."""
    from scalefit.scaling.laws import report
    from scalefit.scaling.laws.fit import FLOPS_COLUMN, KAPLAN_C
    from tests.test_s43_mixed_budgets import isoflop_runs_with_both_counts, kaplan_c

    runs = isoflop_runs_with_both_counts()
    data = tmp_path / "runs.csv"
    runs.to_csv(data, index=False)
    figures, real = {}, report.save_figure

    def save_figure(fig, out_dir, stem):
        figures[stem] = fig
        return real(fig, out_dir, stem)

    monkeypatch.setattr(report, "save_figure", save_figure)
    args = ["compare", "isoflop", "chinchilla", "--data", str(data), "--params", "params_nonembed",
            "--bootstrap", "0"]
    result = CliRunner().invoke(main, [*args, "--out", str(tmp_path / "cmp")])
    assert result.exit_code == 0, result.output
    rows = json.loads((tmp_path / "cmp" / "compare.json").read_text())["budgets"]
    fig = figures["frontiers"]
    assert len(fig.axes) == 2
    ends = []
    for ax, basis, compute in zip(fig.axes, (FLOPS_COLUMN, KAPLAN_C),
                                  (runs["flops"].to_numpy(float), kaplan_c(runs))):
        own = max([100 * compute.max(), *(row["flops"] for row in rows if row["compute"] == basis)])
        dashed = [line for line in ax.lines if line.get_linestyle() == "--" and len(line.get_xdata())]
        assert dashed and max(line.get_xdata().max() for line in dashed) == pytest.approx(own, rel=1e-9)
        assert ax.get_xlim()[1] < 2 * own  # the axis ends near its own budgets
        ends.append(own)
    assert ends[1] < 0.95 * ends[0]  # the Kaplan-C panel stops short of the flops-column budgets
    plt.close(fig)
