"""Loss-to-accuracy laws on published data (../shared/anchors; skipped when absent).

- overtrain/ (Gadre et al. 2024): the exponential error law err = eps - k exp(-gamma L) on the
  RedPajama models reproduces the paper's fit and its relative errors.
- pythia/: downstream accuracy of every Pythia model and checkpoint from LAMBADA loss, the
  largest model (12B, standard and deduped) held out.
"""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from scalefit.scaling.relations.accuracy import fit_accuracy, predict_accuracy
from scalefit.scaling.relations.downstream import run_downstream
from tests.ladder_tables import LADDER_TARGETS, LADDER_TASKS

# mlfoundations/scaling scaling/constants.py SUBSET: the 17 tasks of the paper's top-1 error
GADRE_SUBSET = ["bigbench_operators", "pubmed_qa_labeled", "hellaswag_zeroshot", "boolq",
                "arc_easy", "coqa", "bigbench_dyck_languages", "lambada_openai",
                "bigbench_novel_concepts", "winograd", "bigbench_cs_algorithms",
                "commonsense_qa", "bigbench_qa_wikidata", "hellaswag", "copa", "squad", "piqa"]
SMALL_SHAPES = ["d=96_l=8_h=4", "d=512_l=8_h=4", "d=576_l=24_h=8", "d=1024_l=24_h=8"]
PYTHIA_TASKS = ["piqa", "arc_easy", "sciq", "winogrande"]


@pytest.fixture(scope="module")
def overtrain(anchors):
    root = anchors / "overtrain"
    models = pd.read_csv(root / "overtrain_models_tidy.csv")
    models["err_avg_subset"] = 1 - models[[f"acc_{t}" for t in GADRE_SUBSET]].mean(axis=1)
    return models, pd.read_csv(root / "derived" / "recomputed_default_fits_predictions.csv")


def test_overtrain_error_law_reproduces_redpajama_relative_errors(overtrain):
    models, ref = overtrain
    rpj = models[models["dataset"] == "rpj"]
    M = rpj["token_multiplier_M"]
    fit_rows = rpj[(rpj["model"].isin(SMALL_SHAPES) & (M == 20))
                   | ((rpj["model"] == "d=96_l=8_h=4") & (M == 320))
                   | ((rpj["model"] == "open_lm_1b") & (M == 20))]
    assert len(fit_rows) == 6  # the paper's default error-law fit set
    res = fit_accuracy(fit_rows["loss_c4_val"], fit_rows["err_avg_subset"],
                       "exponential-error", n_bootstrap=0)
    ref = ref[(ref["train"] == "rpj") & (ref["split"] == "err_avg_subset")].set_index("target")
    for name in ("eps", "k", "gamma"):
        assert res.value(name) == pytest.approx(ref[name].iloc[0], rel=1e-3), name
    # chained: the paper's loss-law prediction of C4 loss -> our error law -> top-1 error
    published = {"rpj-open_lm_1b-32.0": 3.6365, "rpj-open_lm_7b-1.0": 0.0464}
    for target, rel_pct in published.items():
        row = ref.loc[target]
        err = float(predict_accuracy(res, row["loss_pred"]))
        assert 100 * abs(err / row["err_true"] - 1) == pytest.approx(rel_pct, abs=2e-3), target


@pytest.fixture(scope="module")
def pythia(anchors):
    evals = pd.read_csv(anchors / "pythia" / "pythia_evals.csv",
                        usecols=["model", "params", "step", "tokens", "task", "metric", "value",
                                 "num_fewshot", "eval_group"])
    evals = evals[(evals["num_fewshot"] == 0) & (evals["eval_group"] == "zero-shot")
                  & evals["task"].isin(PYTHIA_TASKS + ["lambada_openai"])
                  & evals["metric"].isin(["acc", "ppl"])]
    wide = evals.pivot_table(index=["model", "params", "step", "tokens"],
                             columns=["task", "metric"], values="value")
    wide.columns = [f"{task}_{metric}" for task, metric in wide.columns]
    wide = wide.reset_index()
    # lambada ppl = exp(mean over examples of the target's summed NLL): ln ppl is nats/example
    wide["lambada_nll"] = np.log(wide["lambada_openai_ppl"])
    return wide


