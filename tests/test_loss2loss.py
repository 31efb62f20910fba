"""Loss-to-loss on generated data: known K, kappa, E_x, E_y are recovered, pairing is right."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from scalefit.errors import InputError
from scalefit.scaling.laws import forms as law_forms
from scalefit.scaling.relations import forms as relation_forms
from scalefit.scaling.relations.downstream import run_downstream, split_by_compute
from scalefit.scaling.relations.loss2loss import fit_loss_to_loss, fit_shifted_power, prediction_with_ci
from scalefit.scaling.relations.loss_pairs import pair_losses

TRUE = {"K": 0.62, "kappa": 1.12, "E_x": 1.95, "E_y": 0.85}
KAPLAN_X = {"E": TRUE["E_x"], "N_c": 2e8, "D_c": 1e9, "alpha_N": 0.34, "alpha_D": 0.28}


def gaps(n=60, seed=0):
    return np.geomspace(0.15, 3.0, n) * np.exp(np.random.default_rng(seed).normal(0, 0.02, n))


def sweep(noise=0.002, seed=3):
    """Two datasets' runs on one (N, D) grid; L_y is exactly K (L_x - E_x)^kappa + E_y.

    L_x - E_x is a Kaplan L(N, D) term, so L_y - E_y = K (that term)^kappa is one too: both
    per-dataset Kaplan L(N, D) + E fits can recover their E.
    """
    rng = np.random.default_rng(seed)
    N, tpp = np.meshgrid(np.geomspace(2e7, 2e9, 8), [3, 8, 20, 50, 120], indexing="ij")
    N, D = N.ravel(), (N * tpp).ravel()
    k = KAPLAN_X
    Lx = law_forms.kaplan_nde(N, D, **k)
    Ly = relation_forms.shifted_power_law(Lx, **TRUE)
    rows = []
    for data, L in (("web", Lx), ("code", Ly)):
        L = L * np.exp(rng.normal(0, noise, L.size))
        rows.append(pd.DataFrame({"data": data, "params": N, "tokens": D, "val_loss": L}))
    return pd.concat(rows, ignore_index=True)


def test_fixed_e_recovers_k_and_kappa_with_bootstrap_ci():
    g = gaps()
    x = TRUE["E_x"] + g
    y = relation_forms.shifted_power_law(x, **TRUE) * np.exp(np.random.default_rng(1).normal(0, 0.003,
                                                                                   g.size))
    res = fit_shifted_power(x, y, E_x=TRUE["E_x"], E_y=TRUE["E_y"], n_bootstrap=300, seed=2)
    assert res.converged and res.law == "shifted-power"
    assert res.value("K") == pytest.approx(TRUE["K"], rel=0.02)
    assert res.value("kappa") == pytest.approx(TRUE["kappa"], rel=0.02)
    for name in ("K", "kappa"):
        lo, hi = res.params[name].ci95
        assert lo < TRUE[name] < hi, name
        assert 0 < res.params[name].stderr < 0.05
    assert res.params["E_x"].value == TRUE["E_x"]  # given, not fitted: no interval
    assert np.isnan(res.params["E_x"].ci95[0])
    pred = prediction_with_ci(res, 2.2)
    truth = float(relation_forms.shifted_power_law(2.2, **TRUE))
    assert pred["value"] == pytest.approx(truth, rel=0.005)
    assert pred["ci95"][0] < truth < pred["ci95"][1]


def test_huber_method_agrees_on_clean_data():
    x = TRUE["E_x"] + gaps()
    y = relation_forms.shifted_power_law(x, **TRUE)
    ols = fit_shifted_power(x, y, E_x=TRUE["E_x"], E_y=TRUE["E_y"])
    hub = fit_shifted_power(x, y, E_x=TRUE["E_x"], E_y=TRUE["E_y"], method="huber",
                            n_bootstrap=20)
    for name in ("K", "kappa"):
        assert hub.value(name) == pytest.approx(TRUE[name], rel=1e-4)
        assert ols.value(name) == pytest.approx(TRUE[name], rel=1e-6)


def test_free_e_recovers_all_four():
    x = TRUE["E_x"] + np.geomspace(0.05, 4.0, 80)
    y = relation_forms.shifted_power_law(x, **TRUE) * np.exp(np.random.default_rng(4).normal(0, 5e-4,
                                                                                   x.size))
    res = fit_shifted_power(x, y, n_bootstrap=30, seed=1)
    assert res.extra["e_free"]
    for name, value in TRUE.items():
        assert res.value(name) == pytest.approx(value, rel=0.05), name
    assert res.extra["bootstrap"]["n_failed"] <= 3


def test_train_to_train_via_kaplan_e_recovers_everything():
    runs = sweep()
    lp = pair_losses(runs, "val_loss", "val_loss", "train-to-train", x_from="web",
                     y_from="code")
    assert len(lp.pairs) == 40 and len(lp.x_runs) == 40 and len(lp.y_runs) == 40
    res = fit_loss_to_loss(lp, n_bootstrap=100)
    assert res.extra["e_source"] == "kaplan" and res.extra["pairing"] == "train-to-train"
    assert res.value("E_x") == pytest.approx(TRUE["E_x"], abs=0.05)
    assert res.value("E_y") == pytest.approx(TRUE["E_y"], abs=0.05)
    assert res.value("kappa") == pytest.approx(TRUE["kappa"], rel=0.05)
    assert res.value("K") == pytest.approx(TRUE["K"], rel=0.05)
    assert set(res.extra["kaplan_fits"]) == {"x", "y"}


def test_pairing_by_compute_takes_each_budgets_best_run():
    runs = sweep(noise=0.0)
    lp = pair_losses(runs, "val_loss", "val_loss", "train-to-train", x_from="web",
                     y_from="code", match="compute")
    # one pair per FLOP budget (log10 rounded to 2 decimals), each the lowest loss there
    web = runs[runs["data"] == "web"]
    budgets = np.log10(6 * web["params"] * web["tokens"]).round(2)
    assert len(lp.pairs) == budgets.nunique()
    best = web.groupby(budgets.to_numpy())["val_loss"].min().sort_values().to_numpy()
    np.testing.assert_allclose(np.sort(lp.pairs["x"].to_numpy()), best)


def test_train_to_test_pairs_two_columns_of_one_model():
    runs = sweep().query("data == 'web'").reset_index(drop=True)
    runs["code_loss"] = relation_forms.shifted_power_law(runs["val_loss"], **TRUE)
    runs.loc[3, "code_loss"] = np.nan  # a missing measurement drops that run, not the table
    lp = pair_losses(runs, "val_loss", "code_loss")
    assert len(lp.pairs) == len(runs) - 1
    np.testing.assert_allclose(lp.pairs["y"], relation_forms.shifted_power_law(lp.pairs["x"], **TRUE))


def test_holdout_scores_largest_compute_beside_plain_law():
    runs = sweep()
    out = run_downstream(runs, "val_loss", "val_loss", pairing="train-to-train", x_from="web",
                         y_from="code", holdout="5", n_bootstrap=50)
    train = out.train
    held = out.holdout
    assert held["n"] == 5 and len(train.pairs) == 35
    assert train.pairs["flops"].max() < min(p["flops"] for p in held["points"])
    assert held["mean_abs_rel_error"] < 0.01
    assert "baseline_mean_abs_rel_error" in held
    assert all({"x", "y", "predicted", "relative_error"} <= set(p) for p in held["points"])


def test_at_n_d_chains_kaplan_then_relation():
    runs = sweep(noise=0.0)
    out = run_downstream(runs, "val_loss", "val_loss", pairing="train-to-train", x_from="web",
                         y_from="code", at_nd=(5e9, 1e11), n_bootstrap=50).to_dict()
    truth_x = float(law_forms.kaplan_nde(5e9, 1e11, **KAPLAN_X))
    pr = out["prediction"]
    assert pr["x_predicted"] == pytest.approx(truth_x, rel=0.01)
    assert pr["value"] == pytest.approx(float(relation_forms.shifted_power_law(truth_x, **TRUE)),
                                        rel=0.01)


def test_bad_input_names_file_column_and_row():
    runs = sweep()
    runs["val_loss"] = runs["val_loss"].astype(object)
    runs.loc[7, "val_loss"] = "n/a"
    with pytest.raises(InputError, match=r"runs.csv: column 'val_loss', row with index 7: 'n/a'"):
        pair_losses(runs, "val_loss", "val_loss", "train-to-train", x_from="web",
                    y_from="code", source="runs.csv")
    with pytest.raises(InputError, match="column 'nope' is missing"):
        pair_losses(sweep(), "nope", "val_loss", source="t.csv")
    with pytest.raises(InputError, match="no rows for 'prose'"):
        pair_losses(sweep(), "val_loss", "val_loss", "train-to-train", x_from="prose",
                    y_from="code")
    with pytest.raises(InputError, match=r"x_from \(--x-from\) and y_from \(--y-from\)"):
        pair_losses(sweep(), "val_loss", "val_loss", "train-to-train")
    with pytest.raises(InputError, match="only 2 .* pairs"):
        pair_losses(sweep().head(2), "val_loss", "val_loss")
    with pytest.raises(InputError, match="both E_x and E_y"):
        fit_shifted_power([3, 4, 5], [1, 2, 3], E_x=1.0)


def test_split_by_compute_refuses_holding_out_everything():
    lp = pair_losses(sweep(), "val_loss", "val_loss", "train-to-train", x_from="web",
                     y_from="code")
    with pytest.raises(InputError, match="the fit needs at least"):
        split_by_compute(lp, "39")


def test_holdout_never_splits_runs_of_equal_compute():
    """A tie at the cut goes to the held-out side whole: every held-out run lies beyond the
    largest fitted compute (scaling.holdout.held_out_mask, shared with `fit --holdout`)."""
    from scalefit.scaling.holdout import held_out_mask

    compute = np.array([1.0, 4.0, 2.0, 4.0, 3.0, 5.0])
    assert held_out_mask(compute, "2").tolist() == [False, True, False, True, False, True]
    assert held_out_mask(compute, "1").tolist() == [False, False, False, False, False, True]
    with pytest.raises(InputError, match="the fit needs at least"):
        held_out_mask(compute, "4", min_fit=3)


def test_kaplan_fit_of_one_dataset_is_reused_across_pairs():
    """Each dataset's E is fitted once however many pairs it enters; new data is refitted."""
    from scalefit.scaling.relations.loss2loss import kaplan_fit

    rng = np.random.default_rng(3)
    N = np.repeat([1e7, 3e7, 1e8, 3e8], 3)
    D = N * np.tile([10.0, 20.0, 40.0], 4)
    loss = 1.5 + 400 / N ** 0.34 + 400 / D ** 0.28
    runs = pd.DataFrame({"params": N, "tokens": D, "loss": loss * np.exp(rng.normal(0, .002, N.size))})
    first = kaplan_fit(runs)
    assert kaplan_fit(runs.copy()) is first
    other = runs.assign(loss=runs["loss"] + 0.1)
    assert kaplan_fit(other) is not first
    assert kaplan_fit(other).value("E") != first.value("E")


