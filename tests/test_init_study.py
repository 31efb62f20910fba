"""`scalefit init-study` on a synthetic checkpoint table with known effects: one init faster early
and converging late, one the same, one slower throughout, the source far ahead; warmup that
matters for pythia and not for the faster init; weight laws that keep their shape, drift back
to Gaussian, meet the Pythia-init run, or go elsewhere. The sentences must say so."""
from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from scalefit.cli import main
from scalefit.errors import InputError
from scalefit.scaling.trajectories.init_contrasts import compare, outcome, permutation_p, steps_to_reach
from scalefit.scaling.trajectories.init_study import init_study, run_conditions

STEPS = np.array([0, 1, 2, 4, 8, 16, 24, 32, 48, 64, 96, 128, 192, 256, 384, 512, 640, 768, 896, 1008, 1120])
SEEDS = (1, 2, 3)


def pythia_loss(t):
    return 4.5 + 4.2 * (1 + t / 20.0) ** -0.6


CURVES = {  # (init, warmup) -> loss(t)
    ("pythia", True): pythia_loss,
    ("empirical", True): lambda t: pythia_loss(t) - 1.0 * np.exp(-t / 60.0),  # faster early, converges
    ("permuted", True): pythia_loss,  # the same speed
    ("gauss-matched", True): lambda t: pythia_loss(t) + 0.15,  # slower throughout
    ("source", True): lambda t: pythia_loss(t + 3000.0),  # continued training: far ahead
    ("pythia", False): lambda t: pythia_loss(0.6 * t),  # without warmup pythia is slower
    ("empirical", False): lambda t: pythia_loss(t) - 1.0 * np.exp(-t / 60.0),  # and empirical is not
}
KURTOSIS = {  # init -> (start, end) of mlp_in's excess kurtosis
    "pythia": (0.0, 1.0), "empirical": (3.0, 2.9), "permuted": (3.0, 0.2), "gauss-matched": (0.0, 1.0),
    "source": (3.0, 3.1), "family": (3.0, 8.0),
}


