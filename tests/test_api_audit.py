"""What an audit of the Python API, called as a notebook calls it, found. Each case is a mistake a
researcher makes in a notebook (a path or row dicts where a DataFrame was expected, a string for a
list, a typo, a negative count) that raised a KeyError / TypeError / IndexError from deep inside,
or gave a silently wrong number, instead of one InputError naming the input and what is accepted."""
from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest

from scalefit.data import data_path
from scalefit.errors import InputError

RUNS = data_path("suites", "mini", "runs.csv")


# grid (the shipped grid runs) and loss_pairs (their prose/code test-loss pairs): conftest.py


# ---- tables: what a table argument accepts ---------------------------------------------------

@pytest.mark.parametrize("path", [5, None])
def test_read_table_names_a_path_that_is_not_one(path):
    """read_table(5) raised pathlib's TypeError 'expected str, bytes or os.PathLike object'."""
    from scalefit import read_table
    with pytest.raises(InputError, match="is not a path; give a file's path"):
        read_table(path)


# ---- loss-to-loss and loss-to-accuracy -------------------------------------------------------

def test_pair_losses_reads_a_path_and_row_dicts(grid):
    """pair_losses(path) and pair_losses(list of dicts) raised AttributeError: 'str' object has no
    attribute 'columns' (run_downstream the same); a missing path now names the file."""
    from scalefit import pair_losses
    rows = pair_losses(grid.to_dict("records"), "loss_prose_test", "loss_code_test")
    assert len(rows.pairs) == len(grid)
    with pytest.raises(InputError, match="nope.csv: file not found"):
        pair_losses("nope.csv", "loss_prose_test", "loss_code_test")


def test_pair_losses_refuses_a_table_concatenated_twice(grid):
    """pd.concat([grid, grid]) raised pandas' 'Length of values (80) does not match length of
    index (40)' (the repeated index labels)."""
    from scalefit import pair_losses
    with pytest.raises(InputError, match=r"row 21: repeats row 1 in every column"):
        pair_losses(pd.concat([grid, grid]), "loss_prose_test", "loss_code_test")


def test_fit_relation_refuses_a_dataframe_and_a_bad_bootstrap(grid, loss_pairs):
    """fit_relation(DataFrame) raised AttributeError 'x_runs'; n_bootstrap=-1 and 1 gave a point
    fit without a word, 2.5 numpy's TypeError."""
    from scalefit import fit_relation
    with pytest.raises(InputError, match="loss_pairs: got a DataFrame; pass pair_losses"):
        fit_relation(grid, n_bootstrap=0)
    for bad in (-1, 1, 2.5):
        with pytest.raises(InputError, match="n_bootstrap"):
            fit_relation(loss_pairs, n_bootstrap=bad)


def test_fit_relation_checks_given_irreducible_losses(loss_pairs):
    """E_x='a' raised numpy's UFuncTypeError; E_x=-1 was fitted (the command refuses a negative
    loss floor)."""
    from scalefit import fit_relation
    with pytest.raises(InputError, match=r"E_x \(--E-x\): 'a' is not a number"):
        fit_relation(loss_pairs, E_x="a", E_y=1.0, n_bootstrap=0)
    with pytest.raises(InputError, match=r"E_x \(--E-x\): '-1.0' is negative"):
        fit_relation(loss_pairs, E_x=-1.0, E_y=1.0, n_bootstrap=0)


def test_run_downstream_checks_where_it_predicts(grid):
    """at_x='a' raised ValueError and at_x=[3, 4] TypeError from float(); at_nd=(-1, 1e9) printed
    'x = nan is at or below E_x' after numpy's RuntimeWarning 'invalid value in scalar power'."""
    from scalefit import run_downstream
    kw = dict(n_bootstrap=0)
    with pytest.raises(InputError, match=r"at_x \(--at-x\): 'a' is not a number"):
        run_downstream(grid, "loss_prose_test", "loss_code_test", at_x="a", **kw)
    with pytest.raises(InputError, match=r"at_x \(--at-x\)"):
        run_downstream(grid, "loss_prose_test", "loss_code_test", at_x=[3.0, 4.0], **kw)
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        with pytest.raises(InputError, match="N and D must be positive"):
            run_downstream(grid, "loss_prose_test", "loss_code_test", at_nd=(-1, 1e9), **kw)
    out = run_downstream(grid, "loss_prose_test", "loss_code_test", at_nd=(1e7, 1e9), **kw)
    assert out.prediction["value"] > 0


def test_run_downstream_reads_a_long_evaluation_table_as_its_docstring_says():
    """The docstring says a long evaluation table is first made wide (TASK:METRIC names): only
    the command did that, the function said "column 'prose-test:loss' is missing"."""
    from scalefit import read_table, run_downstream
    finals = read_table(data_path("suites", "mini", "finals.parquet"))
    long = finals[finals["metric"].notna() & (finals["part"] == "grid")]
    out = run_downstream(long, "prose-test:loss", "code-test:loss", n_bootstrap=0)
    assert out.fit.n_points >= 3


def test_a_law_fit_with_a_parameter_on_its_bound_emits_no_raw_runtime_warning():
    """The Kaplan fit of E_y on the shipped code-test finals ends with E at its bound 0: lmfit's
    sqrt of a negative variance printed 7 numpy RuntimeWarnings 'invalid value encountered in
    sqrt' (the result already says 'parameter E is at its lower bound', and its stderr is NaN)."""
    from scalefit import read_table, run_downstream
    finals = read_table(data_path("suites", "mini", "finals.parquet"))
    long = finals[finals["metric"].notna() & (finals["part"] == "grid")]
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        out = run_downstream(long, "prose-test:loss", "code-test:loss", n_bootstrap=0)
    assert any("parameter E is at its lower bound" in w for w in out.fit.warnings)


def test_run_downstream_reads_targets_as_row_dicts(grid):
    """targets as a list of dicts raised AttributeError 'list' object has no attribute 'columns'."""
    from scalefit import run_downstream
    with pytest.raises(InputError, match="3 of its 3 runs are also runs of"):
        run_downstream(grid, "loss_prose_test", "loss_code_test", n_bootstrap=0,
                       targets=grid.iloc[:3].to_dict("records"))


