"""The reconciliation walk (Porian et al. 2024) and the batched bootstrap refits it relies on."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from scalefit.scaling.laws.bootstrap import bootstrap_law
from scalefit.scaling.laws.fit import fit_law
from scalefit.scaling.laws.registry import law_for
from scalefit.scaling.laws.runtable import as_run_table


def chinchilla_runs(seed=0, noise=0.004):
    """A small grid of runs from a known Chinchilla law with log-normal noise."""
    rng = np.random.default_rng(seed)
    N = np.repeat(np.geomspace(2e7, 2e9, 5), 4)
    D = N * np.tile([5.0, 12.0, 30.0, 80.0], 5)
    L = 1.8 + 400.0 / N ** 0.34 + 410.0 / D ** 0.28
    return pd.DataFrame({"params": N, "tokens": D, "flops": 6 * N * D,
                         "loss": L * np.exp(rng.normal(0, noise, N.size))})


@pytest.mark.parametrize("law", ["chinchilla", "kaplan"])
def test_batched_bootstrap_gives_the_reference_draws(law):
    """Every resample refitted at once lands where the one-at-a-time refit lands."""
    runs = chinchilla_runs()
    result = fit_law(runs, law, n_bootstrap=0)
    model = law_for(law)
    table = as_run_table(runs, model.law_name)
    indep = table.variables(model.needs)
    kw = dict(n_bootstrap=60, seed=3)
    fast = bootstrap_law(model, result.model_result.params, indep, table.L, **kw)
    ref = bootstrap_law(model, result.model_result.params, indep, table.L, batched=False, **kw)
    assert fast["n_failed"] == ref["n_failed"]
    agree = np.isclose(fast["a"], ref["a"], rtol=1e-4, equal_nan=True)
    # a resample whose Huber objective has two basins may end in the other one: allow 1 in 20
    assert agree.mean() >= 0.95, np.flatnonzero(~agree)
    for name in ref["params"]:
        same = np.isclose(fast["params"][name], ref["params"][name], rtol=1e-3, equal_nan=True)
        assert same.mean() >= 0.95, (name, np.flatnonzero(~same))


# --- the reconciliation walk -----------------------------------------------------------------

def isoflop_grid(alpha, beta, condition, seed, E=1.7, A=400.0, B=410.0, noise=0.002):
    """IsoFLOP runs of a known Chinchilla law: a = beta / (alpha + beta) (Hoffmann eq. 4)."""
    rng = np.random.default_rng(seed)
    rows = []
    a = beta / (alpha + beta)
    G = (alpha * A / (beta * B)) ** (1 / (alpha + beta))
    for C in np.geomspace(1e17, 1e20, 7):
        n_star = G * (C / 6) ** a
        for N in n_star * np.geomspace(1 / 6, 6, 9):
            D = C / (6 * N)
            L = E + A / N ** alpha + B / D ** beta
            rows.append({"condition": condition, "params": N, "tokens": D, "flops": C,
                         "loss": L * np.exp(rng.normal(0, noise))})
    return pd.DataFrame(rows)


@pytest.mark.parametrize("method, noise, tol", [("parabola", 0.002, 0.005),
                                                 ("akima", 0.0005, 0.01)])
def test_walk_recovers_two_known_exponents(method, noise, tol):
    """Akima's minimum follows the noise of a flat curve more than a parabola does (Porian et
    al. interpolate smoothed losses): each is checked at a noise it is meant for."""
    from scalefit.scaling.laws.reconcile import reconcile
    runs = pd.concat([isoflop_grid(0.30, 0.36, "wide, short", 1, noise=noise),
                      isoflop_grid(0.40, 0.26, "narrow", 2, noise=noise)])
    rec = reconcile(runs, "condition", n_bootstrap=200, isoflop_method=method,
                    also_chinchilla=True, chinchilla_bootstrap=50)
    first, second = rec.steps
    assert [first.condition, second.condition] == ["wide, short", "narrow"]
    for step, truth in ((first, 0.36 / 0.66), (second, 0.26 / 0.66)):
        assert step.a == pytest.approx(truth, abs=tol)
        assert step.a_lo <= truth <= step.a_hi
        assert step.chinchilla_a == pytest.approx(truth, abs=0.01)
        assert step.chinchilla_lo <= truth <= step.chinchilla_hi
    (move,) = rec.moves
    assert move.delta_a == pytest.approx(second.a - first.a) and not move.overlap
    assert "from 'wide, short' to 'narrow' moves a most" in rec.findings[0]
    lo, hi = move.delta_ci95  # the change's own interval, from the two conditions' draws
    assert lo < move.delta_a < hi < 0 and move.apart
    assert f"{first.a:.3f}" in rec.findings[0] and "a change whose 95% interval excludes 0" in rec.findings[0]
    rough = reconcile(runs, "condition", n_bootstrap=10, isoflop_method=method)  # too few to judge
    assert rough.moves[0].overlap is None and "too rough to compare (10 resamples)" in rough.findings[0]
    # --order reverses the walk; a condition with too few runs gets no Chinchilla fit, and why
    narrow = runs[runs.condition == "narrow"]
    few = pd.concat([g.iloc[2:7] for _, g in narrow.groupby("flops")][:2])  # 2 budgets x 5
    rec = reconcile(pd.concat([runs[runs.condition != "narrow"], few]), "condition",
                    order=["narrow", "wide, short"], n_bootstrap=0, also_chinchilla=True,
                    chinchilla_bootstrap=0)
    assert [s.condition for s in rec.steps] == ["narrow", "wide, short"]
    assert rec.moves[0].overlap is None and "unknown (no bootstrap)" in rec.findings[0]
    assert not np.isfinite(rec.steps[0].chinchilla_a)
    assert "not fitted: 10 runs" in rec.steps[0].chinchilla_note


def test_reconcile_cli_bad_column_and_order(tmp_path):
    from click.testing import CliRunner
    from scalefit.cli import main
    path = tmp_path / "runs.csv"
    pd.concat([isoflop_grid(0.30, 0.36, "a, b", 1), isoflop_grid(0.40, 0.26, "c", 2)]).to_csv(
        path, index=False)
    runner = CliRunner()
    bad = runner.invoke(main, ["reconcile", "--data", str(path), "--by", "nope"])
    assert bad.exit_code == 2 and "no column 'nope'" in bad.output
    assert len(bad.output.strip().splitlines()) == 1
    bad = runner.invoke(main, ["reconcile", "--data", str(path), "--by", "condition",
                               "--order", "c,zzz"])
    assert bad.exit_code == 2 and "--order: no row has condition = 'zzz'" in bad.output
    assert len(bad.output.strip().splitlines()) == 1
    bad = runner.invoke(main, ["reconcile", "--data", str(path), "--by", "params"])
    assert bad.exit_code == 2 and "--by/--panel params: that column is what each condition's law" in bad.output
    assert len(bad.output.strip().splitlines()) == 1
    one_size = pd.read_csv(path).assign(params=1e8, tokens=lambda d: d["flops"] / 6e8)
    one_size.to_csv(tmp_path / "one_size.csv", index=False)  # no condition has an IsoFLOP minimum
    bad = runner.invoke(main, ["reconcile", "--data", str(tmp_path / "one_size.csv"), "--by", "condition"])
    assert bad.exit_code == 2 and "reconcile: no condition of --by condition could be fitted (first, a, b: not fitted:" \
        in bad.output, bad.output
    assert len(bad.output.strip().splitlines()) == 1
    ok = runner.invoke(main, ["reconcile", "--data", str(path), "--by", "condition", "--order",
                              "c", "--order", "a, b", "--bootstrap", "50",
                              "--out", str(tmp_path / "out")])
    assert ok.exit_code == 0, ok.output
    assert ok.output.index(" c ") < ok.output.index("a, b")
    assert {p.name for p in (tmp_path / "out").iterdir()} >= {
        "reconcile.md", "reconcile.csv", "reconcile.png", "reconcile.svg"}


def test_porian_walk_in_one_call(anchors):
    """Porian et al.'s 15 conditions in one command: each a inside the published 95% interval,
    the walks in the paper's order (Kaplan, last layer, warmup, cosine decay, tuning)."""
    import json

    from click.testing import CliRunner
    from scalefit.cli import main
    folder = anchors / "scaling" / "porian"
    summary = pd.read_csv(folder / "porian_fit_summary.csv")
    result = CliRunner().invoke(main, [
        "reconcile", "--data", str(folder / "porian_isoflop_points.csv"), "--by", "label",
        "--panel", "dataset,source_file", "--published", str(folder / "porian_fit_summary.csv"),
        "--bootstrap", "200", "--json"])
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    steps = doc["steps"]
    assert len(steps) == len(summary) == 15
    for step in steps:
        assert step["inside_published"], step
    for (dataset, source), rows in summary.groupby(["dataset", "source_file"], sort=False):
        walk = [s["condition"] for s in steps if s["panel"] == f"{dataset} / {source}"]
        assert walk == list(rows["label"])
    # the same a as `scalefit fit isoflop --isoflop-method akima` on each condition alone
    points = pd.read_csv(folder / "porian_isoflop_points.csv")
    for step in steps[:3]:
        dataset, source = step["panel"].split(" / ")
        one = points[(points.dataset == dataset) & (points.source_file == source)
                     & (points.label == step["condition"])].rename(columns={"n": "params"})
        alone = fit_law(one[["params", "tokens", "flops", "loss"]], "isoflop",
                        isoflop_method="akima", n_bootstrap=0)
        assert step["a"] == pytest.approx(alone.value("a"), rel=1e-12)
    rw = [s["condition"] for s in steps if s["panel"] == "rw / summary_df.pickle.xz"]
    assert rw == ["Reproducing Kaplan et al.", "Counting last layer FLOPs", "Correcting warmup",
                  "Cosine decay", "Optimizer tuning (no decay)"]
    owt2 = [s["a"] for s in steps if s["panel"].startswith("owt2")]
    assert owt2 == sorted(owt2, reverse=True)  # every step lowers a, as in the paper
    assert any("moves a most" in f and f.startswith("owt2") for f in doc["findings"])
    # each step's change carries its own interval; the last layer's FLOPs and warmup clearly move a
    for move in doc["moves"]:
        assert move["delta_ci95"][0] < move["delta_a"] < move["delta_ci95"][1]
        if move["target"] in ("Counting last layer FLOPs", "Correcting warmup"):
            assert move["apart"] and move["delta_ci95"][1] < -0.05, move


