"""The lm-eval adapter on local JSONL tasks, through `scalefit eval --tasks`, against a hand computation."""
from __future__ import annotations

import json
import random
import re

import numpy as np
import pandas as pd
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("lm_eval")
torch.set_num_threads(1)

from click.testing import CliRunner  # noqa: E402
from scipy.stats import norm  # noqa: E402
from tinysuite import cached_tiny_suite, stdlib_documents  # noqa: E402

from scalefit.cli import main  # noqa: E402
from scalefit.errors import InputError  # noqa: E402
from scalefit.evals.downstream import jsonl_task  # noqa: E402


@pytest.fixture(scope="module")
def tasks(tmp_path_factory):
    """A multiple-choice task (which line follows?) and a completion task, from stdlib source lines."""
    folder = tmp_path_factory.mktemp("tasks")
    docs = stdlib_documents(40_000, skip_bytes=900_000)
    lines = sorted({ln.strip() for d in docs for ln in d.splitlines() if 12 < len(ln.strip()) < 28})
    rng = random.Random(0)
    mc, cont = [], []
    for i in range(10):
        context, *choices = rng.sample(lines, 4)
        mc.append({"context": context, "choices": choices, "answer": i % 3})
    for _ in range(6):
        context, continuation = rng.sample(lines, 2)
        cont.append({"context": context, "continuation": continuation})
    for name, rows in (("mc", mc), ("cont", cont)):
        with open(folder / f"{name}.jsonl", "w") as fh:
            fh.writelines(json.dumps(r) + "\n" for r in rows)
    return folder, mc, cont


def loglikelihood(model, tok, context, continuation):
    """(sum log p, n tokens) of the continuation, tokenized as lm-eval does (whole minus context)."""
    whole = tok(context + continuation, add_special_tokens=False)["input_ids"]
    ctx = tok(context, add_special_tokens=False)["input_ids"]
    cont = whole[len(ctx):]
    ids = torch.tensor(ctx + cont)[None]
    assert ids.shape[1] <= 64
    with torch.no_grad():
        logp = torch.log_softmax(model(input_ids=ids[:, :-1]).logits.double(), -1)[0]
    targets = ids[0, 1:]
    picked = logp[torch.arange(len(targets)), targets][-len(cont):]
    return float(picked.sum()), len(cont)