def test_fit_accuracy_refuses_mismatched_lengths_and_bad_bootstrap(grid):
    """L and y of different lengths raised numpy's broadcast ValueError, units of another length
    an IndexError; n_bootstrap=-1 or 1 gave a point fit without a word."""
    from scalefit import fit_accuracy
    L = grid["loss"].to_numpy()
    acc = 0.25 + 0.6 / (1 + np.exp(3 * (L - 5)))
    with pytest.raises(InputError, match="L has 20, y has 19 values"):
        fit_accuracy(L, acc[:-1], n_bootstrap=0)
    with pytest.raises(InputError, match="units has 2 values"):
        fit_accuracy(L, acc, n_bootstrap=10, units=[1, 2])
    with pytest.raises(InputError, match="n_bootstrap"):
        fit_accuracy(L, acc, n_bootstrap=-1)


def test_fit_accuracy_names_the_point_as_given():
    """A point out of [0, 1] was numbered after the non-finite points were dropped: the 3rd
    point was reported as 'point 2'."""
    from scalefit import fit_accuracy
    L = np.array([np.nan, 3.0, 3.5, 4.0, 4.5, 5.0, 5.5])
    acc = np.array([0.5, 0.6, 55.0, 0.4, 0.35, 0.3, 0.28])
    with pytest.raises(InputError, match="point 3: 55 is not a fraction"):
        fit_accuracy(L, acc, n_bootstrap=0)


# ---- laws --------------------------------------------------------------------------------------

def test_fit_law_and_compare_laws_take_one_budget_or_refuse_text(grid):
    """budgets=1e20 raised TypeError "'float' object is not iterable" and budgets='abc' a
    TypeError from a comparison of str and float, in both fit_law and compare_laws."""
    from scalefit import compare_laws, fit_law
    fit = fit_law(grid, "chinchilla", n_bootstrap=0, budgets=1e14)
    assert [row["flops"] for row in fit.extra["allocation"]["budgets"]] == [1e14]
    cmp = compare_laws(grid, "chinchilla", n_bootstrap=0, budgets=np.float64(1e14))
    assert [row["flops"] for row in cmp.budgets] == [1e14]
    with pytest.raises(InputError, match=r"budgets \(--budget\): got a str 'abc'"):
        fit_law(grid, "chinchilla", n_bootstrap=0, budgets="abc")
    with pytest.raises(InputError, match=r"budgets \(--budget\): '-1' is out of range"):
        compare_laws(grid, "chinchilla", n_bootstrap=0, budgets=[-1])


@pytest.mark.parametrize("law", [None, 3])
def test_a_law_that_is_not_a_name_is_refused(grid, law):
    """law=None raised AttributeError "'NoneType' object has no attribute 'strip'"."""
    from scalefit import fit_law
    with pytest.raises(InputError, match="law: got a.*; give a law's name .*chinchilla"):
        fit_law(grid, law, n_bootstrap=0)


def test_calibrate_law_reads_a_table_as_fit_law_does(grid):
    """calibrate_law(path) and calibrate_law(row dicts) raised AttributeError "'str' object has
    no attribute 'columns'", where fit_law and compare_laws read both."""
    from scalefit import calibrate_law
    rows = calibrate_law(grid.to_dict("records"), "chinchilla", n_bootstrap=4, cuts=1)
    assert rows.n_runs == len(grid)
    with pytest.raises(InputError, match="nope.csv: file not found"):
        calibrate_law("nope.csv", "chinchilla", n_bootstrap=4)


@pytest.mark.parametrize("kw, said", [
    (dict(cuts=-1), r"cuts \(--cuts\): '-1' is out of range"),  # numpy's 'Number of samples'
    (dict(cuts=2.5), r"cuts \(--cuts\): '2.5' is not a whole number"),  # TypeError
    (dict(cuts=0), r"cuts \(--cuts\): '0' is out of range"),  # 'no cut leaves enough runs'
    (dict(min_fit=0), r"min_fit: '0' is out of range"),  # was taken as the default
    (dict(delta=0), r"^delta \(--delta\): '0' is out of range"),  # 'no cut could be fitted; first'
])
def test_calibrate_law_checks_its_settings_first(grid, kw, said):
    from scalefit import calibrate_law
    with pytest.raises(InputError, match=said):
        calibrate_law(grid, "chinchilla", n_bootstrap=4, **kw)


# ---- schedule laws: fit_curves and predict_curve ----------------------------------------------

@pytest.fixture(scope="module")
def curve_fit(mini1_momentum_fit):
    """(mini-1's long-run curves, conftest's momentum fit of them)."""
    from scalefit import read_table
    from scalefit.scaling.laws.curves import curves_from_table, loss_rows
    checkpoints = read_table(data_path("suites", "mini", "checkpoints.parquet"))
    run = checkpoints[checkpoints["run"] == "grid/mini-1-D2457600"]
    return curves_from_table(loss_rows(run, "loss", "prose-test")), mini1_momentum_fit


def test_fit_curves_checks_its_arguments(curve_fit):
    """A DataFrame for curves raised AttributeError 'S1'; delta='a' and lam='a' TypeErrors;
    delta=nan said 'no finite start on these curves'; n_bootstrap=-1 and 1 gave a point fit
    without a word and 2.5 numpy's TypeError."""
    from scalefit import fit_curves
    curves, _ = curve_fit
    with pytest.raises(InputError, match="curves: got a DataFrame; give LossCurves"):
        fit_curves(pd.DataFrame({"model": ["a"], "step": [1], "lr": [1e-3], "loss": [3.0]}),
                   "momentum", n_bootstrap=0)
    for kw, said in ((dict(delta="a"), r"delta \(--delta\): 'a' is not a number"),
                     (dict(delta=float("nan")), r"delta \(--delta\): 'nan' is not finite"),
                     (dict(lam="a"), r"lam \(--lambda\): 'a' is not a number"),
                     (dict(n_bootstrap=-1), "n_bootstrap"), (dict(n_bootstrap=1), "n_bootstrap"),
                     (dict(n_bootstrap=2.5), "n_bootstrap")):
        with pytest.raises(InputError, match=said):
            fit_curves(curves, "momentum", **{"n_bootstrap": 0, **kw})


