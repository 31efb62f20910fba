"""predict_run / `scalefit predict run`: one run's loss at (N, D) with its curve's and an observed
run's 95% intervals, the N it reads and its kind against the fitted runs; and budgets_frame's N
count (a Kaplan fit's N* is in total parameters, converted, while its extra says non-embedding)."""
import json

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from scalefit import predict_run
from scalefit.cli import main
from scalefit.errors import InputError
from scalefit.scaling.interval_text import estimate_and_ends
from scalefit.scaling.laws.cli import _load
from scalefit.scaling.laws.fit import fit_law
from scalefit.scaling.laws.runtable import validate_runs

TRUE = {"E": 1.8, "A": 400.0, "B": 1500.0, "alpha": 0.34, "beta": 0.30}
NOISE = 0.01  # log sd of a run's loss around the law
SIZES, TOKENS = np.geomspace(1e6, 1e8, 5), np.geomspace(2e7, 2e9, 4)


def true_loss(n, d):
    return TRUE["E"] + TRUE["A"] / np.asarray(n, float) ** TRUE["alpha"] \
        + TRUE["B"] / np.asarray(d, float) ** TRUE["beta"]


def observed(n, d, rng):
    return true_loss(n, d) * np.exp(rng.normal(0, NOISE, np.shape(n)))


def simulate(seed):
    """20 runs of a known Chinchilla law (5 sizes x 4 token counts), fitted with 50 resamples."""
    rng = np.random.default_rng(seed)
    n, d = (a.ravel() for a in np.meshgrid(SIZES, TOKENS))
    frame = pd.DataFrame({"params": n, "tokens": d, "flops": 6 * n * d, "loss": observed(n, d, rng)})
    table = validate_runs(frame, "chinchilla")
    return fit_law(table, "chinchilla", n_bootstrap=50, seed=0, all_runs=table), table


@pytest.fixture(scope="module")
def datasets():
    return [simulate(seed) for seed in range(10)]


@pytest.fixture(scope="module")
def simulated(datasets):
    return datasets[0]


@pytest.fixture(scope="module")
def shipped_kaplan():
    df, source, _ = _load(None)
    table = validate_runs(df, "kaplan", source=source)
    return fit_law(table, "kaplan", n_bootstrap=30, seed=0, all_runs=table), table, df


@pytest.fixture(scope="module")
def mini5_at_4x(shipped_kaplan):
    """The notebook audit's run: mini-5 at 4x the largest token count, predicted by the shipped
    Kaplan fit from its total N (n_counts='total') and from the law's own, non-embedding N:
    (mini-5's row, D, the prediction from total N, the one from the law's N)."""
    result, table, df = shipped_kaplan
    mini5 = df[df["model"] == "mini-5"].iloc[0]
    d = 4 * df["tokens"].max()
    total = predict_run(result, mini5["params"], d, n_counts="total", table=table)
    own = predict_run(result, mini5["params_nonembed"], d, table=table)
    return mini5, d, total, own


# two fitted runs, two beyond every run (2x and 3x the largest N, D)
AT_N, AT_D = np.array([SIZES[2], SIZES[4], 2e8, 3e8]), np.array([TOKENS[1], TOKENS[3], 4e9, 6e9])


def test_recovers_the_true_loss_within_its_intervals(datasets):
    """Over 10 simulated suites the curve's 95% interval holds the true loss at fitted and unfitted
    (N, D) nearly always (one suite's fit, 2% low at 3x beyond, misses its three far points)."""
    inside = []
    for result, table in datasets:
        frame = predict_run(result, AT_N, AT_D, table=table)
        truth = true_loss(AT_N, AT_D)
        inside.append((frame["loss_ci95_lo"] <= truth) & (truth <= frame["loss_ci95_hi"]))
        assert np.all(frame["loss_pi95_lo"] <= frame["loss_ci95_lo"])  # an observation's is wider
        assert np.all(frame["loss_ci95_hi"] <= frame["loss_pi95_hi"])
        assert np.allclose(frame["loss"], truth, rtol=0.03)
        assert np.allclose(frame["C"], 6 * AT_N * AT_D) and list(frame["N_counts"]) == ["total"] * 4
        assert (frame["N_law"] == frame["N"]).all() and (frame["N_converted"] == "").all()
    assert np.mean(inside) >= 0.8


def test_observed_runs_fall_inside_pi95_about_95_percent(datasets):
    rng = np.random.default_rng(11)
    coverage = []
    for result, table in datasets:
        frame = predict_run(result, AT_N, AT_D, table=table)
        new = observed(np.tile(AT_N, (20, 1)), np.tile(AT_D, (20, 1)), rng)  # 20 new runs at each
        coverage.append(((frame["loss_pi95_lo"].to_numpy() <= new)
                         & (new <= frame["loss_pi95_hi"].to_numpy())).mean())
    assert 0.85 <= np.mean(coverage) <= 1.0