def test_run_downstream_takes_the_cli_inputs_from_python():
    """A notebook gets the CLI's preparation from the library (shipped_runs, as_measurements lived
    in the click module) and may give --at's text: at_nd='N,D' raised 'too many values to unpack'."""
    from scalefit.scaling.relations.downstream import run_downstream, shipped_runs
    from scalefit.scaling.relations.evaltables import as_measurements

    runs = sweep()
    web = runs[runs["data"] == "web"]
    frame, x, y, notes = as_measurements(web, "val_loss", "val_loss", "<sweep>")
    assert frame is web and (x, y, notes) == ("val_loss", "val_loss", [])
    assert len(shipped_runs(pd.concat([web, web]))) == len(web.drop_duplicates(["params", "tokens"]))
    as_text = run_downstream(runs, "val_loss", "val_loss", pairing="train-to-train", x_from="web",
                             y_from="code", at_nd="5e9,1e11", n_bootstrap=0).to_dict()
    as_pair = run_downstream(runs, "val_loss", "val_loss", pairing="train-to-train", x_from="web",
                             y_from="code", at_nd=(5e9, 1e11), n_bootstrap=0).to_dict()
    assert as_text["prediction"]["value"] == pytest.approx(as_pair["prediction"]["value"], rel=1e-12)
    with pytest.raises(InputError, match="column 'data' holds runs trained on 2 data sets"):
        run_downstream(runs, "val_loss", "val_loss", n_bootstrap=0)