def test_predict_curve_refuses_steps_it_would_misread(curve_fit):
    """A negative step indexed the LR array from its end: step -5 got step 96's prediction and an
    LR of -0.00083; step 100.7 was silently step 100; no steps raised numpy's 'zero-size array'."""
    from scalefit import LRSchedule, predict_curve
    _, fit = curve_fit
    schedule = LRSchedule(0.004, 24, 2400)
    for steps in ([-5, 100], [100.7, 200]):
        with pytest.raises(InputError, match="steps: .* is not a step; expected a whole number >= 0"):
            predict_curve(fit, schedule, steps)
    with pytest.raises(InputError, match="steps: give one or more steps"):
        predict_curve(fit, schedule, [])
    one = predict_curve(fit, schedule, 1000)  # a single step: was TypeError 'len() of unsized'
    assert one.points["step"].tolist() == [1000]


def test_predict_curve_checks_schedule_measured_and_result(curve_fit):
    """An LR array shorter than the steps raised IndexError; measured of another length pandas'
    ValueError, a measured 0 numpy's 'divide by zero' RuntimeWarning; a schedule spec string
    'could not convert string to float'; fit_law's result AttributeError 'by_size'."""
    from scalefit import LRSchedule, fit_law, predict_curve
    curves, fit = curve_fit
    schedule = LRSchedule(0.004, 24, 2400)
    with pytest.raises(InputError, match="step 3000 is past the schedule's last step"):
        predict_curve(fit, np.linspace(0.004, 0.0004, 2401), [100, 3000])
    with pytest.raises(InputError, match="measured: 1 losses for 2 steps"):
        predict_curve(fit, schedule, [100, 1000], measured=[3.0])
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        with pytest.raises(InputError, match="measured: the loss at step 1000 is 0"):
            predict_curve(fit, schedule, [100, 1000], measured=[3.0, 0.0])
    with pytest.raises(InputError, match="schedule: got a str; give an LRSchedule"):
        predict_curve(fit, "cosine:2400", [100])
    runs = pd.read_csv(RUNS)
    chinchilla = fit_law(runs[runs["part"] == "grid"], "chinchilla", n_bootstrap=0)
    with pytest.raises(InputError, match="result: got the fit of law 'chinchilla'"):
        predict_curve(chinchilla, schedule, [100])


# ---- the join of the layers -------------------------------------------------------------------

@pytest.fixture(scope="module")
def two_runs():
    """The long runs of mini-1 and mini-2: evaluation and weight rows of 48 checkpoints each."""
    from scalefit import read_table
    checkpoints = read_table(data_path("suites", "mini", "checkpoints.parquet"))
    return checkpoints[checkpoints["model"].isin(["mini-1", "mini-2"])
                       & (checkpoints["part"] == "long")]


def test_join_checkpoints_reads_paths_and_row_dicts(two_runs):
    """A path or a list of row dicts raised pandas' TypeError 'cannot concatenate object of type
    list'; a suite table without a model column a KeyError 'model'."""
    from scalefit import join_checkpoints
    evals = two_runs[two_runs["metric"].notna()]
    wide = join_checkpoints(evals.to_dict("records"))
    assert len(wide) == 96 and "prose-val/loss" in wide
    with pytest.raises(InputError, match="nope.parquet: file not found"):
        join_checkpoints("nope.parquet")
    with pytest.raises(InputError, match="suite: column 'model' is missing"):
        join_checkpoints(evals, suite=pd.DataFrame({"params": [1]}))


def test_join_checkpoints_refuses_two_values_for_one_measurement(two_runs):
    """A second row giving mini-1's step-0 code-test/bpb another value was averaged with the first
    (4.19 and 99 joined as 51.6) without a word; an exact repeat still counts once."""
    from scalefit import join_checkpoints
    evals = two_runs[two_runs["metric"].notna()]
    clash = pd.concat([evals, evals.head(1).assign(value=99.0)], ignore_index=True)
    with pytest.raises(InputError, match=r"measure the same evaluation \(model=mini-1, step=0, "
                                         r"measurement=code-test/bpb\) with different values"):
        join_checkpoints(clash)
    pd.testing.assert_frame_equal(join_checkpoints(pd.concat([evals, evals])),
                                  join_checkpoints(evals))


def test_join_checkpoints_names_a_value_that_is_text(two_runs):
    """A value 'x' raised pandas' TypeError 'agg function failed [how->mean,dtype->object]'."""
    from scalefit import join_checkpoints
    evals = two_runs[two_runs["metric"].notna()].copy()
    evals["value"] = evals["value"].astype(object)
    evals.iloc[0, evals.columns.get_loc("value")] = "x"
    with pytest.raises(InputError, match="column 'value', row 1: 'x' is not a number"):
        join_checkpoints(evals)


def test_join_checkpoints_stats_take_a_name_and_refuse_a_typo(two_runs):
    """stats='std' kept the statistics named 's', 't' and 'd' (none: no weight column at all), and
    stats=['std_typo'] or groups=['mlp_inn'] dropped every weight column without a word."""
    from scalefit import join_checkpoints
    wide = join_checkpoints(two_runs, stats="std", groups="mlp_in,attn_qkv")
    assert {"mlp_in/std", "attn_qkv/std"} <= set(wide.columns)
    assert not any(c.endswith("/rms") or c.startswith("mlp_out/") for c in wide.columns)
    with pytest.raises(InputError, match="no weight rows have stat 'std_typo' \\(known: .*std"):
        join_checkpoints(two_runs, stats=["std_typo"])
    with pytest.raises(InputError, match="no weight rows have group 'mlp_inn'"):
        join_checkpoints(two_runs, groups=["mlp_inn"])


# ---- the LR schedule ------------------------------------------------------------------------------

@pytest.mark.parametrize("kw, said", [
    (dict(peak=-1.0), "LRSchedule peak: '-1.0' is out of range"),  # gave negative LRs
    (dict(peak=float("nan")), "LRSchedule peak: 'nan' is not finite"),  # gave nan LRs
    (dict(final_ratio=2), "LRSchedule final_ratio: '2' is out of range"),  # a floor 2x the peak
    (dict(warmup_steps=-5), "LRSchedule warmup_steps: '-5' is out of range"),
    (dict(decay_steps=float("nan")), "LRSchedule decay_steps: 'nan' is not a step count"),
    (dict(style="cosin"), "LRSchedule: unknown style 'cosin'; did you mean 'cosine'"),
])
def test_lr_schedule_refuses_a_schedule_no_run_trains_with(kw, said):
    """LRSchedule took every value without a look: a negative or nan peak and a floor above the
    peak gave wrong LRs, an unknown style failed only at the first lr_at_step."""
    from scalefit import LRSchedule
    with pytest.raises(InputError, match=said):
        LRSchedule(**{"peak": 0.004, "warmup_steps": 24, "decay_steps": 2400, **kw})