def synthetic_table(rng_seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(rng_seed)
    rows = []
    curves = dict(CURVES)
    curves[("family", True)] = lambda t: pythia_loss(0.01 * t) + 0.3  # won't train
    for (init, warm), curve in curves.items():
        for seed in (SEEDS[:1] if init == "source" else SEEDS):
            model = f"mini-3-init-{init}{'' if warm else '-nowarmup'}-s{seed}"
            offset = rng.normal(0, 0.01)
            start, end = KURTOSIS[init]
            for step in STEPS:
                common = {"model": model, "step": int(step), "init": init, "init_seed": seed,
                          "warmup_steps": 11 if warm else 0, "size": "mini-3"}
                loss = curve(float(step)) + offset + rng.normal(0, 0.003)
                rows.append({**common, "dataset": "prose-val", "metric": "loss", "value": loss, "is_train": True})
                rows.append({**common, "dataset": "code-test", "metric": "loss", "value": loss + 1,
                             "is_train": False})
                frac = np.log1p(step) / np.log1p(STEPS[-1])
                kurt = start + (end - start) * frac + rng.normal(0, 0.02)
                rows.append({**common, "tensor": "*", "group": "mlp_in", "layer": -1, "stat": "excess_kurtosis",
                             "value": kurt})
    return pd.DataFrame(rows)


@pytest.fixture(scope="module")
def study():
    return init_study(synthetic_table())


def contrast(study, init, measure, warmup="warmup"):
    c = study.contrasts
    return c[(c["init"] == init) & (c["measure"] == measure) & (c["warmup"] == warmup)].iloc[0]


def test_known_effects_are_found(study):
    assert contrast(study, "empirical", "steps_to_1")["outcome"] == "faster"
    assert contrast(study, "empirical", "final_loss")["outcome"] == "same"
    assert contrast(study, "permuted", "steps_to_1")["outcome"] == "same"
    assert contrast(study, "permuted", "final_loss")["outcome"] == "same"
    assert contrast(study, "gauss-matched", "steps_to_1")["outcome"] == "slower"
    assert contrast(study, "gauss-matched", "final_loss")["outcome"] == "slower"
    # never gets there, all pythia's seeds do: 0 of 3 vs 3 of 3, Boschloo's exact p = 0.031 < 0.05
    assert contrast(study, "family", "steps_to_1")["outcome"] == "slower"
    src = contrast(study, "source", "final_loss")
    assert src["outcome"] == "faster" and src["test"] == "one run vs seeds" and src["n"] == 1
    # without warmup: empirical against pythia without warmup
    assert contrast(study, "empirical", "steps_to_1", "no warmup")["outcome"] == "faster"


def test_thresholds_and_steps_match_the_curves(study):
    thr = study.thresholds.set_index("threshold")["loss"]
    start, end = pythia_loss(0.0), pythia_loss(1120.0)
    assert thr[1] == pytest.approx(start - 0.5 * (start - end), abs=0.02)
    assert thr[3] == pytest.approx(start - 0.95 * (start - end), abs=0.02)
    s = study.summary
    pythia = s[(s["init"] == "pythia") & (s["warmup"] == "warmup") & (s["measure"] == "steps_to_1")].iloc[0]
    # analytic crossing of the noiseless curve: (1 + t/20)^-0.6 = 0.5 (start - end) / 4.2 + ...
    target = (thr[1] - 4.5) / 4.2
    t_true = 20 * (target ** (-1 / 0.6) - 1)
    assert pythia["ci_lo"] - 3 < t_true < pythia["ci_hi"] + 3
    assert pythia["n"] == 3 and pythia["n_reached"] == 3


def test_sentences_say_faster_early_and_same_late(study):
    text = "\n".join(study.sentences)
    assert "## mini-3, with warmup (11 steps)" in text and "## mini-3, no warmup" in text
    early = next(s for s in study.sentences if s.startswith("early, with warmup"))
    late = next(s for s in study.sentences if s.startswith("late, with warmup"))
    assert early.endswith("the data support faster (empirical); slower (or won't train) (family, gauss-matched); "
                          "same speed or a difference too small to detect (permuted).")
    assert late.endswith("the data support same speed or a difference too small to detect (empirical, permuted); slower (or won't train) "
                         "(family, gauss-matched).")
    assert text.index("## mini-3, with warmup") < text.index("## mini-3, no warmup")
    assert "source" not in early.split("support", 1)[1]  # the upper bound is not a prediction
    line = next(s for s in study.sentences if s.startswith("early: empirical") and "vs pythia" in s)
    assert line.endswith("(welch) -> faster")
    never = next(s for s in study.sentences if s.startswith("early: family"))
    assert "never (0 of 3 seeds got there)" in never
    assert ("it never got there, 3 of 3 pythia seeds did (p-value of Boschloo's exact test of equal shares "
            "0.031)") in never
    assert never.endswith("-> slower (or won't train)")
    warm = next(s for s in study.sentences if s.startswith("warmup, mini-3 empirical") and "steps" in s)
    assert "needs warmup less than pythia" in warm


def test_weight_laws_are_placed(study):
    v = study.shapes.set_index(["init", "warmup"])["verdict"]
    assert v[("empirical", "warmup")] == "keeps its shape"
    assert v[("permuted", "warmup")] == "drifts back toward Gaussian"
    assert v[("gauss-matched", "warmup")] == "ends where the Pythia-init run ends"
    assert v[("family", "warmup")] == "goes elsewhere"
    assert v[("pythia", "warmup")] == "leaves the Gaussian"
    line = next(s for s in study.sentences if s.startswith("weights, mini-3 permuted warmup: excess_kurtosis"))
    assert " -> 0.2" in line and line.endswith("; drifts back toward Gaussian).")  # after its noise: "(seed sd ...; "


def test_conditions_from_model_names_alone():
    table = synthetic_table().drop(columns=["init", "init_seed", "size"])
    cond = run_conditions(table).set_index("model")
    row = cond.loc["mini-3-init-gauss-matched-s2"]
    assert (row["size"], row["init"], row["init_seed"], row["warmup"]) == ("mini-3", "gauss-matched", 2, "warmup")
    assert cond.loc["mini-3-init-pythia-nowarmup-s3", "warmup"] == "no warmup"
    again = init_study(table)
    assert contrast(again, "empirical", "steps_to_1")["outcome"] == "faster"


def test_helpers():
    assert steps_to_reach([0, 10, 20], [5.0, 4.0, 3.0], 3.5) == pytest.approx(15.0)
    assert steps_to_reach([0, 10], [5.0, 4.0], 6.0) == 0.0
    assert np.isnan(steps_to_reach([0, 10], [5.0, 4.0], 1.0))
    assert permutation_p([1, 2, 3], [4, 5, 6]) == pytest.approx(0.1)  # 2 of 20 splits as extreme
    c = compare([1.0, 1.1, 0.9], [2.0, 2.1, 1.9])
    assert c["diff"] == pytest.approx(-1.0) and c["p"] < 0.01 and c["ci_lo"] < -1 < c["ci_hi"] < 0


# ---------------------------------------------------------------- the command


def test_cli_json_and_report(tmp_path):
    data = tmp_path / "t.parquet"
    synthetic_table().to_parquet(data)
    result = CliRunner().invoke(main, ["init-study", "--data", str(data), "--out", str(tmp_path / "r"), "--json"])
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    assert doc["dataset"] == "prose-val" and any("faster (empirical)" in s for s in doc["sentences"])
    for name in ("report.md", "loss_curves.png", "loss_curves.svg", "contrasts.csv", "curves.csv", "shapes.csv"):
        assert (tmp_path / "r" / name).exists(), name
    assert "What the data support" in (tmp_path / "r" / "report.md").read_text()


def test_cli_thresholds_and_dataset(tmp_path):
    data = tmp_path / "t.csv"
    synthetic_table().to_csv(data, index=False)
    result = CliRunner().invoke(main, ["init-study", "--data", str(data), "--dataset", "code-test",
                                       "--thresholds", "7.5,6.5", "--thresholds", "6.0", "--json"])
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    assert [t["loss"] for t in doc["thresholds"]] == [7.5, 6.5, 6.0] and doc["dataset"] == "code-test"


@pytest.mark.parametrize("thresholds, message", [
    ([-1.0], "thresholds (--thresholds): -1.0 is not a positive finite loss"),
    ([7.5, float("nan")], "thresholds (--thresholds): nan is not a positive finite loss"),
    (["abc"], "thresholds (--thresholds): 'abc' is not a number"),
    ([None], "thresholds (--thresholds): 'None' is not a number"),
])
def test_the_python_api_checks_thresholds_as_the_command_does(thresholds, message):
    """init_study(thresholds=[-1]) was accepted and wrote sentences about a loss of -1: the check
    lived in the command only."""
    with pytest.raises(InputError) as refused:
        init_study(synthetic_table(), thresholds=thresholds)
    assert message in str(refused.value)


def test_the_python_api_takes_thresholds_as_numbers_or_text():
    table = synthetic_table()
    as_text = init_study(table, thresholds="7.5, 6.5").thresholds
    assert as_text["loss"].tolist() == [7.5, 6.5]
    pd.testing.assert_frame_equal(as_text, init_study(table, thresholds=np.array([6.5, 7.5])).thresholds)
    pd.testing.assert_frame_equal(init_study(table, thresholds=[]).thresholds, init_study(table).thresholds)


@pytest.mark.parametrize("args, message", [
    (["--thresholds", "abc"], "--thresholds: 'abc' is not a number"),
    (["--thresholds", "nan"], "not a positive finite loss"),
    (["--dataset", "wiki"], "column 'dataset' has no 'wiki'"),
])
def test_cli_bad_options_exit_2(tmp_path, args, message):
    data = tmp_path / "t.parquet"
    synthetic_table().to_parquet(data)
    result = CliRunner().invoke(main, ["init-study", "--data", str(data), *args])
    assert result.exit_code == 2 and message in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_cli_table_without_init_runs_exits_2(tmp_path):
    data = tmp_path / "plain.csv"
    pd.DataFrame({"model": ["mini-3"], "step": [0], "dataset": ["prose-val"], "metric": ["loss"],
                  "value": [8.0]}).to_csv(data, index=False)
    result = CliRunner().invoke(main, ["init-study", "--data", str(data)])
    assert result.exit_code == 2 and "no init-study runs" in result.stderr
    missing = CliRunner().invoke(main, ["init-study", "--data", str(tmp_path / "nope.csv")])
    assert missing.exit_code == 2 and "file not found" in missing.stderr


@pytest.mark.parametrize("keep, message", [
    (lambda t: t["init"] == "pythia", "every run starts from the pythia init"),
    # empirical runs only without warmup, pythia only with: no control of the same size and warmup
    (lambda t: ((t["init"] == "pythia") & (t["warmup_steps"] > 0))
     | ((t["init"] == "empirical") & (t["warmup_steps"] == 0)), "no pythia run has the size and warmup"),
])
def test_a_table_with_nothing_to_compare_is_refused(tmp_path, keep, message):
    table = synthetic_table()
    table = table[keep(table)]
    with pytest.raises(InputError, match=message):
        init_study(table)
    data = tmp_path / "t.parquet"
    table.to_parquet(data)
    result = CliRunner().invoke(main, ["init-study", "--data", str(data)])
    assert result.exit_code == 2 and message in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_cli_without_data_names_the_missing_shipped_table():
    from scalefit.data import data_path

    if data_path("suites", "mini", "init", "checkpoints.parquet").exists():
        pytest.skip("the init study ships: the default table is there")
    result = CliRunner().invoke(main, ["init-study"])
    assert result.exit_code == 2 and "the init study has not shipped yet; pass --data TABLE" in result.stderr


def test_the_shipped_experiment_says_slower_for_learned_law_inits():
    """On the shipped init study (data/suites/mini/init), what the data show: every learned-law
    init of mini-3 (with warmup) ends worse than Pythia's init, beyond its interval; the copied
    source weights end better."""
    from scalefit.data import data_path
    if not data_path("suites", "mini", "init", "checkpoints.parquet").exists():
        pytest.skip("the init study is not shipped in this install")
    result = CliRunner().invoke(main, ["init-study", "--json"])
    assert result.exit_code == 0, result.output
    rows = [r for r in json.loads(result.stdout)["contrasts"]
            if r["size"] == "mini-3" and r["warmup"] != "no warmup" and r["measure"] == "final_loss"]
    by_init = {r["init"]: r for r in rows}
    for init in ("gauss-matched", "family", "empirical", "permuted"):
        assert by_init[init]["ci_lo"] > 0 and by_init[init]["outcome"] == "slower", by_init[init]
    assert by_init["source"]["diff"] < 0


def test_one_seed_a_side_is_not_said_to_be_supported():
    """With one seed per condition no contrast can be tested; the summary line read 'the data
    support undetermined (these runs allow no test) (empirical, ...)', an outcome claimed."""
    table = synthetic_table()
    one = init_study(table[table["init_seed"] == 1])
    late = next(s for s in one.sentences if s.startswith("late, with warmup"))
    assert "support" not in late
    assert late.endswith("no outcome can be read for empirical, family, gauss-matched, permuted "
                         "(these runs allow no test).")
    early = next(s for s in one.sentences if s.startswith("early, with warmup"))  # family never got there
    assert early.endswith("no outcome can be read for empirical, gauss-matched, permuted (these runs allow no "
                          "test); no outcome can be read for family (the shares of seeds that got there differ, "
                          "but not detectably at the 5% level).")  # 0 of 1 vs 1 of 1: Boschloo's p = 0.5


def test_two_values_of_one_weight_statistic_are_refused_not_averaged():
    """A weight row repeated with another value (two sweeps merged) was averaged into the shape
    verdict without a word (the losses were already refused); exact repeats still read once."""
    table = synthetic_table()
    once = init_study(table).shapes
    twice = init_study(pd.concat([table, table], ignore_index=True)).shapes
    pd.testing.assert_frame_equal(once, twice)
    row = table[(table["stat"] == "excess_kurtosis") & (table["model"] == "mini-3-init-empirical-s1")
                & (table["step"] == STEPS[-1])]
    clash = pd.concat([table, row.assign(value=row["value"] + 5)], ignore_index=True)
    with pytest.raises(InputError, match="measure the same stat 'excess_kurtosis'.*different values"):
        init_study(clash)


def test_a_run_with_no_final_loss_is_said_to_be_compared_at_an_earlier_step():
    """A run whose last checkpoint has no loss (NaN: not measured, or diverged) had that
    checkpoint dropped silently and its final loss taken at an earlier step, compared in the late
    contrast with runs at step 1120 without a word."""
    from scalefit.errors import ScalefitWarning

    table = synthetic_table()
    last = (table["model"] == "mini-3-init-empirical-s1") & (table["step"] == STEPS[-1]) & (table["metric"] == "loss")
    table.loc[last, "value"] = np.nan
    with pytest.warns(ScalefitWarning) as caught:
        study = init_study(table)
    said = [str(w.message) for w in caught]
    assert any("no finite prose-val loss and are left out" in m and "mini-3-init-empirical-s1: steps 1120" in m
               for m in said), said
    assert any(m.startswith("mini-3-init-empirical-s1: its last loss is at step 1008, before step 1120")
               for m in said), said
    assert study.runs.set_index("model").loc["mini-3-init-empirical-s1", "final_step"] == 1008


def test_a_condition_that_got_there_is_not_said_to_have_never_got_there():
    """With a threshold only the source run reaches, its line read 'steps to loss ... 897 vs
    pythia never: no difference to test: it never got there' of a run that did."""
    study = init_study(synthetic_table(), thresholds=[4.7])  # below pythia's end (4.87); source: 4.73 -> 4.68
    line = next(s for s in study.sentences if s.startswith("early: source"))
    assert "it never got there" not in line
    assert "no difference to test: pythia never got there, 1 of 1 source seed did" in line
    family = next(s for s in study.sentences if s.startswith("early: family"))
    assert "no difference to test: it never got there, 0 of 3 pythia seeds did" in family


def test_the_share_of_seeds_that_reach_a_threshold_is_read_both_ways():
    """Fewer of a condition's seeds reaching a threshold than the control's was 'slower', but the
    mirror case (the condition got there, pythia never did) was 'undetermined'. Both ways now, where
    Boschloo's exact test finds the shares differ (f7: 2 of 3 against 1 of 3 was read 'faster'
    untested; tests/test_s47_init_noise.py)."""
    study = init_study(synthetic_table(), thresholds=[4.7])  # only source (1 of 1) gets below 4.7
    # 1 of 1 against 0 of 3: Boschloo's p = 0.21, and no steps to compare: no verdict
    assert contrast(study, "source", "steps_to_1")["outcome"] == "undetermined"
    assert contrast(study, "family", "steps_to_1")["outcome"] == "undetermined"  # 0 of 3 vs 0 of 3
    untested = {"p": np.nan, "diff": np.nan}
    assert outcome("steps_to_1", untested, (10, 10), (0, 10)) == "faster"
    assert outcome("steps_to_1", untested, (0, 10), (10, 10)) == "slower"
    assert outcome("steps_to_1", {"p": 0.5, "diff": 10.0}, (3, 3), (3, 3)) == "same"
    assert outcome("final_loss", untested, (2, 3), (3, 3)) == "undetermined"  # no threshold to reach


def heading_of(sentences, line):
    """The '## ' heading a sentence stands under (the text and report.md group lines by them)."""
    return [s for s in sentences[:sentences.index(line)] if s.startswith("## ")][-1]


def test_warmup_and_weight_lines_stand_under_their_own_headings(study):
    """The warmup and weight-law sentences followed the last size's heading ('## mini-4, with
    warmup'), so report.md listed mini-3's warmup test under mini-4."""
    said = study.sentences
    warm = [s for s in said if s.startswith("warmup, ")]
    weights = [s for s in said if s.startswith("weights, ")]
    assert warm and weights
    assert all(heading_of(said, s).startswith("## The warmup hypothesis") for s in warm)
    assert all(heading_of(said, s).startswith("## Weight laws: excess_kurtosis per group") for s in weights)


def test_the_warmup_sentence_names_its_measure_and_reads_as_a_change(study):
    """'dropping warmup costs -10 steps vs -9 for pythia' named no threshold and called a saving
    a cost; 'no difference ... at p < 0.05' stated a p the test did not give."""
    thr = study.thresholds.set_index("threshold")["loss"][1]
    row = study.warmup_effect.set_index(["init", "measure"]).loc[("empirical", "steps_to_1")]
    line = next(s for s in study.sentences if s.startswith("warmup, mini-3 empirical") and "steps" in s)
    assert line.startswith(f"warmup, mini-3 empirical: dropping warmup changes its steps to loss {thr:.3f} by "
                           f"{row['cost']:+.0f}, pythia's by {row['control_cost']:+.0f}; difference {row['diff']:+.0f}")
    assert "costs" not in line and "at p <" not in " ".join(study.sentences)


def test_one_seed_a_side_gives_the_warmup_means_and_no_test(tmp_path):
    """With one seed per condition the warmup hypothesis was left out without a word, and its
    CSV was written as an empty file that pandas cannot read."""
    table = synthetic_table()
    one = init_study(table[table["init_seed"] == 1])
    effect = one.warmup_effect
    assert len(effect) == 2 and effect["p"].isna().all() and effect["ci_lo"].isna().all()
    assert (effect["min_seeds"] == 1).all()
    line = next(s for s in one.sentences if s.startswith("warmup, mini-3 empirical") and "final loss" in s)
    assert "no test (1 seed in a run set" in line and "[" not in line and "p =" not in line
    warm_only = table[table["warmup_steps"] > 0]  # no run without warmup: nothing to test
    data = tmp_path / "t.parquet"
    warm_only.to_parquet(data)
    result = CliRunner().invoke(main, ["init-study", "--data", str(data), "--out", str(tmp_path / "r")])
    assert result.exit_code == 0, result.output
    written = pd.read_csv(tmp_path / "r" / "warmup_effect.csv")
    assert written.empty and "diff" in written.columns and "min_seeds" in written.columns


def test_cli_text_names_the_loss_it_reads(tmp_path):
    """The printed verdict named neither the dataset whose loss it read nor the unit: the same
    lines came out for --dataset code-test as for the default prose-val."""
    data = tmp_path / "t.parquet"
    synthetic_table().to_parquet(data)
    for args, dataset in (([], "prose-val"), (["--dataset", "code-test"], "code-test")):
        result = CliRunner().invoke(main, ["init-study", "--data", str(data), *args])
        assert result.exit_code == 0, result.output
        first = result.stdout.splitlines()[0]  # 8 conditions of 3 seeds, source of 1
        assert first.startswith(f"Init study of {8 * 3 - 2} runs ({data}): loss on {dataset} in nats/token")


@pytest.mark.parametrize("args, message", [
    (["--thresholds", ","], "--thresholds: ',' holds no loss"),
    (["--thresholds", ""], "--thresholds: '' holds no loss"),
    (["--stat", "kurtosis"], "--stat: the init-study runs have no 'kurtosis' rows; did you mean 'excess_kurtosis'?"),
])
def test_empty_thresholds_and_a_misspelled_stat_are_named(tmp_path, args, message):
    """--thresholds , ran with the default three thresholds as if none had been typed; --stat
    kurtosis listed every statistic the runs have without the one meant."""
    data = tmp_path / "t.parquet"
    synthetic_table().to_parquet(data)
    result = CliRunner().invoke(main, ["init-study", "--data", str(data), *args])
    assert result.exit_code == 2 and message in result.stderr, result.output
    assert len(result.stderr.strip().splitlines()) == 1


def shape_verdicts(laws: dict) -> dict:
    """shape_table's verdict per init for mlp_in excess kurtosis going start -> end (one seed each:
    the descriptive reading, its label '(descriptive; one seed: no noise estimate)' checked and cut)."""
    from scalefit.scaling.trajectories.init_shapes import shape_table
    one_seed = "descriptive; one seed: no noise estimate"
    rows = [{"model": init, "step": step, "tensor": "*", "group": "mlp_in", "layer": -1,
             "stat": "excess_kurtosis", "value": value}
            for init, (start, end) in laws.items() for step, value in ((0, start), (1000, end))]
    conditions = pd.DataFrame({"model": list(laws), "size": "s", "init": list(laws), "warmup": "warmup"})
    verdicts = shape_table(pd.DataFrame(rows), conditions).set_index("init")["verdict"]
    assert verdicts.str.endswith(f" ({one_seed})").all()
    return verdicts.str.removesuffix(f" ({one_seed})").to_dict()


def test_a_weight_law_halfway_between_two_references_is_not_given_one():
    """Embeddings going from kurtosis 2.7 to 1.4 (pythia's ending at 3.5) read 'keeps its shape':
    the end lay 1.30 from its start and 1.40 from the Gaussian, as near the one as the other. And
    a law that started Gaussian and moved away (-0.006 -> 0.66) read 'drifts back toward
    Gaussian'; pythia's from exactly 0 to 3.5 read 'keeps its shape' (its start and the Gaussian
    coincide, and a spread of 0 made nothing far). Both now read 'leaves the Gaussian': each moved
    more than 10x its start's distance from the Gaussian (a28899a; it read 'keeps its shape' before)."""
    said = shape_verdicts({"pythia": (0.0, 3.5), "empirical": (2.7, 1.4), "gauss-matched": (-0.006, 0.66),
                           "permuted": (2.7, 0.3), "family": (2.7, 2.6)})
    assert said["empirical"] == "between its start and the Gaussian (nearer its start)"
    # the same pair reads the same whichever is nearer (the report had 'between the Gaussian and
    # its start' beside 'between its start and the Gaussian')
    assert shape_verdicts({"pythia": (0.0, 3.5), "empirical": (2.7, 1.3)})["empirical"] == \
        "between its start and the Gaussian (nearer the Gaussian)"
    assert said["gauss-matched"] == "leaves the Gaussian"
    assert said["permuted"] == "drifts back toward Gaussian" and said["family"] == "keeps its shape"
    assert said["pythia"] == "leaves the Gaussian"


def test_a_categorical_statistic_is_refused_not_averaged(tmp_path):
    """--stat best_family averaged family codes over seeds and printed 'attn_out 1.33 -> 2.67
    (goes elsewhere)': the mean of a Student-t (1) and a Laplace (3) is no family."""
    table = synthetic_table()
    rows = table[table["stat"] == "excess_kurtosis"].assign(stat="best_family", value=1.0, label="student_t")
    data = tmp_path / "t.parquet"
    pd.concat([table.assign(label=""), rows], ignore_index=True).to_parquet(data)
    result = CliRunner().invoke(main, ["init-study", "--data", str(data), "--stat", "best_family"])
    assert result.exit_code == 2 and "--stat: 'best_family' names a category" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    fine = CliRunner().invoke(main, ["init-study", "--data", str(data)])  # the default stat still reads
    assert fine.exit_code == 0, fine.output


def test_out_into_a_folder_of_other_settings_is_refused(tmp_path):
    """init-study --out DIR over a folder written with another --stat replaced shapes.csv and
    report.md and kept whatever else lay there, with no word; it now keeps one setting per folder
    as fit and compare do (scalefit_settings.json), and the same settings rewrite it."""
    data = tmp_path / "t.parquet"
    synthetic_table().to_parquet(data)
    out = tmp_path / "r"
    first = CliRunner().invoke(main, ["init-study", "--data", str(data), "--out", str(out)])
    assert first.exit_code == 0, first.output
    written = {p.name: p.stat().st_mtime_ns for p in out.iterdir()}
    other = CliRunner().invoke(main, ["init-study", "--data", str(data), "--out", str(out), "--stat", "t_nu"])
    assert other.exit_code == 2 and "holds the results of other settings (--stat" in other.stderr
    assert len(other.stderr.strip().splitlines()) == 1
    assert {p.name: p.stat().st_mtime_ns for p in out.iterdir()} == written  # untouched
    again = CliRunner().invoke(main, ["init-study", "--data", str(data), "--out", str(out)])
    assert again.exit_code == 0, again.output
    foreign = tmp_path / "foreign"
    foreign.mkdir()
    (foreign / "compare.json").write_text("{}")
    refused = CliRunner().invoke(main, ["init-study", "--data", str(data), "--out", str(foreign)])
    assert refused.exit_code == 2 and "no scalefit_settings.json" in refused.stderr


def test_separately_held_attention_matrices_are_read_and_split_ones_counted_once():
    """A Llama-style model's q/k/v_proj (attn_q/k/v) and latent attention's kv path (attn_kv) were
    left out of the shape table (only attn_qkv was read); a GPT-NeoX model's attn_q/k/v rows,
    the split of its own attn_qkv matrix, stay out (the fused matrix counts them)."""
    from scalefit.scaling.trajectories.init_shapes import shape_table

    def rows(model, groups):
        return [{"model": model, "step": step, "tensor": "*", "group": group, "layer": -1,
                 "stat": "excess_kurtosis", "value": value}
                for group in groups for step, value in ((0, 0.0), (1000, 1.0))]

    table = pd.DataFrame(rows("llama", ("attn_q", "attn_k", "attn_v", "attn_kv", "mlp_in"))
                         + rows("neox", ("attn_qkv", "attn_q", "attn_k", "attn_v", "mlp_in")))
    conditions = pd.DataFrame({"model": ["llama", "neox"], "size": ["a", "b"], "init": ["pythia", "pythia"],
                               "warmup": "warmup"})
    shapes = shape_table(table, conditions)
    assert sorted(shapes.loc[shapes["size"] == "a", "group"]) == ["attn_k", "attn_kv", "attn_q", "attn_v", "mlp_in"]
    assert sorted(shapes.loc[shapes["size"] == "b", "group"]) == ["attn_qkv", "mlp_in"]
    assert sorted(shape_table(table, conditions, groups=("mlp_in",))["group"]) == ["mlp_in", "mlp_in"]