def _walk_error(tmp_path, frame, *args, name="runs.csv"):
    from click.testing import CliRunner
    from scalefit.cli import main
    path = tmp_path / name
    frame.to_csv(path, index=False)
    result = CliRunner().invoke(main, ["reconcile", "--data", str(path), "--by", "condition",
                                       "--bootstrap", "0", *args])
    assert result.exit_code == 2, result.output
    lines = [ln for ln in result.output.splitlines() if ln.strip()]
    assert len(lines) == 1 and "Traceback" not in result.output, result.output
    return lines[0], str(path)


@pytest.mark.parametrize("column, value, text", [
    ("loss", np.nan, "column 'loss', row 70: is missing (NaN)"),
    ("n", -1.0, "column 'n', row 70: must be positive, got -1"),
    ("loss", "bad", "column 'loss', row 70: 'bad' is not a finite number")])
def test_a_bad_cell_is_an_error_naming_the_file_row_not_a_dropped_condition(
        tmp_path, column, value, text):
    runs = pd.concat([isoflop_grid(0.30, 0.36, "a", 1), isoflop_grid(0.40, 0.26, "b", 2)],
                     ignore_index=True).rename(columns={"params": "n"})
    runs[column] = runs[column].astype(object)
    runs.loc[69, column] = value  # row 70 of the file, row 7 of condition b
    line, path = _walk_error(tmp_path, runs)
    assert line == f"error: {path}: {text}"