def test_lr_at_step_refuses_a_negative_step():
    """lr_at_step(schedule, -5) was -0.00083 (the warmup ramp continued below 0)."""
    from scalefit import LRSchedule
    from scalefit.schedule import lr_at_step
    schedule = LRSchedule(0.004, 24, 2400)
    assert lr_at_step(schedule, 0) == 0.0
    with pytest.raises(InputError, match="step -5 is negative"):
        lr_at_step(schedule, [-5, 0, 10])


def test_lr_schedule_reads_numbers_given_as_text():
    """LRSchedule('0.004', '24', '2400') was kept as text and failed in lr_at_step with
    "can't multiply sequence by non-int of type 'float'"."""
    from scalefit import LRSchedule
    from scalefit.schedule import lr_at_step
    assert lr_at_step(LRSchedule("0.004", "24", "2400"), 100) == \
        pytest.approx(lr_at_step(LRSchedule(0.004, 24, 2400), 100))


# ---- the init study -------------------------------------------------------------------------------

def test_init_study_reads_a_path():
    """init_study(path) said "table: column 'model' is missing" of a file that has it (the path
    string itself was taken for the table); a missing file now names the file."""
    from scalefit import init_study
    path = data_path("suites", "mini", "init", "checkpoints.parquet")
    study = init_study(str(path))
    assert len(study.runs) > 0
    with pytest.raises(InputError, match="nope.parquet: file not found"):
        init_study("nope.parquet")


# ---- weight statistics --------------------------------------------------------------------------

def _state_dict():
    torch = pytest.importorskip("torch")
    weights = torch.from_numpy(np.random.default_rng(0).standard_t(5, (64, 48)).astype(np.float32))
    return {"gpt_neox.layers.0.mlp.dense_h_to_4h.weight": weights}


@pytest.mark.parametrize("kw, said", [
    (dict(step=-1), "step: '-1' is out of range"),  # written into the table's step column
    (dict(step=2.5), "step: '2.5' is not a whole number"),  # silently step 2
    (dict(step="a"), "step: 'a' is not a number"),  # int()'s ValueError
    (dict(device="cdua"), "device cdua: not a device"),  # torch's RuntimeError
    (dict(num_heads=0), "num_heads: '0' is out of range"),  # taken without a look
])
def test_weight_stats_table_checks_step_device_and_heads(kw, said):
    from scalefit import weight_stats_table
    with pytest.raises(InputError, match=said):
        weight_stats_table(_state_dict(), fit_families=False, spectra=False, **kw)


def test_fit_families_refuses_samples_and_no_family():
    """fit_families(array) raised AttributeError 'counts'; families=[] returned fits whose .best
    raised 'min() arg is an empty sequence'."""
    pytest.importorskip("torch")
    from scalefit import fit_families
    from scalefit.weightstats.binned_fit import histogram_from_samples
    samples = np.random.default_rng(0).standard_t(5, 4000)
    with pytest.raises(InputError, match="got an ndarray; give a Histogram"):
        fit_families(samples)
    with pytest.raises(InputError, match="families is empty"):
        fit_families(histogram_from_samples(samples), [])


# ---- evaluation options ---------------------------------------------------------------------------

def test_eval_options_take_one_name_where_a_list_goes(tmp_path):
    """EvalOptions(models='14m') was iterated: evaluate said "unknown model '1'"; tasks='piqa' was
    the tasks 'p', 'i', ... and datasets='val=v.jsonl' the dataset 'v'."""
    from scalefit import EvalOptions
    from scalefit.sweep.grid import sweep_grid
    opts = EvalOptions(suite="pythia", out_dir=str(tmp_path), models="14m,70m", steps="0",
                       tasks="lambada_openai", datasets="val=v.jsonl")
    assert (opts.models, opts.tasks, opts.datasets) == (["14m", "70m"], ["lambada_openai"],
                                                        ["val=v.jsonl"])
    _, grid, _ = sweep_grid(opts.suite, opts.models, opts.steps)
    assert len(grid) == 2


def test_fit_accuracy_refuses_an_infinite_point():
    """An infinite loss was dropped without a word (a NaN is a missing point; pair_losses refuses
    an infinite loss as a broken measurement)."""
    from scalefit import fit_accuracy
    L = np.array([3.0, 3.5, 4.0, 4.5, 5.0, 5.5, np.inf])
    acc = np.array([0.6, 0.55, 0.45, 0.4, 0.35, 0.3, 0.28])
    with pytest.raises(InputError, match="point 7: L = inf, y = 0.28 is not finite"):
        fit_accuracy(L, acc, n_bootstrap=0)
    assert fit_accuracy(np.r_[L[:-1], np.nan], acc, n_bootstrap=0).n_points == 6


def test_load_suite_names_a_folder(tmp_path):
    """load_suite(a folder) raised IsADirectoryError from pathlib."""
    from scalefit import load_suite
    with pytest.raises(InputError, match="a folder, not a suite spec file"):
        load_suite(tmp_path)


def test_weight_stats_table_has_the_columns_its_docstring_names():
    """The docstring named (model, step, tensor, group, layer, stat, value); the table also has
    `label` (the best family's name), which a notebook met unannounced."""
    import re
    from scalefit import weight_stats_table
    table = weight_stats_table(_state_dict(), spectra=False)
    named = re.search(r"Long table \(([^)]*)\)", weight_stats_table.__doc__).group(1)
    assert [c.strip() for c in named.split(",")] == list(table.columns)
    best = table[table["stat"] == "best_family"]
    assert best["label"].notna().all() and table.loc[table["stat"] != "best_family", "label"].isna().all()


@pytest.mark.parametrize("seed, said", [("a", "'a' is not a number"), (-1, "'-1' is out of range"),
                                        (2.5, "'2.5' is not a whole number")])