@pytest.mark.parametrize("task", PYTHIA_TASKS)
def test_pythia_accuracy_from_lambada_loss_holding_out_12b(pythia, task):
    largest = pythia["model"].str.startswith("pythia-12b")
    assert pythia["model"].nunique() == 16 and largest.sum() == 54  # 2 models x 27 steps
    out = run_downstream(pythia[~largest], "lambada_nll", f"{task}_acc", relation="sigmoid",
                         targets=pythia[largest], n_bootstrap=0,
                         source="pythia_evals.csv").to_dict()
    held = pd.DataFrame(out["holdout"]["points"])
    abs_err = (held["predicted"] - held["y"]).abs()
    final = held[held["step"] == 143000]
    print(f"\npythia {task}: fitted on {out['n_points']} checkpoints; 12B held out: mean |err| "
          f"{abs_err.mean():.4f}, max {abs_err.max():.4f}; final checkpoints: "
          f"{', '.join(f'{y:.3f} vs {p:.3f}' for y, p in zip(final['y'], final['predicted']))}")
    assert out["n_points"] == 432 - 54
    assert abs_err.mean() < 0.03  # accuracy points, averaged over both 12B runs' 27 steps
    assert (final["predicted"] - final["y"]).abs().max() < 0.08  # arc_easy: 0.056 under


# --- OLMo model ladder (Bhagia et al. 2024): (N, D) -> task bpb -> accuracy ------------------
# allenai/OLMo-ladder src/scripts/paper: step 1 is a Chinchilla law of task bpb fitted to the
# final checkpoints of the 16 ladder runs (190M-1.3B x 1,2,5,10 xC; bpb a 5-checkpoint moving
# average); step 2 a sigmoid of accuracy against bpb over every checkpoint after the first 10%
# of each run, plus the authors' helper point (bpb 0, accuracy 1). Targets from the commands in
# their predict.py: 7B-4T and 13B-5T.


@pytest.fixture(scope="module")
def ladder(anchors):
    import json
    root = anchors / "ladder"
    configs = json.loads((root / "configs" / "final.json").read_text())
    runs = [(name, c["mode"], c["n"], pd.read_csv(root / "ladder-runs" / p.split("/")[-1]))
            for name, c in configs.items() for p in c["paths"]]
    reported = {step: pd.read_csv(root / f"reported_{step}_main.csv").set_index("Task")
                for step in ("step1", "step2", "chained")}
    return runs, reported


def ladder_two_step(runs, key):
    from scalefit.scaling.laws.fit import fit_law, predict
    bpb = f"eval/downstream_bpb/{key}_rc_5shot_bpb"
    acc = f"eval/downstream/{key}_rc_5shot_len_norm"
    step1, step2, targets = [], [], {}
    for name, mode, n, run in runs:
        x = run[bpb].rolling(5, min_periods=1).mean().to_numpy()
        y = run[acc].rolling(5, min_periods=1).mean().to_numpy()
        if mode == "train":
            step1.append({"params": n, "tokens": run["throughput/total_tokens"].iloc[-1],
                          "loss": x[-1]})
            skip = int(0.1 * len(run))
            step2.append(pd.DataFrame({"x": x[skip:], "y": run[acc].to_numpy()[skip:]}))
        else:
            targets[name] = {"N": n, "D": LADDER_TARGETS[name], "bpb": x[-1], "acc": y[-1]}
    law = fit_law(pd.DataFrame(step1), "chinchilla", n_bootstrap=0)
    pts = pd.concat(step2)
    sigmoid = fit_accuracy(np.r_[pts["x"], 0.0], np.r_[pts["y"], 1.0], "sigmoid", n_bootstrap=0)
    for t in targets.values():
        t["bpb_pred"] = float(predict(law, t["N"], t["D"]))
        t["step2_pred"] = float(predict_accuracy(sigmoid, t["bpb"]))
        t["acc_pred"] = float(predict_accuracy(sigmoid, t["bpb_pred"]))
    return targets