def test_a_prediction_says_where_it_lies_against_the_fitted_runs():
    """`--at N,D` 1000x beyond the runs printed "prediction at ..." with no distance (DESIGN: a
    projection is labelled, with its distance in multiples of the largest fitted compute)."""
    from scalefit.scaling.relations.downstream import run_downstream

    runs = sweep()
    common = dict(pairing="train-to-train", x_from="web", y_from="code", n_bootstrap=0)
    largest = float((6 * runs["params"] * runs["tokens"]).max())
    far = run_downstream(runs, "val_loss", "val_loss", at_nd=(5e10, 1e13), **common).to_dict()["prediction"]
    assert far["kind"] == "projection" and far["times_largest_run"] == pytest.approx(6 * 5e10 * 1e13 / largest)
    pairs = far["x_range"]
    inside = run_downstream(runs, "val_loss", "val_loss", at_x=sum(pairs) / 2, **common).to_dict()["prediction"]
    assert inside["kind"] == "interpolation" and inside["x_range"] == pairs
    beyond = run_downstream(runs, "val_loss", "val_loss", at_x=pairs[0] * 0.95, **common).to_dict()["prediction"]
    assert beyond["kind"] == "projection"


def test_compute_pairs_score_the_baseline_at_the_y_runs_own_size():
    """Paired by compute, a pair's y is the y data's best run at that budget, often another N and
    D than the x run; the held-out Kaplan baseline was evaluated at the x run's N and D and
    compared with the y run's loss (on Brandfonbrener's sweep -0.31% for +0.07%)."""
    from scalefit.scaling.laws.fit import predict
    code = {"E": 0.8, "N_c": 5e6, "D_c": 4e9, "alpha_N": 0.25, "alpha_D": 0.4}  # another optimum
    rows = []
    for C in np.geomspace(1e17, 1e20, 7):
        for N in np.geomspace(2e7, 2e9, 9):
            D = C / (6 * N)
            for data, law in (("web", KAPLAN_X), ("code", code)):
                rows.append({"data": data, "params": N, "tokens": D,
                             "val_loss": float(law_forms.kaplan_nde(N, D, **law))})
    out = run_downstream(pd.DataFrame(rows), "val_loss", "val_loss", pairing="train-to-train",
                         x_from="web", y_from="code", match="compute", holdout=2, n_bootstrap=0)
    points = pd.DataFrame(out.holdout["points"])
    assert (points["y_params"] != points["params"]).any()  # the two runs differ in size
    kaplan_y = out.fit.components["kaplan"]["y"]
    at_y_run = predict(kaplan_y, points["y_params"].to_numpy(float), points["y_tokens"].to_numpy(float))
    np.testing.assert_allclose(points["baseline_predicted"], at_y_run, rtol=1e-12)
    np.testing.assert_allclose(points["baseline_relative_error"], at_y_run / points["y"] - 1,
                               rtol=1e-9, atol=1e-12)