def test_every_bootstrap_checks_its_seed(grid, loss_pairs, curve_fit, seed, said):
    """seed='a', -1 or 2.5 raised numpy's 'SeedSequence expects int' TypeError or 'expected
    non-negative integer' ValueError from inside the bootstrap (calibrate_law: 'no cut could be
    fitted'); transition_study already said 'seed: ...'."""
    from scalefit import calibrate_law, fit_accuracy, fit_curves, fit_law, fit_relation
    L = grid["loss"].to_numpy()
    calls = [lambda: fit_law(grid, "chinchilla", n_bootstrap=4, seed=seed),
             lambda: calibrate_law(grid, "chinchilla", n_bootstrap=4, seed=seed),
             lambda: fit_curves(curve_fit[0], "momentum", n_bootstrap=4, seed=seed),
             lambda: fit_relation(loss_pairs, n_bootstrap=4, seed=seed),
             lambda: fit_accuracy(L, 0.25 + 0.6 / (1 + np.exp(3 * (L - 5))), n_bootstrap=4,
                                  seed=seed)]
    for call in calls:
        with pytest.raises(InputError, match=rf"^seed \(--seed\): {said}"):
            call()


@pytest.mark.parametrize("kw, said", [
    (dict(max_tokens="a"), r"max_tokens \(--max-tokens\): 'a' is not a number"),  # int()'s ValueError
    (dict(max_tokens=2.5), r"max_tokens \(--max-tokens\): '2.5' is not a whole number"),  # silently 2
    (dict(num_fewshot="a"), r"num_fewshot \(--num-fewshot\): 'a' is not a number"),  # int()'s ValueError
    (dict(threads=0), r"threads \(--threads\): '0' is out of range"),  # taken without a look
    (dict(seed=-1), r"seed \(--seed\): '-1' is out of range"),  # taken without a look
    (dict(out_dir=None), r"out_dir \(--out\): got a NoneType"),  # pathlib's TypeError
])
def test_eval_options_are_checked_before_anything_loads(tmp_path, kw, said):
    from scalefit import EvalOptions
    from scalefit.evals.evaluate import plan
    opts = EvalOptions(**{"suite": "pythia", "out_dir": str(tmp_path / "out"), "models": "14m",
                          "steps": [0], "weights": True, "progress": False, **kw})
    with pytest.raises(InputError, match=said):
        plan(opts)


def test_evaluate_runs_with_the_threads_it_is_given(tmp_path, monkeypatch):
    """EvalOptions(threads=1) was ignored by evaluate() on a local sweep (only the command set
    torch's threads); the caller's setting is restored after the sweep."""
    torch = pytest.importorskip("torch")
    import scalefit.sweep.engine as engine
    from scalefit import EvalOptions, evaluate
    seen = []
    monkeypatch.setattr(engine, "sweep_checkpoints",
                        lambda *a, **k: seen.append(torch.get_num_threads()) or "swept")
    before = torch.get_num_threads()
    want = 1 if before != 1 else 2
    opts = EvalOptions(suite="pythia", out_dir=str(tmp_path / "out"), models="14m", steps=[0],
                       weights=True, progress=False, threads=want)
    assert evaluate(opts) == "swept"
    assert seen == [want] and torch.get_num_threads() == before


def test_eval_options_take_steps_as_a_list(tmp_path):
    """steps=[0, 1000] was refused as "--steps '[0, 1000]': use all, log, START:STOP:EVERY or a
    list like 0,1000"."""
    from scalefit import EvalOptions
    from scalefit.sweep.grid import sweep_grid
    opts = EvalOptions(suite="pythia", out_dir=str(tmp_path), models="14m", steps=[0, 1000])
    _, grid, _ = sweep_grid(opts.suite, opts.models, opts.steps)
    assert sorted(g.step for g in grid) == [0, 1000]


def test_fit_result_value_names_the_parameters_it_has(grid):
    """fit.value('alpha') of a Kaplan fit raised a bare KeyError: 'alpha'."""
    from scalefit import fit_law
    fit = fit_law(grid, "kaplan", n_bootstrap=0)
    with pytest.raises(InputError, match="law kaplan-nd: no parameter 'alpha'; did you mean 'alpha_N'"):
        fit.value("alpha")
    assert fit.value("alpha_N") == fit.params["alpha_N"].value


@pytest.mark.parametrize("laws, said", [
    (["kaplan", "kaplan"], "'kaplan' is named twice"),
    (["kaplan", "kaplan-nd"], "'kaplan-nd' is another name for 'kaplan' \\(law kaplan-nd\\)"),
])
def test_compare_laws_refuses_one_law_named_twice(grid, laws, said):
    """compare_laws(runs, ['kaplan', 'kaplan-nd']) fitted one law twice and compared it with itself
    ('kaplan a = 0.81 vs kaplan-nd a = 0.81'); ['kaplan', 'kaplan'] kept laws with the name twice
    and one fit. Only the command refused it."""
    from scalefit import compare_laws
    with pytest.raises(InputError, match=f"laws: {said}; name each law once"):
        compare_laws(grid, laws, n_bootstrap=0)


def test_pair_losses_and_run_downstream_refuse_what_only_the_command_refused(grid):
    """The command refused these; the functions went on: pair_losses(train-to-test, y_from=...)
    replaced y_from by x_from without a word, x == y fitted the identity, and run_downstream with
    both at_x and at_nd predicted at at_x and dropped at_nd."""
    from scalefit import pair_losses, read_table, run_downstream
    runs = read_table(RUNS)
    with pytest.raises(InputError, match="--y-from code: only with --pair train-to-train"):
        pair_losses(runs, "loss_prose_test", "loss_code_test", x_from="prose", y_from="code",
                    group="distribution")
    with pytest.raises(InputError, match="both name 'loss' of the same runs"):
        pair_losses(grid, "loss", "loss")
    with pytest.raises(InputError, match=r"at_x \(--at-x\) and at_nd \(--at\): give one of them"):
        run_downstream(grid, "loss_prose_test", "loss_code_test", at_x=5.0, at_nd=(1e7, 1e9),
                       n_bootstrap=0)


def test_fit_law_refuses_an_isoflop_method_it_would_not_use(grid):
    """fit_law(runs, 'chinchilla', isoflop_method='akima') or a typo 'parabol' were taken and
    unused (the command refuses --isoflop-method with another law)."""
    from scalefit import fit_law
    with pytest.raises(InputError, match=r"isoflop_method \(--isoflop-method\): unknown method 'parabol'"):
        fit_law(grid, "chinchilla", isoflop_method="parabol", n_bootstrap=0)
    with pytest.raises(InputError, match="'akima': only with law isoflop \\(got chinchilla\\)"):
        fit_law(grid, "chinchilla", isoflop_method="akima", n_bootstrap=0)