def test_header_only_and_repeated_rows(tmp_path):
    runs = pd.concat([isoflop_grid(0.30, 0.36, "a", 1), isoflop_grid(0.40, 0.26, "b", 2)],
                     ignore_index=True)
    line, path = _walk_error(tmp_path, runs.iloc[:0])
    assert f"{path}: no data rows" in line
    line, path = _walk_error(tmp_path, pd.concat([runs, runs.iloc[[4]]]))
    assert f"{path}: row 127: repeats row 5 in every column" in line


def test_published_summary_is_checked(tmp_path):
    runs = pd.concat([isoflop_grid(0.30, 0.36, "a", 1), isoflop_grid(0.40, 0.26, "b", 2)],
                     ignore_index=True)
    good = pd.DataFrame({"condition": ["a", "b"], "a": [0.55, 0.40],
                         "a_ci95_lo": [0.53, 0.38], "a_ci95_hi": [0.57, 0.42]})
    pub = tmp_path / "pub.csv"
    cases = [
        (good.assign(a=good["a"].astype(object).where(good.index != 1, "x")),
         "column 'a', row 2: 'x' is not a finite number"),
        (good.assign(a_ci95_lo=good["a_ci95_hi"], a_ci95_hi=good["a_ci95_lo"]),
         "row 1: a_ci95_lo 0.57 is above a_ci95_hi 0.53; are the two columns swapped?"),
        (good.drop(columns="a"), "no column 'a' or 'a_n_exponent'"),
        (good.drop(columns="condition"), "no column 'condition' (the --by column)"),
        (good.assign(a=[np.nan, 0.40]), "row 1: column 'a' is missing (NaN) beside its interval"),
        (good.assign(condition=["x", "y"]), "no row matches a condition of the run table"),
        (pd.concat([good, good.assign(dataset="other")]).assign(
            dataset=lambda d: d["dataset"].fillna("owt")),
         "2 rows have condition = 'a' (they differ in dataset); name the columns that tell "
         "them apart with --panel"),
    ]
    for frame, text in cases:
        frame.to_csv(pub, index=False)
        line, _ = _walk_error(tmp_path, runs, "--published", str(pub))
        assert f"{pub}: {text}" in line, (text, line)