def test_a_checkpoint_listed_twice_with_another_value_is_refused():
    """A wide checkpoint table with one (model, step) twice at different losses was fitted as two
    pairs (a long table's repeats are refused); the same value written twice passes, and counts
    once (it was fitted as two pairs: 13 here)."""
    rows = [{"model": m, "step": s, "params": n, "tokens": s * 1e7,
             "nll": 2 + 50 / n ** 0.2 / s ** 0.2, "code": 1 + 40 / n ** 0.2 / s ** 0.2}
            for m, n in (("a", 1e6), ("b", 3e6), ("c", 1e7)) for s in (1, 2, 4, 8)]
    table = pd.DataFrame(rows)
    again = table.iloc[[5]].assign(code=table["code"].iloc[5] + 0.05, tokens=2.0001e7)
    with pytest.raises(InputError, match=r"<table>: rows with index 5 and 12 measure the same checkpoint "
                                         r"\(model=b, step=2\) with different values \(code "
                                         r"[\d.]+ and [\d.]+\); .*--subset COL=VALUE"):
        pair_losses(pd.concat([table, again], ignore_index=True), "nll", "code")
    same = table.iloc[[5]].assign(tokens=2.0001e7)  # differs elsewhere, not in x or y
    once = pair_losses(pd.concat([table, same], ignore_index=True), "nll", "code").pairs
    assert len(once) == 12 and once["tokens"].max() == 8e7
    both = pd.concat([table.assign(data="web"), table.assign(data="code"),
                      again.assign(data="code")], ignore_index=True)
    with pytest.raises(InputError, match=r"rows with index 17 and 24 measure the same checkpoint \(model=b, "
                                         r"step=2\)"):
        pair_losses(both, "nll", "code", "train-to-train", x_from="web", y_from="code")
    both = pd.concat([both.iloc[:24], same.assign(data="code")], ignore_index=True)
    lp = pair_losses(both, "nll", "code", "train-to-train", x_from="web", y_from="code")
    assert len(lp.pairs) == len(lp.y_runs) == 12