def test_predict_curve_refuses_a_size_the_law_does_not_read(curve_fit):
    """predict_curve(momentum fit, ..., N=1e6) took N and predicted without it (the command
    refuses --params without --by-size)."""
    from scalefit import LRSchedule, predict_curve
    with pytest.raises(InputError, match="N: law momentum has no model size .*momentum-n"):
        predict_curve(curve_fit[1], LRSchedule(0.004, 24, 2400), [100, 1000], N=1e6)


def test_a_layer_is_found_in_a_table_read_back_from_csv(two_runs, tmp_path):
    """Saved as CSV, the checkpoint table's layer column reads back as floats (its evaluation rows
    leave it empty): stat_trajectory(..., layer=0) said "column 'layer' has no '0' (known: -1.0,
    0.0, 1.0)". (Its std: these runs' layer-0 MLP-in t_nu sits at its cap 1e4, no measured value.)"""
    from scalefit import read_table, stat_trajectory
    path = tmp_path / "checkpoints.csv"
    two_runs.to_csv(path, index=False)
    from_csv = stat_trajectory(read_table(path), "std", group="mlp_in", layer=0)
    shipped = stat_trajectory(two_runs, "std", group="mlp_in", layer=0)
    assert len(from_csv) == len(shipped) == 96
    np.testing.assert_allclose(from_csv["value"], shipped["value"], rtol=1e-6)


def test_fit_law_fits_a_schedule_law_to_a_checkpoint_table(two_runs):
    """fit_law(checkpoints, 'momentum') checked the table as a run table first: a checkpoint
    table was refused for its step-0 row ("column 'tokens', row 1: must be positive, got 0") and,
    without a params column, for "law momentum needs N" (the law without -n reads no N)."""
    from scalefit import fit_law, join_checkpoints
    wide = join_checkpoints(two_runs[(two_runs["model"] == "mini-1") & two_runs["metric"].notna()])
    fit = fit_law(wide, "momentum", loss="prose-val/loss", n_bootstrap=0)
    assert fit.law == "momentum" and fit.n_points > 20
    bare = wide.rename(columns={"prose-val/loss": "loss"})[["model", "step", "lr", "loss"]]
    assert fit_law(bare, "momentum", n_bootstrap=0).values() == pytest.approx(fit.values())


def test_weight_stats_table_takes_device_auto():
    """device='auto' (what the commands' --device takes, and what the refusal of a bad device
    lists) was refused: "device auto: not a device; use auto, cpu, cuda or cuda:N"."""
    from scalefit import weight_stats_table
    table = weight_stats_table(_state_dict(), device="auto", fit_families=False, spectra=False)
    assert (table["stat"] == "std").any()


def test_odd_arguments_of_compare_fit_and_pair_are_named(grid):
    """compare_laws(runs, None) raised "'NoneType' object is not iterable" (None now means the
    command's default pair) and laws=5 "'int' object is not iterable"; fit_law(held_flops='abc')
    numpy's 'could not convert string to float'; pair_losses(min_pairs='a') a TypeError."""
    from scalefit import compare_laws, fit_law, pair_losses
    assert compare_laws(grid, None, n_bootstrap=0).laws == ["kaplan", "chinchilla"]
    with pytest.raises(InputError, match="laws: got an int; give a law's name or a list"):
        compare_laws(grid, 5, n_bootstrap=0)
    with pytest.raises(InputError, match="held_flops: got a str 'abc'"):
        fit_law(grid, "chinchilla", n_bootstrap=0, held_flops="abc")
    with pytest.raises(InputError, match="min_pairs: 'a' is not a number"):
        pair_losses(grid, "loss_prose_test", "loss_code_test", min_pairs="a")


# ---- trajectories: the collapse report and the warmup study (fixed after the audit) -----------

def _joined():
    """Two runs on one stat-vs-loss curve, as join_stat_and_loss returns them."""
    steps = np.arange(1.0, 13.0)
    rows = [pd.DataFrame({"model": m, "step": steps, "loss": 3.0 + s * steps ** -0.5,
                          "value": 1.0 + 0.5 * (3.0 + s * steps ** -0.5 - 2.0) ** 0.8})
            for m, s in (("a", 2.0), ("b", 2.5))]
    return pd.concat(rows, ignore_index=True)


def test_collapse_report_and_partial_correlation_read_row_dicts_and_a_path(tmp_path):
    """collapse_report(rows) raised AttributeError 'columns' from require_columns."""
    from scalefit import collapse_report
    from scalefit.scaling.trajectories.correlation import partial_correlation
    joined = _joined()
    path = tmp_path / "joined.csv"
    joined.to_csv(path, index=False)
    want = collapse_report(joined, E=2.0)["collapse_ratio"]
    assert collapse_report(joined.to_dict("records"), E=2.0)["collapse_ratio"] == pytest.approx(want)
    assert collapse_report(path, E=2.0)["collapse_ratio"] == pytest.approx(want)
    assert partial_correlation(joined.to_dict("records"))["n_points"] == partial_correlation(joined)["n_points"]


def test_a_negative_irreducible_loss_is_refused_by_the_trajectory_fit():
    """collapse_report(joined, E=-1.0) fitted (L + 1)^p: a cross-entropy's floor is never below 0."""
    from scalefit import collapse_report
    with pytest.raises(InputError, match=r"E \(--E\): '-1.0' is negative; expected an irreducible loss"):
        collapse_report(_joined(), E=-1.0)


@pytest.mark.parametrize("panels, message", [
    ([], "panels: none given"),
    ("t_nu", "'t_nu' is not a statistic and a group"),
    ([("t_nu", "attn_out", "x")], "is not a statistic and a group"),
    (5, "5 is not a list of panels"),
])
def test_warmup_study_panels_are_checked(panels, message):
    """panels='t_nu' raised 'not enough values to unpack'; panels=[] returned an empty study."""
    from scalefit import warmup_study
    with pytest.raises(InputError, match=message):
        warmup_study(data_path("suites", "mini", "checkpoints.parquet"), panels, n_bootstrap=0)


def test_warmup_study_takes_one_panel_as_the_command_writes_it():
    """One 'STAT/GROUP' or one (stat, group) pair is one panel, as --panel takes it."""
    from scalefit.scaling.trajectories.warmup_study import checked_panels
    assert checked_panels("t_nu/attn_out") == [("t_nu", "attn_out")]
    assert checked_panels(("t_nu", "attn_out")) == [("t_nu", "attn_out")]
    assert checked_panels(["t_nu/attn_out", ("t_nu", "attn_out"), "sv_max/mlp_in"]) == [
        ("t_nu", "attn_out"), ("sv_max", "mlp_in")]