def test_reconcile_bootstrap_and_isoflop_method_are_checked(tmp_path):
    """--bootstrap 1 printed '[no interval]'; 'nan' gave click's 'is not a valid integer range'
    with a usage block; --isoflop-method with another --law was ignored."""
    runs = pd.concat([isoflop_grid(0.30, 0.36, "a", 1), isoflop_grid(0.40, 0.26, "b", 2)],
                     ignore_index=True)
    path = tmp_path / "runs.csv"
    runs.to_csv(path, index=False)
    from click.testing import CliRunner
    from scalefit.cli import main
    for value in ("1", "nan", "-3"):
        bad = CliRunner().invoke(main, ["reconcile", "--data", str(path), "--by", "condition",
                                        "--bootstrap", value])
        assert bad.exit_code == 2 and bad.output.startswith(f"error: --bootstrap: '{value}'")
        assert "at least 2 resamples, or 0 for none" in bad.output
        assert len(bad.output.strip().splitlines()) == 1
    bad = CliRunner().invoke(main, ["reconcile", "--data", str(path), "--by", "condition",
                                    "--law", "chinchilla", "--isoflop-method", "parabola"])
    assert bad.exit_code == 2 and "--isoflop-method: only with --law isoflop" in bad.output
    from scalefit.scaling.laws.reconcile import reconcile
    with pytest.raises(ValueError, match="--bootstrap: .1."):
        reconcile(runs, "condition", n_bootstrap=1)


def test_change_interval_treats_the_conditions_as_independent():
    """Two conditions are fitted to separate runs: the change's interval is as wide as the two
    spreads combined (sd 0.01 each: half-width 1.96 * 0.0141), even when their draws come from
    resamples with the same seed and so line up index by index."""
    from scalefit.scaling.laws.reconcile import Step, change_interval, walk_findings, walk_moves
    rng = np.random.default_rng(1)
    source = 0.60 + 0.01 * rng.standard_normal(4000)
    lo, hi = change_interval(source, source - 0.03)  # index by index the change would be exactly -0.03
    assert lo == pytest.approx(-0.03 - 1.96 * 0.01 * np.sqrt(2), abs=0.002)
    assert hi == pytest.approx(-0.03 + 1.96 * 0.01 * np.sqrt(2), abs=0.002)
    steps = [Step("", "a", 10, a=0.60, a_lo=0.58, a_hi=0.62), Step("", "b", 10, a=0.58, a_lo=0.56, a_hi=0.60),
             Step("", "c", 10, a=0.45, a_lo=0.43, a_hi=0.47)]
    draws = {("", "a"): source, ("", "b"): source - 0.02, ("", "c"): source - 0.15}
    moves = walk_moves(steps, 1000, draws)
    assert [m.apart for m in moves] == [False, True] and all(m.overlap is False for m in moves[1:])
    assert moves[0].overlap is True
    text = " ".join(walk_findings(steps, moves, 1000))
    assert "1 of 2 steps change a (95% interval of the change excludes 0: 'c' -0.130" in text
    assert "1 leaves 0 inside the change's 95% interval ('b' -0.020" in text