@pytest.mark.parametrize("key", LADDER_TASKS)
def test_ladder_two_step_prediction_beside_authors(ladder, key):
    runs, reported = ladder
    task = f"{key}_5shot"
    got = ladder_two_step(runs, key)
    big, seven = got["13B-5T"], got["7B-4T"]
    print(f"\nladder {task}: 13B acc {big['acc']:.4f} predicted {big['acc_pred']:.4f} "
          f"(authors {reported['chained'].loc[task, 'Pred']:.4f}); 7B acc {seven['acc']:.4f} "
          f"predicted {seven['acc_pred']:.4f}")
    # the authors' tables are for the 13B-5T target
    assert big["acc"] == pytest.approx(reported["chained"].loc[task, "Actual"], abs=1e-6)
    assert big["bpb"] == pytest.approx(reported["step1"].loc[task, "Actual"], abs=1e-6)
    assert big["bpb_pred"] == pytest.approx(reported["step1"].loc[task, "Pred"], rel=2e-3)
    assert big["step2_pred"] == pytest.approx(reported["step2"].loc[task, "Pred"], abs=0.01)
    assert big["acc_pred"] == pytest.approx(reported["chained"].loc[task, "Pred"], abs=0.01)
    for target in (big, seven):  # the paper's chained errors reach 17% (ARC-Challenge)
        assert abs(target["acc_pred"] / target["acc"] - 1) < 0.2


def test_pythia_prediction_intervals_hold_the_12b_checkpoints(pythia):
    """Issue 15: the curve's interval at the 12B checkpoints was about +-0.003 (points
    resampled as if independent) while the misses reach 1-2.7%. Resampling whole models and
    adding the residual scatter, the 95% prediction intervals of piqa (half-width ~0.017) hold
    85% of the 54 held-out 12B checkpoints. arc_easy is printed beside it: its final 12B misses
    (5 points, all one side) lie outside its intervals: a biased extrapolation, not noise."""
    largest = pythia["model"].str.startswith("pythia-12b")
    for task in ("piqa", "arc_easy"):
        out = run_downstream(pythia[~largest], "lambada_nll", f"{task}_acc", relation="sigmoid",
                             targets=pythia[largest], n_bootstrap=100,
                             source="pythia_evals.csv").to_dict()
        held = pd.DataFrame(out["holdout"]["points"])
        half = ((held["pi95_hi"] - held["pi95_lo"]) / 2).mean()
        print(f"\npythia {task}: 95% PI half-width {half:.4f}, "
              f"{100 * out['holdout']['pi95_coverage']:.0f}% of 54 12B checkpoints inside, "
              f"mean signed miss {(held['predicted'] - held['y']).mean():+.4f}")
        assert out["bootstrap"]["resampled"].startswith("whole models")
        if task == "piqa":
            assert half > 0.01  # was ~0.003 for the curve alone
            assert out["holdout"]["pi95_coverage"] >= 0.8


def test_pythia_long_table_read_as_it_comes(anchors):
    """`predict downstream` on Pythia's published long table, no pivoting by hand."""
    import json

    from click.testing import CliRunner

    from scalefit.cli import main
    path = anchors / "pythia" / "pythia_evals_core.csv"
    result = CliRunner().invoke(main, [
        "predict", "downstream", "--data", str(path), "--relation", "sigmoid",
        "--x", "lambada_openai:ppl@0shot", "--y", "piqa:acc@0shot",
        "--subset", "eval_group=zero-shot", "--holdout", "2", "--bootstrap", "50", "--json"])
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    assert doc["n_points"] == 16 * 27 - 2 and doc["x"] == "ln lambada_openai:ppl@0shot"
    for p in doc["holdout"]["points"]:
        assert p["step"] == 143000 and abs(p["relative_error"]) < 0.03