# ---- what a notebook's DataFrame looks like -----------------------------------------------------

def test_a_table_with_its_keys_in_the_index_is_read_as_columns(grid):
    """A DataFrame indexed by (model, run), as a groupby or set_index leaves it, raised pandas'
    TypeError 'Setting a MultiIndex dtype to anything other than object is not supported' in
    pair_losses and run_downstream; set_index('model') hid the model column the pairs key on.
    The index levels are columns again, as read_table makes a Parquet file's named index."""
    from scalefit import pair_losses, run_downstream
    plain = pair_losses(grid, "loss_prose_test", "loss_code_test")
    for indexed in (grid.set_index(["model", "run"]), grid.set_index("model"),
                    grid.set_index("model", drop=False)):
        pairs = pair_losses(indexed, "loss_prose_test", "loss_code_test")
        assert pairs.pairs["model"].tolist() == plain.pairs["model"].tolist()
    down = run_downstream(grid.set_index(["model", "run"]), "loss_prose_test", "loss_code_test",
                          n_bootstrap=0)
    assert down.fit.values() == run_downstream(grid, "loss_prose_test", "loss_code_test",
                                               n_bootstrap=0).fit.values()


def test_a_column_named_twice_is_named(grid):
    """pd.concat([a, b], axis=1) of tables sharing a column gave one name two columns: the value
    check read both at once and raised pandas' TypeError 'arg must be a list, tuple, 1-d array, or
    Series' (join_checkpoints, stat_trajectory), or a function went on with one of them."""
    from scalefit import join_checkpoints, pair_losses
    twice = pd.concat([grid, grid[["loss_code_test"]] + 1.0], axis=1)
    with pytest.raises(InputError, match="column 'loss_code_test' appears 2 times; a table "
                                         "names each column once"):
        pair_losses(twice, "loss_prose_test", "loss_code_test")
    evals = pd.DataFrame({"model": ["a", "a"], "step": [0, 1], "dataset": "val",
                          "metric": "loss", "value": [5.0, 4.0]})
    with pytest.raises(InputError, match="evals: column 'value' appears 2 times"):
        join_checkpoints(pd.concat([evals, evals[["value"]]], axis=1))


def test_a_long_table_without_values_is_named():
    """join_checkpoints of evaluation rows without a 'value' column raised pandas' KeyError
    'value'."""
    from scalefit import join_checkpoints
    evals = pd.DataFrame({"model": ["a", "a"], "step": [0, 1], "dataset": "val", "metric": "loss",
                          "loss": [5.0, 4.0]})
    with pytest.raises(InputError, match="join: column 'value' is missing"):
        join_checkpoints(evals)


@pytest.mark.parametrize("step, said", [("a", "step 'a' is not a number"),
                                        ([1, float("nan")], "step nan is not finite"),
                                        (float("inf"), "step inf is not finite")])
def test_lr_at_step_refuses_a_step_that_is_not_a_number(step, said):
    """lr_at_step(schedule, 'a') raised numpy's 'could not convert string to float'; a nan step
    gave LR nan and an infinite one the floor, without a word."""
    from scalefit import LRSchedule
    from scalefit.schedule import lr_at_step
    with pytest.raises(InputError, match=f"lr_at_step: {said}"):
        lr_at_step(LRSchedule(0.004, 24, 2400), step)


def test_a_pyarrow_table_is_read_and_named_by_its_library(grid):
    """A pyarrow Table (or a polars DataFrame) was refused as 'a Table is not a table' ('a
    DataFrame is not a table; pass a DataFrame' for polars): a table function reads it through
    its to_pandas(), and a message on a wrong kind names another library's type with it."""
    pa = pytest.importorskip("pyarrow")
    from scalefit import fit_law, pair_losses
    from scalefit.errors import a_type
    table = pa.Table.from_pandas(grid)
    pairs = pair_losses(table, "loss_prose_test", "loss_code_test")
    assert pairs.pairs.equals(pair_losses(grid, "loss_prose_test", "loss_code_test").pairs)
    assert a_type(table) == "a pyarrow Table" and a_type(grid) == "a DataFrame"
    # fit_law reads it too (its run_frame repeated as_table and refused one; see below)
    assert fit_law(table, "chinchilla", n_bootstrap=0).values() == \
        fit_law(grid, "chinchilla", n_bootstrap=0).values()


def test_a_choice_is_read_in_any_case_and_a_typo_gets_the_closest_name():
    """The plain parser of a choice (options.one_of) that the functions' own checks can share:
    'Train-To-Test', 'sigmod' and 'olss' were refused by the Python API without the 'did you
    mean' that the command's NameChoice gives."""
    from scalefit.options import one_of
    assert one_of("pairing", " Train-To-Test ", ("train-to-train", "train-to-test")) == "train-to-test"
    with pytest.raises(InputError, match=r"^relation: 'sigmod' is not one of shifted-power, "
                                         r"sigmoid; did you mean 'sigmoid'\?$"):
        one_of("relation", "sigmod", ("shifted-power", "sigmoid"))
    with pytest.raises(InputError, match=r"^method: '5' is not one of ols, huber$"):
        one_of("method", 5, ("ols", "huber"))


def test_a_csv_of_tab_separated_columns_is_read_by_its_columns(grid, tmp_path):
    """Tab-separated text saved as .csv read as one column named 'params<TAB>tokens<TAB>loss':
    every check then said "column 'loss' is missing (columns: params	tokens	loss)"."""
    from scalefit import fit_law, read_table
    path = tmp_path / "runs.csv"
    grid[["params", "tokens", "loss"]].to_csv(path, sep="\t", index=False)
    table = read_table(path)
    assert table.columns.tolist() == ["params", "tokens", "loss"]
    assert fit_law(path, "kaplan", n_bootstrap=0).values() == \
        fit_law(grid[["params", "tokens", "loss"]], "kaplan", n_bootstrap=0).values()


@pytest.mark.parametrize("orient", ["split", "table", "index"])
def test_a_json_table_is_read_in_each_of_pandas_layouts(grid, tmp_path, orient):
    """DataFrame.to_json(orient='split' / 'table') raised pandas' 'All arrays must be of the
    same length' / 'Mixing dicts with non-Series' (one line, but the file is a table), and
    orient='index' read transposed: one column per run, so every check said 'loss' is missing."""
    from scalefit import read_table
    runs = grid[["params", "tokens", "loss"]]
    path = tmp_path / "runs.json"
    runs.to_json(path, orient=orient)
    pd.testing.assert_frame_equal(read_table(path), runs.reset_index(drop=True), check_dtype=False)