def test_kind_labels_inside_beyond_below(simulated):
    result, table = simulated
    n = [SIZES[2], 1e9, 1e5, 3e8]
    d = [TOKENS[2], 1e10, 1e6, TOKENS[0]]
    frame = predict_run(result, n, d, table=table)
    assert list(frame["kind"]) == ["interpolation", "projection", "below the data", "extrapolation"]
    beyond = frame.iloc[1]
    assert beyond["times_largest_N"] == pytest.approx(10) and beyond["times_largest_D"] == pytest.approx(5)
    assert beyond["times_largest_run"] == pytest.approx(50)
    assert "N 10x the largest fitted" in beyond["outside_fitted"]
    assert frame.iloc[0]["outside_fitted"] == ""
    assert "N 3x the largest fitted" in frame.iloc[3]["outside_fitted"]  # its compute lies inside


def test_kaplan_at_total_and_non_embedding_n_gives_one_loss(shipped_kaplan, mini5_at_4x):
    """The notebook audit's mini-5 at 4x tokens: total N read as the law's non-embedding N gave
    3.587 where the law's own N gave 3.784, unsaid."""
    result, table, df = shipped_kaplan
    mini5, d, total, own = mini5_at_4x
    assert own.iloc[0]["N_counts"] == "non-embedding" and own.iloc[0]["N_converted"] == ""
    assert total.iloc[0]["N_law"] == mini5["params_nonembed"]  # the run's own count, exactly
    assert total.iloc[0]["loss"] == own.iloc[0]["loss"]
    assert "converted" in total.iloc[0]["N_converted"]
    assert total.iloc[0]["times_largest_N"] == 1.0 and "N " not in total.iloc[0]["outside_fitted"]
    # between the runs' sizes: the conversion is the embedding map's inverse
    from scalefit.scaling.laws.convention import EmbeddingMap
    between = predict_run(result, 8e5, d, n_counts="total", table=table).iloc[0]
    assert EmbeddingMap.from_frame(df).total(between["N_law"]) == pytest.approx(8e5, rel=1e-12)
    with pytest.raises(InputError, match="reads non-embedding N"):
        predict_run(result, mini5["params"], d, n_counts="total")  # no table: no embedding counts


def test_one_n_column_refuses_the_other_count():
    df, source, _ = _load(None)
    table = validate_runs(df.drop(columns=["params_nonembed"]), "kaplan", source=source)
    result = fit_law(table, "kaplan", n_bootstrap=0, all_runs=table)
    with pytest.raises(InputError, match="reads total N .*one N column"):
        predict_run(result, 1e6, 1e7, n_counts="non-embedding", table=table)


@pytest.mark.parametrize("n, d, named", [(np.nan, 1e7, "N"), (0, 1e7, "N"), (-1e6, 1e7, "N"),
                                         (np.inf, 1e7, "N"), (1e6, [1e7, np.nan], "D"),
                                         ([1e6, 2e6], [1e7, 2e7, 3e7], "broadcast"), ("big", 1e7, "N")])
def test_bad_sizes_are_input_errors(simulated, n, d, named):
    result, table = simulated
    with pytest.raises(InputError, match=named):
        predict_run(result, n, d, table=table)


def test_bad_n_counts_and_level(simulated):
    result, table = simulated
    with pytest.raises(InputError, match="n_counts"):
        predict_run(result, 1e6, 1e7, n_counts="embedding", table=table)
    with pytest.raises(InputError, match="level"):
        predict_run(result, 1e6, 1e7, level=95, table=table)


@pytest.mark.parametrize("args, named", [(["--N", "nan", "--D", "1e7"], "--N"),
                                         (["--N", "0", "--D", "1e7"], "--N"),
                                         (["--N", "1e6", "--D", "inf"], "--D"),
                                         (["--N", "1e6,2e6,3e6", "--D", "1e7,2e7"], "--N gives 3"),
                                         (["--N", "1e6", "--D", "1e7", "--n-counts", "all"], "--n-counts")])
def test_cli_bad_input_exits_2_with_one_line(args, named):
    result = CliRunner().invoke(main, ["predict", "run", "chinchilla", "--bootstrap", "0", *args])
    assert result.exit_code == 2
    assert named in result.stderr and len(result.stderr.strip().splitlines()) == 1
    assert "Traceback" not in result.output