def test_local_tasks_accuracy_and_gold_nll_match_a_hand_computation(tasks, tmp_path):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    folder, mc, cont = tasks
    suite = cached_tiny_suite()
    out = tmp_path / "tasks"
    result = CliRunner().invoke(main, ["eval", "--suite", str(suite), "--models", "tiny-b", "--steps", "8",
                                       "--tasks", f"mc={folder / 'mc.jsonl'},cont={folder / 'cont.jsonl'}",
                                       "--threads", "1", "--no-progress", "--out", str(out), "--json",
                                       "--dtype", "float32"],  # fp32 on a GPU too: compared to 1e-5
                                catch_exceptions=False)
    assert result.exit_code == 0, result.output
    json.loads(result.stdout)
    rows = pd.read_parquet(out / "evals.parquet")
    got = rows.set_index(["task", "metric"])["value"]
    assert set(rows["step"]) == {8} and set(rows["model"]) == {"tiny-b"}

    ckpt = suite.parent / "tiny-b" / "step8"
    model = AutoModelForCausalLM.from_pretrained(ckpt).eval()
    tok = AutoTokenizer.from_pretrained(ckpt)
    acc, acc_norm, gold = [], [], []
    for row in mc:
        lls = [loglikelihood(model, tok, row["context"], " " + c) for c in row["choices"]]
        ll = np.array([s for s, _ in lls])
        acc.append(int(np.argmax(ll)) == row["answer"])
        acc_norm.append(int(np.argmax(ll / np.array([len(c) for c in row["choices"]]))) == row["answer"])
        s, n = lls[row["answer"]]
        gold.append(-s / n)
    assert got[("mc", "acc")] == pytest.approx(np.mean(acc))
    assert got[("mc", "acc_norm")] == pytest.approx(np.mean(acc_norm))
    assert got[("mc", "gold_ce")] == pytest.approx(np.mean(gold), rel=1e-5)
    gold_cont = [-s / n for s, n in (loglikelihood(model, tok, r["context"], " " + r["continuation"]) for r in cont)]
    assert got[("cont", "gold_ce")] == pytest.approx(np.mean(gold_cont), rel=1e-5)
    n_examples = rows.set_index(["task", "metric"])["n_examples"]
    assert n_examples[("mc", "gold_ce")] == 10 and n_examples[("cont", "gold_ce")] == 6

    # se over examples for each plain mean (a 0/1 metric: the 95% Wilson half-width / 1.96; gold_ce:
    # sample SD / sqrt n), none for the perplexity
    se = rows.set_index(["task", "metric"])["se"]
    by = rows.set_index(["task", "metric"])["se_by"]
    cont_acc = []
    for r in cont:  # acc of a completion: the continuation is the greedy one, token by token
        ctx = tok(r["context"], add_special_tokens=False)["input_ids"]
        ids = tok(r["context"] + " " + r["continuation"], add_special_tokens=False)["input_ids"]
        with torch.no_grad():
            logits = model(input_ids=torch.tensor(ids[:-1])[None]).logits[0]
        cont_acc.append(bool((logits.argmax(-1)[len(ctx) - 1:] == torch.tensor(ids[len(ctx):])).all()))
    assert got[("cont", "acc")] == pytest.approx(np.mean(cont_acc))
    for key, values in [(("mc", "acc"), acc), (("mc", "acc_norm"), acc_norm), (("cont", "acc"), cont_acc)]:
        n, p, z = len(values), np.mean(values), norm.ppf(0.975)
        assert se[key] == pytest.approx(np.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n), rel=1e-9)
        assert by[key] == "examples (wilson)"
    assert by[("mc", "gold_ce")] == by[("cont", "gold_ce")] == "examples"
    assert se[("mc", "acc")] > 0 and se[("mc", "acc_norm")] > 0, (acc, acc_norm, cont_acc)
    assert se[("mc", "gold_ce")] == pytest.approx(np.std(gold, ddof=1) / np.sqrt(10), rel=1e-4)
    assert se[("cont", "gold_ce")] == pytest.approx(np.std(gold_cont, ddof=1) / np.sqrt(6), rel=1e-4)
    assert ("cont", "perplexity") not in se.index  # per continuation, not per token: gold_ce is reported
    # the wide table and report.md give each se beside its value
    wide = pd.read_csv(out / "evals_wide.csv")
    cols = list(wide.columns)
    for name in ("mc/acc", "mc/acc_norm", "mc/gold_ce", "cont/acc", "cont/gold_ce"):
        assert cols[cols.index(name) + 1] == f"{name}_se"
        assert wide[f"{name}_se"].iloc[0] == pytest.approx(se[tuple(name.split("/"))], rel=1e-6)
    assert "cont/perplexity_se" not in cols
    assert "mc/acc_se" in (out / "report.md").read_text()


def test_malformed_task_files_are_input_errors(tmp_path):
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"question": "no context"}\n')
    with pytest.raises(InputError, match="context"):
        jsonl_task("bad", bad)
    bad.write_text('{"context": "x", "choices": ["a", "b"]}\n')
    with pytest.raises(InputError, match="answer"):
        jsonl_task("bad", bad)
    bad.write_text("not json\n")
    with pytest.raises(InputError, match="not valid JSON"):
        jsonl_task("bad", bad)
    good = '{"context": "x", "choices": ["a", "b"], "answer": 1}\n'
    for second, message in [("{bad json", "row 2: not valid JSON"),
                            ('{"context": "y", "choices": ["a", "b"], "answer": 5}', "row 2: 'answer' = 5 is not an index"),
                            ('{"context": "y", "choices": [], "answer": 0}', "row 2: 'choices' must be a non-empty"),
                            ('{"context": "y", "continuation": "z"}', "row 2 is a completion"),
                            ('{"context": "y", "choices": ["a"], "answer": true}', "'answer' = True")]:
        bad.write_text(good + second + "\n")
        with pytest.raises(InputError, match=re.escape(message)):
            jsonl_task("bad", bad)
    bad.write_text(good + '{"context": "y", "choices": ["a", "b"], "answer": "0"}\n')
    assert jsonl_task("ok", bad).n_examples == 2