NO_EVAL_EXTRA = ("import sys\n"
                 "class NoExtra:\n"  # the finder of test_install_layers: no [eval] extra here
                 "    blocked = ('torch', 'transformers', 'lm_eval', 'safetensors', 'tokenizers')\n"
                 "    def find_spec(self, name, path=None, target=None):\n"
                 "        if name.split('.')[0] in self.blocked:\n"
                 "            raise ModuleNotFoundError(f'No module named {name!r}', name=name)\n"
                 "sys.meta_path.insert(0, NoExtra())\n")


def test_a_core_install_star_imports_and_names_the_extra_a_function_needs():
    """Without the [eval] extra, 'from scalefit import *' raised "No module named 'torch'" (its
    __all__ held weight_stats_table), and 'from scalefit import weight_stats_table' said only
    that; now the star import takes the names that import, and the torch ones name the extra."""
    import subprocess
    import sys
    code = NO_EVAL_EXTRA + (
        "from scalefit import *\n"
        "print('fit_law' in dir(), 'weight_stats_table' in dir())\n"
        "try:\n"
        "    from scalefit import weight_stats_table\n"
        "except ModuleNotFoundError as exc:\n"
        "    print(exc.name, exc)\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == [
        "True False", "torch scalefit.weight_stats_table needs the 'eval' extra, which provides "
        "torch: pip install 'scalefit[eval]' (on a CPU machine first: pip install torch==2.13.0)"]


@pytest.mark.parametrize("loss", [5, ["loss"]])
def test_fit_law_names_a_loss_column_that_is_not_a_name(grid, loss):
    """fit_law(loss=5) raised AttributeError ('int' has no 'lower') and loss=['loss'] TypeError
    (unhashable list), from the run table's column check."""
    from scalefit import fit_law
    with pytest.raises(InputError, match=r"^loss \(--loss\): got a.*; give the loss column's name"):
        fit_law(grid, "chinchilla", loss=loss, n_bootstrap=0)


def test_fit_law_reads_a_table_as_every_table_argument_is(grid):
    """run_frame repeated tables.as_table without its fixes: a table indexed by its keys lost the
    indexed column, a column given twice raised pandas' TypeError. Same fit as the plain table."""
    from scalefit import fit_law
    plain = fit_law(grid, "chinchilla", n_bootstrap=0)
    indexed = fit_law(grid.set_index(["model", "tokens"]), "chinchilla", n_bootstrap=0)
    assert indexed.values() == plain.values()
    with pytest.raises(InputError, match="column 'loss' appears 2 times"):
        fit_law(pd.concat([grid, grid[["loss"]]], axis=1), "chinchilla", n_bootstrap=0)


def test_a_mistyped_law_name_gets_the_closest_one():
    """The command offered 'did you mean' for a mistyped law; the Python API did not."""
    from scalefit.scaling.laws.registry import canonical_law
    with pytest.raises(InputError, match=r"unknown law 'chinchila'; did you mean 'chinchilla'\?"):
        canonical_law("chinchila")
    with pytest.raises(InputError, match=r"^unknown law 'foo' \(choose from kaplan-n, "):
        canonical_law("foo")


def test_fit_accuracy_pairs_two_series_by_their_labels():
    """fit_accuracy paired two Series by position: y in another row order fitted a = 0.254,
    k = 81 for a curve made with a = 0.7, k = -2, without a word. Now by label, as pandas pairs
    them; labels that differ and a negative loss are refused."""
    from scalefit import fit_accuracy
    L = pd.Series(np.linspace(3, 6, 12))
    y = 1 / (1 + np.exp(2 * (L - 4.5))) * 0.7 + 0.25
    shuffled = fit_accuracy(L, y.sample(frac=1, random_state=0), n_bootstrap=0).values()
    assert shuffled == pytest.approx(fit_accuracy(L, y, n_bootstrap=0).values())
    assert shuffled["a"] == pytest.approx(0.7) and shuffled["k"] == pytest.approx(-2)
    with pytest.raises(InputError, match="L and y are Series whose index labels differ"):
        fit_accuracy(L, y.set_axis(range(1, 13)), n_bootstrap=0)
    with pytest.raises(InputError, match=r"point 1: L = -3 is negative; L is a loss in nats"):
        fit_accuracy(-L, y, n_bootstrap=0)


def test_evaluate_takes_a_dict_of_its_options_and_names_a_bad_one(tmp_path):
    """evaluate({'suite': 'pythia'}) raised AttributeError 'executor' and EvalOptions(cache_dir=5)
    pathlib's TypeError: a dict is read as EvalOptions, and what is wrong is one InputError."""
    pytest.importorskip("torch")
    from scalefit import evaluate
    with pytest.raises(InputError, match=r"^evaluate: out_dir missing"):
        evaluate({"suite": "pythia"})
    with pytest.raises(InputError, match=r"no field 'out'; did you mean 'out_dir'\?"):
        evaluate({"suite": "pythia", "out": str(tmp_path)})
    with pytest.raises(InputError, match=r"^evaluate: got an int; pass EvalOptions"):
        evaluate(5)
    with pytest.raises(InputError, match=r"^cache_dir \(--cache-dir\): got an int; give a folder's path"):
        evaluate({"suite": "pythia", "out_dir": str(tmp_path), "cache_dir": 5})


def test_a_curve_prediction_with_no_scored_step_says_so(curve_fit):
    """predict_curve with from_step past every step printed 'mean nan%, max nan%' in its repr."""
    from scalefit import LRSchedule, predict_curve
    _, fit = curve_fit
    prediction = predict_curve(fit, LRSchedule(0.004, 24, 2400), [100, 200],
                               measured=[6.0, 5.5], from_step=1000)
    assert "nan%" not in repr(prediction)
    assert "no step at or past from_step, so no error is scored" in repr(prediction)
    from scalefit.scaling.laws.curve_cli import _curve_text  # and `predict curve`'s text
    text = "\n".join(_curve_text(fit, prediction, "cosine:2400", measured=True, n_bootstrap=0))
    assert "nan%" not in text and "none is scored; at the last, step 200:" in text