def test_the_biggest_step_is_a_share_only_of_a_walk_it_is_part_of():
    """A walk whose ends nearly agree printed the biggest step as '-1440% of the walk's change
    +0.009' (seen on Porian's rw conditions walked as one panel); a step against the walk's
    direction or larger than the whole walk is said so, and a part still gets its share."""
    from scalefit.scaling.laws.reconcile import Step, walk_findings, walk_moves

    def sentence(values):
        steps = [Step("", name, 10, a=a) for name, a in zip("abcd", values)]
        return walk_findings(steps, walk_moves(steps, 0), 0)[0]

    back = sentence([0.792, 0.667, 0.714, 0.801])
    assert "% of" not in back
    assert "(-0.125, against the walk's change +0.009 from 'a' to 'd')" in back
    over = sentence([0.80, 0.60, 0.65, 0.70])
    assert "% of" not in over and "more than the walk's change -0.100" in over
    assert "other steps move a back" in over
    assert "(-0.130, 76% of the walk's change -0.170 from 'a' to 'd')" in sentence(
        [0.80, 0.77, 0.64, 0.63])


def test_a_run_with_an_empty_condition_is_named_not_fitted_as_a_condition_nan(tmp_path):
    """Rows with no --by value became a condition 'nan' that 'could not be fitted: no data
    rows' (a note; the rows silently out of every walk); now one line naming the first row."""
    from click.testing import CliRunner
    from scalefit.cli import main
    runs = pd.concat([isoflop_grid(0.34, 0.28, "a", 0), isoflop_grid(0.30, 0.30, "b", 1)],
                     ignore_index=True).astype({"condition": object})
    runs.loc[[4, 70], "condition"] = None
    path = tmp_path / "runs.csv"
    runs.to_csv(path, index=False)
    result = CliRunner().invoke(main, ["reconcile", "--data", str(path), "--by", "condition",
                                       "--bootstrap", "0"])
    assert result.exit_code == 2
    assert result.output.strip() == (f"error: {path}: column 'condition', row 5: empty (2 such "
                                     "rows); every run needs its condition (the condition it "
                                     "belongs to): fill it, or drop those rows")


def test_a_published_row_of_another_dataset_is_not_printed_beside_these_runs(tmp_path):
    """Runs of dataset owt2 with --published giving the rw rows (Porian's summary, one dataset
    each): the rw a was printed as 'published a' beside the owt2 fits, and '2 of 5 fitted a lie
    inside the published 95% interval' counted against the other dataset's intervals. With both
    datasets' rows (the runs taken with --subset dataset=owt2) the owt2 row is the match."""
    import json

    from click.testing import CliRunner

    from scalefit.cli import main
    runs = pd.concat([isoflop_grid(0.30, 0.36, "a", 1), isoflop_grid(0.40, 0.26, "b", 2)],
                     ignore_index=True).assign(dataset="owt2")
    rw = pd.DataFrame({"condition": ["a", "b"], "dataset": "rw", "a": [0.70, 0.60],
                       "a_ci95_lo": [0.68, 0.58], "a_ci95_hi": [0.72, 0.62]})
    pub = tmp_path / "pub.csv"
    rw.to_csv(pub, index=False)
    line, _ = _walk_error(tmp_path, runs, "--published", str(pub))
    assert line == (f"error: {pub}: the row for condition = 'a' has dataset = 'rw', its runs have "
                    "dataset = 'owt2': it gives another setting's a; give the summary of these "
                    "runs, or split the walk by that column with --panel dataset")
    both = pd.concat([rw, rw.assign(dataset="owt2", a=[0.55, 0.40], a_ci95_lo=[0.53, 0.38],
                                    a_ci95_hi=[0.57, 0.42])])
    both.to_csv(pub, index=False)
    path = tmp_path / "runs.csv"
    runs.to_csv(path, index=False)
    ok = CliRunner().invoke(main, ["reconcile", "--data", str(path), "--by", "condition",
                                   "--bootstrap", "0", "--published", str(pub), "--json"])
    assert ok.exit_code == 0, ok.output
    steps = json.loads(ok.stdout)["steps"]
    assert [s["published_a"] for s in steps] == [0.55, 0.40]