def test_a_run_listed_twice_with_other_losses_is_refused():
    """A run table without a step column: two rows of one model equal in every other column but
    x and y (one run measured twice) were fitted as two pairs; now refused, naming the model and
    both rows. Rows that differ elsewhere (a seed) stay two runs."""
    rows = [{"model": m, "params": n, "tokens": d, "nll": 2 + 50 / n ** 0.2 / d ** 0.1,
             "code": 1 + 40 / n ** 0.2 / d ** 0.1}
            for m, n in (("a", 1e6), ("b", 3e6), ("c", 1e7)) for d in (1e8, 2e8)]
    table = pd.DataFrame(rows)
    again = table.iloc[[3]].assign(nll=lambda f: f["nll"] * 1.01, code=lambda f: f["code"] * 1.02)
    with pytest.raises(InputError, match=r"<table>: rows with index 3 and 6 measure the same run \(model=b\) "
                                         r"with different values \(nll .* and .*, code .* and "
                                         r".*\); .*one run measured twice: keep one row"):
        pair_losses(pd.concat([table, again], ignore_index=True), "nll", "code")
    seeds = pd.concat([table.assign(seed=1), again.assign(seed=2)], ignore_index=True)
    assert len(pair_losses(seeds, "nll", "code").pairs) == 7


def test_train_to_train_of_one_training_set_and_one_column_is_refused():
    """--pair train-to-train --x-from starcoder --y-from starcoder --x val_loss --y val_loss paired
    each run with itself and printed K = 1, kappa = 1 with intervals [1, 1]."""
    runs = sweep()
    for pairing in ("train-to-train", "test-to-test"):
        with pytest.raises(InputError, match="paired with itself"):
            pair_losses(runs, "val_loss", "val_loss", pairing, x_from="code", y_from="code")
    runs["other"] = runs["val_loss"] * 1.1  # another measurement of the same runs: a relation
    assert len(pair_losses(runs, "val_loss", "other", "train-to-train", x_from="code",
                           y_from="code").pairs) == 40


def test_two_runs_of_one_size_cannot_be_paired_by_tokens():
    """A second starcoder run at one (params, tokens) (an LR variant) was dropped or kept by row
    order: the same table in another order gave another K and kappa (0.6312/1.1038 vs
    0.6320/1.0966 on Brandfonbrener's sweep)."""
    runs = sweep()
    variant = runs[runs["data"] == "code"].iloc[[4]].assign(val_loss=lambda f: f["val_loss"] * 1.05)
    table = pd.concat([runs, variant], ignore_index=True)
    with pytest.raises(InputError, match=r"data = 'code': rows with index 44, 80 are 2 runs with params"):
        pair_losses(table, "val_loss", "val_loss", "train-to-train", x_from="web", y_from="code")
    by_compute = pair_losses(table, "val_loss", "val_loss", "train-to-train", x_from="web",
                             y_from="code", match="compute")  # each budget's lowest loss: defined
    assert len(by_compute.pairs) > 0


def test_a_run_tables_dataset_column_is_its_training_set_and_is_not_pooled():
    """Gadre et al.'s over-training table names each run's training set in 'dataset'; a
    train-to-test relation pooled its three sets' runs into one curve without a word (only
    'distribution' and --group-column were checked)."""
    from scalefit.scaling.relations.downstream import run_downstream

    runs = sweep().rename(columns={"data": "dataset"})
    runs["test_loss"] = 1.1 * runs["val_loss"] + 0.2
    with pytest.raises(InputError, match="column 'dataset' holds runs trained on 2 data sets"):
        run_downstream(runs, "val_loss", "test_loss", n_bootstrap=0)
    one = run_downstream(runs, "val_loss", "test_loss", x_from="web", group="dataset", n_bootstrap=0)
    alone = run_downstream(runs[runs["dataset"] == "web"].drop(columns="dataset"), "val_loss",
                           "test_loss", n_bootstrap=0)
    k_one, k_alone = (fit.to_dict()["params"]["K"]["value"] for fit in (one, alone))
    assert k_one == pytest.approx(k_alone, rel=1e-9)


def test_two_training_sets_with_the_same_model_names_get_the_training_set_advice():
    """A checkpoint table of two training sets whose models share names was told to 'drop the
    copies' (two values for model m0, step 1000) instead of choosing one set with --x-from."""
    from scalefit.scaling.relations.loss_pairs import pair_losses

    rows = [{"data": data, "model": f"m{i}", "step": 1000, "val": 3.0 + i + shift, "test": 3.5 + i + shift}
            for data, shift in (("A", 0.0), ("B", 0.3)) for i in range(6)]
    with pytest.raises(InputError, match="column 'data' holds runs trained on 2 data sets"):
        pair_losses(pd.DataFrame(rows), "val", "test")