def test_task_and_token_file_errors_are_one_line_before_any_model_loads(tmp_path):
    from click.testing import CliRunner
    from tinysuite import cached_tiny_suite

    from scalefit.cli import main

    task = tmp_path / "t.jsonl"
    task.write_text('{"context": "x", "choices": ["a", "b"], "answer": 1}\n' * 2)
    neg = tmp_path / "neg.npy"
    np.save(neg, np.array([1, 2, -3, 4], dtype=np.int64))
    base = ["eval", "--suite", str(cached_tiny_suite()), "--models", "tiny-a", "--steps", "8", "--no-progress",
            "--out", str(tmp_path / "o")]
    (tmp_path / "file").write_text("x")
    for extra, message in [(["--tasks", f"t={task}", "--num-fewshot", "5"], "--num-fewshot 5: task t has 2 examples"),
                           (["--dataset", f"n={neg}"], "token id -3 at position 2 is negative"),
                           (["--tasks", "lambada_opnai"],  # one lm-eval task scan, ~7 s
                            "--tasks lambada_opnai: lm-eval has no task of that name; give an lm-eval task or "
                            "NAME=FILE.jsonl for a local task; did you mean 'lambada_openai'"),
                           (["--dataset", f"v={tmp_path / 'file'}", "--cache-dir", str(tmp_path / "file")],
                            "--cache-dir")]:
        result = CliRunner().invoke(main, base + extra)
        assert result.exit_code == 2, result.output
        assert message in result.stderr and len(result.stderr.strip().splitlines()) == 1
        assert not (tmp_path / "o" / "parts").exists()


@pytest.mark.slow
def test_tasks_outside_a_git_repository_print_no_git_error(tasks, tmp_path, monkeypatch, capfd):
    """lm-eval ran `git describe` in the working directory; outside a repository git printed
    'fatal: not a git repository' among the sweep's lines. With --no-progress, lm-eval's and
    datasets' own bars ("Running loglikelihood requests", "Generating test split") are hidden too.
    In this process: git writes to file descriptor 2 (capfd), the bars to sys.stderr (the runner)."""
    folder, _, _ = tasks
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("GIT_CEILING_DIRECTORIES", str(tmp_path.parent))
    done = CliRunner().invoke(main, ["eval", "--suite", str(cached_tiny_suite()), "--models", "tiny-a", "--steps", "8",
                                     "--tasks", f"mc={folder / 'mc.jsonl'}", "--task-limit", "3", "--no-progress",
                                     "--out", str(tmp_path / "o")])
    err = done.stderr + capfd.readouterr().err
    assert done.exit_code == 0, err
    assert "not a git repository" not in err and "1 checkpoint measured" in err
    assert "it/s" not in err and "examples/s" not in err, err


def test_an_unknown_task_is_offered_up_to_three_near_names_and_no_list(monkeypatch):
    """The one near-name matcher (errors.suggestion) at difflib's 0.6, closest first; lm-eval's
    thousands of names are never listed."""
    from types import SimpleNamespace

    from scalefit.evals import downstream

    known = ["lambada", "lambada_openai", "lambada_standard", "lambada_openai_mt_de", "piqa"]
    monkeypatch.setattr(downstream, "_task_manager", lambda defaults: SimpleNamespace(all_tasks=known))
    downstream.check_task_names(["piqa", "lambada"])
    # difflib ratios to 'lambada_opnai': 0.96, 0.79 (_mt_de), 0.70 (lambada), 0.69 (lambada_standard)
    with pytest.raises(InputError, match=r"for a local task; did you mean 'lambada_openai', "
                                         r"'lambada_openai_mt_de' or 'lambada'\?$"):
        downstream.check_task_names(["piqa", "lambada_opnai"])
    with pytest.raises(InputError, match=r"--tasks hellaswag: lm-eval has no task of that name; give an "
                                         r"lm-eval task or NAME=FILE\.jsonl for a local task$"):
        downstream.check_task_names(["hellaswag"])


def test_one_task_name_for_two_task_files_is_refused(tmp_path):
    """--tasks mc=a.jsonl --tasks mc=b.jsonl measured one of them and dropped the other in
    silence (lm-eval keys its results by task name); the same task twice is measured once."""
    from scalefit.evals.downstream import task_measurements

    a, b = tmp_path / "a.jsonl", tmp_path / "b.jsonl"
    a.write_text('{"context": "x", "choices": ["a", "b"], "answer": 1}\n' * 2)
    b.write_text('{"context": "y", "continuation": "z"}\n' * 2)
    with pytest.raises(InputError, match="--tasks: the name mc is given to two different tasks"):
        task_measurements(tasks=[f"mc={a}", f"mc={b}"])
    measured = task_measurements(tasks=[f"mc={a}", f"mc={a}", f"other={b}"])
    assert [m.name for m in measured] == ["tasks:mc", "tasks:other"]  # mc once