def test_without_a_bootstrap_the_header_says_there_are_no_intervals(tmp_path):
    """--bootstrap 0 printed '95% intervals from 0 draws of the line ... (seed 0)'."""
    from click.testing import CliRunner

    from scalefit.cli import main
    path = tmp_path / "runs.csv"
    pd.concat([isoflop_grid(0.30, 0.36, "a", 1), isoflop_grid(0.40, 0.26, "b", 2)]).to_csv(
        path, index=False)
    for law, n in (("isoflop", "0"), ("chinchilla", "0"), ("isoflop", "20")):
        text = CliRunner().invoke(main, ["reconcile", "--data", str(path), "--by", "condition",
                                         "--law", law, "--bootstrap", n]).stdout
        head = text.splitlines()[0]
        if n == "0":
            assert head.endswith(f"{law}{', akima minimum' if law == 'isoflop' else ''}, no "
                                 "intervals (--bootstrap 0)"), head
        else:
            assert "95% intervals from 20 draws of the line" in head and "(seed 0)" in head


def test_also_chinchilla_beside_another_law_names_that_law(tmp_path):
    """--law kaplan-nd --also-chinchilla said 'minus the IsoFLOP a'; --law approach3 (the
    Chinchilla form) --also-chinchilla fitted it twice and printed a gap of +0.000 to +0.000."""
    from scalefit.scaling.laws.reconcile import reconcile

    runs = pd.concat([isoflop_grid(0.30, 0.36, "a", 1), isoflop_grid(0.40, 0.26, "b", 2)])
    rec = reconcile(runs, "condition", law="kaplan-nd", also_chinchilla=True, n_bootstrap=0)
    gap = [f for f in rec.findings if "the Chinchilla form (Approach 3) gives a" in f]
    assert len(gap) == 1 and "minus the kaplan-nd a: " in gap[0] and "IsoFLOP" not in gap[0]
    iso = reconcile(runs, "condition", also_chinchilla=True, n_bootstrap=0)
    assert any("minus the IsoFLOP a: " in f for f in iso.findings)
    for law in ("chinchilla", "approach3", "Hoffmann"):
        line, _ = _walk_error(tmp_path, runs, "--law", law, "--also-chinchilla")
        assert line == (f"error: --also-chinchilla: the walk's law {law.lower()} is the Chinchilla form "
                        "already; leave --also-chinchilla out, or walk another --law"), line


def test_panel_naming_the_by_column_or_a_column_twice_is_refused(tmp_path):
    """--by label --panel label walked one condition per panel (no step, nothing said);
    --panel dataset,dataset printed panels 'owt2 / owt2'."""
    runs = pd.concat([isoflop_grid(0.30, 0.36, "a", 1), isoflop_grid(0.40, 0.26, "b", 2)],
                     ignore_index=True).assign(dataset="owt2")
    line, _ = _walk_error(tmp_path, runs, "--panel", "condition")
    assert line == ("error: --panel condition: that is the --by column; a panel splits the walk "
                    "by another column (e.g. dataset), and --by's conditions are walked in each")
    line, _ = _walk_error(tmp_path, runs, "--panel", "dataset,dataset")
    assert line == "error: --panel: dataset is named twice; name each column once"


def test_the_report_says_what_the_terminal_says(tmp_path):
    """reconcile --out: reconcile.md left out the head (law, method, where the intervals come
    from) and every 'not fitted' note the terminal printed."""
    from click.testing import CliRunner

    from scalefit.cli import main
    runs = pd.concat([isoflop_grid(0.30, 0.36, "a", 1), isoflop_grid(0.40, 0.26, "b", 2),
                      isoflop_grid(0.40, 0.26, "tiny", 3).iloc[:2]])
    path = tmp_path / "runs.csv"
    runs.to_csv(path, index=False)
    result = CliRunner().invoke(main, ["reconcile", "--data", str(path), "--by", "condition",
                                       "--bootstrap", "0", "--out", str(tmp_path / "out")])
    assert result.exit_code == 0, result.output
    report = (tmp_path / "out" / "reconcile.md").read_text()
    head = result.stdout.splitlines()[0]
    notes = [ln for ln in result.stdout.splitlines() if ln.startswith("note: tiny: not fitted")]
    assert head in report and len(notes) == 1 and f"- {notes[0]}" in report


def test_walking_the_shipped_parts_does_not_filter_them_away():
    """reconcile --by part without --data: the shipped table's default --subset part=grid left
    one condition, 'one condition fitted; no step to compare', the other parts gone unsaid."""
    import json

    from click.testing import CliRunner

    from scalefit.cli import main
    result = CliRunner().invoke(main, ["reconcile", "--by", "part", "--law", "chinchilla",
                                       "--bootstrap", "0", "--json"])
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    assert doc["data"].endswith("runs.csv [distribution=prose]")
    assert {"grid", "wsd"} <= {s["condition"] for s in doc["steps"]}