def test_runs_without_a_pair_are_counted_in_the_notes():
    """A run of one side with no partner (a y run absent, a y value missing) was left out of the
    pairs without a word: 72 of Brandfonbrener's 91 fineweb-edu runs paired with starcoder and
    nothing said why not 91. The notes count each side's unpaired runs; run_downstream shows them."""
    runs = sweep()
    code = np.flatnonzero(runs["data"] == "code")
    table = runs.drop(index=code[:3]).reset_index(drop=True)  # 3 y runs absent
    lp = pair_losses(table, "val_loss", "val_loss", "train-to-train", x_from="web",
                     y_from="code")
    assert len(lp.pairs) == 37
    assert lp.notes == ["3 of the 40 web runs have no code run of equal params and tokens (left "
                        "out of the pairs)"]
    assert pair_losses(runs, "val_loss", "val_loss", "train-to-train", x_from="web",
                       y_from="code").notes == []
    wide = runs[runs["data"] == "web"].assign(other=runs["val_loss"].to_numpy()[code] * 1.1)
    wide.loc[wide.index[[1, 4]], "other"] = np.nan
    lp = pair_losses(wide, "val_loss", "other")
    assert len(lp.pairs) == 38 and lp.notes == ["2 runs with val_loss have no other (left out of "
                                                "the pairs)"]
    out = run_downstream(wide, "val_loss", "other", n_bootstrap=0)
    assert lp.notes[0] in out.to_dict()["notes"]


def test_too_few_pairs_says_which_runs_found_no_partner():
    """'only 0 (x, y) pairs ... need at least 3' said nothing of why: here every web run's tokens
    differ from every code run's by 10%, so none pairs; the message now counts each side's."""
    runs = sweep()
    runs.loc[runs["data"] == "code", "tokens"] *= 1.1
    with pytest.raises(InputError, match=r"only 0 \(x, y\) pairs .* need at least 3; 40 of the 40 "
                                         r"web runs have no code run of equal params and tokens"):
        pair_losses(runs, "val_loss", "val_loss", "train-to-train", x_from="web", y_from="code")
    web = runs[runs["data"] == "web"].assign(acc=np.nan)
    web.loc[web.index[:4], "acc"] = 0.5 + 0.01 * np.arange(4)
    with pytest.raises(InputError, match=r"only 4 \(x, y\) pairs .* needs at least 5; 36 runs "
                                         r"with val_loss have no acc"):
        run_downstream(web, "val_loss", "acc", relation="sigmoid", n_bootstrap=0)


def test_a_checkpoint_table_whose_step_is_no_step_is_refused():
    """A wide checkpoint table with step 'final' or -5 was paired and fitted without a word (the
    step keys a checkpoint and its model's bootstrap unit); now refused as every other reader of
    a step column refuses it (schema.checked_steps)."""
    rows = [{"model": m, "step": s, "params": n, "tokens": s * 1e7,
             "nll": 2 + 50 / n ** 0.2 / s ** 0.2, "code": 1 + 40 / n ** 0.2 / s ** 0.2}
            for m, n in (("a", 1e6), ("b", 3e6), ("c", 1e7)) for s in (1, 2, 4, 8)]
    table = pd.DataFrame(rows).astype({"step": object})
    for bad in ("final", -5, 2.5):
        table.loc[3, "step"] = bad
        with pytest.raises(InputError, match=rf"<table>: column 'step', row with index 3: '{bad}' is not a "
                                             "step; expected a whole number >= 0"):
            pair_losses(table, "nll", "code")
    table.loc[3, "step"] = 8
    assert pair_losses(table, "nll", "code").pairs["step"].dtype == np.int64


def test_a_notebooks_view_of_a_far_projection_shows_its_interval_notes():
    """The shipped table 4.95e6x beyond its runs (--at 1e9,2e10, 20 resamples, as the finding
    ran it): observations at the floor are said beside the prediction in repr, as in to_dict."""
    from scalefit.scaling.relations.cli import _load

    frame, source, x, y, group, x_from, y_from, _ = _load(None, None, None, "train-to-test",
                                                          None, None, None)
    d = run_downstream(frame, x, y, x_from=x_from, group=group, at_nd="1e9,2e10",
                       n_bootstrap=20, source=source)
    notes = d.prediction["interval_notes"]
    assert any("floor" in note for note in notes)
    assert all(f"note: {note}" in repr(d) for note in notes)
    assert d.prediction["pi95"][0] < d.prediction["ci95"][0]
    assert d.prediction["ci95"][1] < d.prediction["pi95"][1]