def test_cli_numbers_are_the_apis(tmp_path):
    args = ["predict", "run", "kaplan", "--N", "1643648,4e6", "--D", "9830400", "--n-counts", "total",
            "--bootstrap", "20"]
    doc = json.loads(CliRunner().invoke(main, [*args, "--json"]).stdout)
    df, source, _ = _load(None)
    table = validate_runs(df, "kaplan", source=source)
    result = fit_law(table, "kaplan", n_bootstrap=20, seed=0, all_runs=table)
    frame = predict_run(result, [1643648, 4e6], 9830400, n_counts="total", table=table)
    for row, (_, api) in zip(doc["runs"], frame.iterrows()):
        assert row["loss"] == api["loss"] and row["N_law"] == api["N_law"] and row["kind"] == api["kind"]
        assert row["loss_ci95"] == [api["loss_ci95_lo"], api["loss_ci95_hi"]]
        assert row["loss_pi95"] == [api["loss_pi95_lo"], api["loss_pi95_hi"]]
    assert doc["n_counts"] == "total" and "non-embedding" in doc["law_n"]
    text = CliRunner().invoke(main, [*args, "--out", str(tmp_path / "out")]).stdout
    loss, lo, hi = estimate_and_ends(frame["loss"][0], frame["loss_ci95_lo"][0], frame["loss_ci95_hi"][0])
    assert f"{loss}  [{lo}, {hi}]" in text
    assert "nats/token" in text and "95% PI" in text and "total N converted" in text
    written = pd.read_csv(tmp_path / "out" / "predictions.csv")
    assert np.allclose(written["loss"], frame["loss"], rtol=1e-12)
    assert "`N_law`" in (tmp_path / "out" / "report.md").read_text()


def test_budgets_frame_says_what_n_counts(shipped_kaplan, simulated):
    result, _, _ = shipped_kaplan
    frame = result.budgets_frame()
    assert result.extra["n_column"] == "params_nonembed"  # the law's own N ...
    said = "total (converted from non-embedding with the runs' embedding counts)"
    assert frame.attrs["N_counts"] == said and (frame["N_counts"] == said).all()  # ... its rows' N*
    assert frame.attrs["flops_per_param_token"] == 6.0 and (frame["flops_per_param_token"] == 6.0).all()
    chinchilla = simulated[0].budgets_frame()
    assert chinchilla.attrs["N_counts"] == "total" and (chinchilla["N_counts"] == "total").all()


def test_a_law_of_compute_reads_the_runs_own_compute():
    """kaplan-c is fitted to the flops column (all parameters counted): a run's C is k total-N D
    with the table's k, whichever N is given (6 x non-embedding N x D read a quarter of it)."""
    from scalefit.scaling.laws.projection import table_predictions
    df, source, _ = _load(None)
    table = validate_runs(df, "kaplan-c", source=source)
    result = fit_law(table, "kaplan-c", n_bootstrap=0, all_runs=table)
    run = table.frame.iloc[-1]
    at_run = table_predictions(result, table, result.values())[-1]
    total = predict_run(result, run["params"], run["D"], table=table).iloc[0]
    nonembed = predict_run(result, run["params_nonembed"], run["D"], n_counts="non-embedding",
                           table=table).iloc[0]
    assert total["C"] == pytest.approx(run["C"], rel=1e-9) and total["loss"] == pytest.approx(at_run, rel=1e-12)
    assert nonembed["loss"] == pytest.approx(at_run, rel=1e-12) and nonembed["N_law_counts"] == "total"
    assert total["kind"] == "interpolation"


def test_a_comparisons_budgets_frame_says_what_n_counts():
    """compare's budget frame carries the table's N sentence in attrs (it carried nothing, while
    Kaplan's N* there is total parameters, converted from the law's non-embedding N)."""
    from scalefit.scaling.laws.compare import compare_laws
    df, _, _ = _load(None)
    cmp = compare_laws(df[df["part"] == "grid"], ["kaplan", "chinchilla"], n_bootstrap=0)
    frame = cmp.budgets_frame()
    assert frame.attrs["N_counts"] == cmp.convention and "total" in cmp.convention
    assert "kaplan_N_opt" in frame.columns and "chinchilla_N_opt" in frame.columns


# --- s18: C in the table's count as compare's budget rows, distances to 3 digits, the law as named ---