def test_a_rerun_that_adds_a_task_measures_only_that_task(tasks, tmp_path):
    """All tasks were one measurement: adding a task on a re-run measured every task again, and
    the old tasks' rows stood twice in the table."""
    from tinysuite import cached_tiny_suite

    folder, _, _ = tasks
    out = tmp_path / "o"
    base = ["eval", "--suite", str(cached_tiny_suite()), "--models", "tiny-a", "--steps", "8", "--device", "cpu",
            "--threads", "1", "--no-progress", "--task-limit", "3", "--out", str(out)]
    first = CliRunner().invoke(main, [*base, "--tasks", f"mc={folder / 'mc.jsonl'}"])
    assert first.exit_code == 0, first.output
    (mc_part,) = (out / "parts").rglob("evals--tasks_mc.parquet")
    stamp = mc_part.stat().st_mtime_ns
    again = CliRunner().invoke(main, [*base, "--tasks", f"mc={folder / 'mc.jsonl'},cont={folder / 'cont.jsonl'}"])
    assert again.exit_code == 0, again.output
    assert mc_part.stat().st_mtime_ns == stamp
    rows = pd.read_parquet(out / "evals.parquet")
    assert not rows.duplicated(["model", "step", "task", "metric"]).any()
    assert set(rows["task"]) == {"mc", "cont"}
    # each task's own options: another --task-limit for mc is refused, naming that task
    other = CliRunner().invoke(main, [*base[:-4], "--task-limit", "2", "--out", str(out),
                                      "--tasks", f"mc={folder / 'mc.jsonl'}"])
    assert other.exit_code == 2 and "(tasks:mc)" in other.stderr, other.output


def test_a_folder_whose_tasks_were_measured_together_is_not_added_to(tasks, tmp_path):
    folder, _, _ = tasks
    out = tmp_path / "old"
    out.mkdir()
    (out / "measurements.json").write_text(json.dumps({"tasks:mc,cont": {"--seed": 0}}))
    result = CliRunner().invoke(main, ["eval", "--suite", str(cached_tiny_suite()), "--models", "tiny-a", "--steps",
                                       "8", "--device", "cpu", "--no-progress", "--tasks", f"mc={folder / 'mc.jsonl'}",
                                       "--out", str(out)])
    assert result.exit_code == 2, result.output
    assert "its tasks were measured together (tasks:mc,cont) by an earlier scalefit" in result.stderr
    assert not (out / "parts").exists()


def test_plain_mean_se_only_for_means_of_the_logged_values_of_one_filter():
    """se over examples only where lm-eval's value is the mean of the per-example values it
    logged: a perplexity (exp of a mean), an f1 of (gold, pred) pairs and a value that is not the
    mean get none. A task logs each example once per filter: a metric counts only its filter's."""
    from scalefit.evals.downstream import filter_samples, plain_mean_se

    logged = [{"filter": f, "exact_match": v, "perplexity": -2.0 * (i + 1), "f1": ("a", "b")}
              for f, values in (("strict", [1.0, 0.0, 0.0, 1.0, 1.0]), ("flexible", [1.0] * 5))
              for i, v in enumerate(values)]
    strict = filter_samples(logged, "strict")
    assert len(strict) == 5 and len(filter_samples(logged, "flexible")) == 5
    assert filter_samples(logged, "") == logged
    z = norm.ppf(0.975)
    wilson = np.sqrt(0.24 / 5 + z * z / 100) / (1 + z * z / 5)  # 3 of 5: the Wilson SE
    assert plain_mean_se(strict, "exact_match", 0.6) == (pytest.approx(wilson, rel=1e-9), "examples (wilson)")
    at_one = plain_mean_se(filter_samples(logged, "flexible"), "exact_match", 1.0)  # 5 of 5: not 0
    assert at_one == (pytest.approx(z / (2 * (5 + z * z)), rel=1e-9), "examples (wilson)")
    assert plain_mean_se(strict, "exact_match", 0.6 + 1e-6) is None  # not its mean
    assert plain_mean_se(strict, "perplexity", float(np.exp(6.0))) is None
    assert plain_mean_se(strict, "f1", 0.5) is None
    assert plain_mean_se(strict, "missing", 0.5) is None
    assert plain_mean_se(strict[:1], "exact_match", 1.0) is None  # one example: no SD