@pytest.mark.parametrize("flops_factor", [1.0, 1.5])  # the shipped flops = 6 N D, and a table's 9 N D
def test_a_run_at_compares_budget_row_has_its_compute_and_distance(flops_factor):
    """The audit: Kaplan's 10x row of compare reads 2.42e14 FLOPs (the table's count, 10x the
    largest fitted run), while predict run at that row's N*, D* read C 1.51e14 (6 N_nonembed D) and
    17x. Now C, 'x largest run' and the kind are compare's, the law's own C beside them."""
    from scalefit.scaling.laws.compare import compare_laws
    df, source, _ = _load(None)
    df = df.assign(flops=df["flops"] * flops_factor)
    cmp = compare_laws(df, ["kaplan", "chinchilla"], n_bootstrap=0, source=source)
    table = validate_runs(df, "kaplan", source=source)
    result = fit_law(table, "kaplan", n_bootstrap=0, all_runs=table)
    for row in cmp.budgets:
        run = predict_run(result, row["kaplan_N_opt"], row["kaplan_D_opt"], n_counts="total",
                          table=table).iloc[0]
        assert run["C"] == pytest.approx(row["flops"], rel=1e-9)
        assert run["times_largest_run"] == pytest.approx(row["times_largest_run"], rel=1e-9)
        assert run["kind"] == row["kind"] and run["N_total"] == row["kaplan_N_opt"]
        assert run["C_law"] == pytest.approx(6 * run["N_law"] * run["D"], rel=1e-12)
        assert run["C_law"] < run["C"]  # non-embedding N: the law's count is under the table's
        assert run["loss"] == pytest.approx(row["kaplan_loss"], rel=1e-6)  # the same run, the same law
        assert run["times_largest_N"] == pytest.approx(row["kaplan_N_opt"] / df["params"].max(), rel=1e-12)


def test_the_cli_prints_compares_compute_and_distance():
    """`scalefit predict run kaplan --n-counts total` at compare's 10x N*, D*: C 2.42e+14 and C 10x,
    the law's 1.51e+14 beside it, and the basis said; the head names the law as typed."""
    args = ["predict", "run", "kaplan", "--n-counts", "total", "--N", "6169678.92", "--D", "6547234.28",
            "--bootstrap", "0"]
    text = CliRunner().invoke(main, args).stdout
    assert text.startswith("kaplan (kaplan-nd) fitted to 20 runs of ")
    table_line = next(line for line in text.splitlines() if line.startswith("6.17e+06 total"))
    assert "2.42e+14  1.51e+14" in table_line and table_line.endswith("C 10x")
    assert "C = 6 N D with total N: the run table's own count" in text
    assert "law's C = 6 N D with the law's N (non-embedding)" in text
    assert "x largest fitted (and the lines under kind): total N, D and C in the table's count" in text
    doc = json.loads(CliRunner().invoke(main, [*args, "--json"]).stdout)
    assert doc["law"] == "kaplan-nd" and doc["law_given"] == "kaplan"
    assert doc["runs"][0]["C"] == pytest.approx(2.4236e14, rel=1e-4)
    plain = CliRunner().invoke(main, ["predict", "run", "chinchilla", "--N", "1e6", "--D", "1e7",
                                      "--bootstrap", "0"]).stdout
    assert plain.startswith("chinchilla fitted to 20 runs of ") and "law's C" not in plain


def test_non_embedding_n_gives_the_same_compute_as_its_total(shipped_kaplan, mini5_at_4x):
    """The law's own N (non-embedding) is stated in total N for C and the distances: mini-5 at 4x
    tokens is the same run, C and distances, given either way; the table shows the total N."""
    from scalefit.scaling.laws.run_prediction import prediction_document, run_text
    result, table, _ = shipped_kaplan
    mini5, d, total, own = mini5_at_4x
    total, own = total.iloc[0], own.iloc[0]
    assert own["N_total"] == pytest.approx(mini5["params"], rel=1e-9)
    for key in ("C", "C_law", "times_largest_N", "times_largest_D", "times_largest_run"):
        assert own[key] == pytest.approx(total[key], rel=1e-9)
    assert own["times_largest_run"] == pytest.approx(4.0, rel=1e-9)
    out, _ = prediction_document(result, mini5["params_nonembed"], d, table=table, law_given="kaplan")
    text = run_text(out)
    assert "total N" in text.splitlines()[2] and f"{mini5['params']:.4g}" in text


def test_distances_print_three_significant_digits_as_the_footnote(simulated):
    """'x largest fitted' printed 100x or more as a whole number (N 1680469x, C 13675691064835x)
    beside the footnote's 3 digits; now both say 1.68e+06x."""
    from scalefit.scaling.laws.run_prediction import prediction_document, run_text
    result, table = simulated
    n, d = 1.68e6 * SIZES.max(), 1234.5 * TOKENS.max()
    out, frame = prediction_document(result, n, d, table=table)
    text = run_text(out)
    row = frame.iloc[0]
    assert row["times_largest_N"] == pytest.approx(1.68e6) and row["times_largest_D"] == pytest.approx(1234.5)
    shown = f"N 1.68e+06x, D 1.23e+03x, C {row['times_largest_run']:.3g}x"
    assert shown in text and "C 2.07e+09x" in shown
    assert "N 1.68e+06x the largest fitted" in text and "D 1.23e+03x the largest fitted" in text
    assert "C = 6 N D with the law's N (total)" in text and "law's C" not in text
    assert "x largest fitted (and the lines under kind): N as the law reads it" in text
    assert "C_law" not in frame.columns and "N_total" not in frame.columns
