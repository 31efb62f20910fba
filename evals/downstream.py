"""Downstream tasks through lm-eval 0.4 on the model already in memory (no second load).

Tasks are lm-eval names (`lambada_openai`) or local JSONL files turned into task dicts at run
time. Each task gives its accuracy metrics and the gold-answer cross-entropy: the mean over
examples of the per-token NLL of the correct continuation, the "task loss" that loss-to-loss
prediction uses. A metric that is a mean over examples (and gold_ce) carries its standard error
over examples, `se`, and `se_by` says how it was taken:

- `examples (wilson)`: a metric whose every example scores 0 or 1 (acc, acc_norm, exact_match), a
  proportion p of n examples: the half-width of its 95% Wilson score interval over 1.96,
  sqrt(p (1 - p) / n + z^2 / (4 n^2)) / (1 + z^2 / n) with z = 1.96 (Wilson 1927; recommended over
  the Wald sd / sqrt(n) by Brown, Cai and DasGupta 2001). Within n / (n + 3.84) of the Wald SE
  in the interior, it is not 0 at 0% or 100% correct (there z / (2 (n + z^2)), about 1 / n),
  where the sample SD said 0: 0/100 correct is not a certain 0%. p +- 1.96 se holds the true
  accuracy with probability 0.93 or more for 50 to 500 examples at accuracies from 0.2% to 50%
  (exact binomial sums; 0.89 at 20 examples and 50%), where p +- 1.96 sd / sqrt(n) fell to 0.10-0.40
  at 50 examples and accuracies of 1% or less; near the edges the Wilson interval itself
  (asymmetric) is the one to quote.
- `examples`: any other mean over examples (gold_ce, a graded metric): sd (ddof=1) / sqrt(n).
"""
from __future__ import annotations

import functools
import math
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from scalefit.errors import InputError, suggestion
from scalefit.evals.evalset import SE_COLUMNS, SE_RULE
from scalefit.evals.tokens import jsonl_objects
from scalefit.sweep.engine import Measurement
from scalefit.sweep.measurements import MeasurementKind, register_measurement

ACC_METRICS = ("acc", "acc_norm", "exact_match", "perplexity", "word_perplexity")
WILSON_Z = 1.959963984540054  # the 97.5% normal quantile: se is the 95% Wilson interval's half-width over it
SE_BY_EXAMPLES = "examples"  # sd / sqrt(n) over examples
SE_BY_WILSON = "examples (wilson)"  # a 0/1 metric: the Wilson score interval's half-width / z


@dataclass(frozen=True)
class TaskSpec:
    """A task: an lm-eval task name, or a dict config built from a local JSONL file."""

    name: str
    config: dict | None = None
    n_examples: int | None = None  # rows of a local task file

    @property
    def request(self):
        """What lm-eval's task manager accepts: the name or the config dict."""
        return self.config if self.config is not None else self.name


def jsonl_task(name: str, path) -> TaskSpec:
    """A multiple-choice task from JSONL rows {context, choices, answer} (answer = index),
    or a completion task from rows {context, continuation}; either is scored after a space."""
    path = Path(path).resolve()
    if not path.exists():
        raise InputError(f"--tasks {name}: {path}: file not found")
    try:
        rows = task_rows(path)
    except InputError as exc:
        raise InputError(f"--tasks {name}: {exc}") from None
    row = rows[0]
    base = {"task": name, "dataset_path": "json", "dataset_kwargs": {"data_files": {"test": str(path)}},
            "test_split": "test", "doc_to_text": "{{context}}", "target_delimiter": " "}
    if "choices" in row:
        if "answer" not in row:
            raise InputError(f"{path}: row 1: a multiple-choice row needs 'answer' (index of the gold choice)")
        cfg = {**base, "output_type": "multiple_choice", "doc_to_choice": "{{choices}}",
               "doc_to_target": "{{answer}}",
               "metric_list": [{"metric": "acc", "aggregation": "mean", "higher_is_better": True},
                               {"metric": "acc_norm", "aggregation": "mean", "higher_is_better": True}]}
    elif "continuation" in row:
        # lm-eval puts no delimiter before a loglikelihood target: add the space here, as for choices.
        # No lm-eval `perplexity`: it is exp(mean over examples of a continuation's summed NLL), per
        # continuation (6e+66 beside a per-token gold_ce of 6.2 on a tiny model); gold_ce is per token
        cfg = {**base, "output_type": "loglikelihood", "doc_to_target": " {{continuation}}",
               "metric_list": [{"metric": "acc", "aggregation": "mean", "higher_is_better": True}]}
    else:
        raise InputError(f"{path}: row 1: needs 'choices'+'answer' or 'continuation'")
    return TaskSpec(name=name, config=cfg, n_examples=len(rows))


def task_rows(path: Path) -> list[dict]:
    """Every row of a local task file, checked before any model loads: valid JSON objects with a
    string 'context', all multiple-choice ({choices, answer}: a non-empty list and an index into
    it) or all completion ({continuation}: a string). InputError naming the row otherwise."""
    rows, kind = [], None
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"{path}: cannot read the task file ({exc})") from None
    for i, row in jsonl_objects(lines, path):
        if not isinstance(row, dict) or not isinstance(row.get("context"), str):
            raise InputError(f"{path}: row {i}: needs a string 'context' field (and 'choices'+'answer' "
                             "or 'continuation')")
        if "choices" in row:
            choices, answer = row["choices"], row.get("answer")
            if not isinstance(choices, list) or not choices or not all(isinstance(c, str) for c in choices):
                raise InputError(f"{path}: row {i}: 'choices' must be a non-empty list of strings")
            if "answer" not in row:
                raise InputError(f"{path}: row {i}: a multiple-choice row needs 'answer' (index of the gold choice)")
            index = int(answer) if isinstance(answer, str) and answer.strip().isdigit() else answer
            if isinstance(index, bool) or not isinstance(index, int) or not 0 <= index < len(choices):
                raise InputError(f"{path}: row {i}: 'answer' = {answer!r} is not an index of its "
                                 f"{len(choices)} choices (0 to {len(choices) - 1})")
            this = "multiple-choice ({choices, answer})"
        elif "continuation" in row:
            if not isinstance(row["continuation"], str):
                raise InputError(f"{path}: row {i}: 'continuation' must be a string")
            this = "completion ({continuation})"
        else:
            raise InputError(f"{path}: row {i}: needs 'choices'+'answer' or 'continuation'")
        if kind is not None and this != kind:
            raise InputError(f"{path}: row {i} is a {this} row but row 1 is {kind}; one kind of row per task file")
        kind = kind or this
        rows.append(row)
    if not rows:
        raise InputError(f"{path}: the task file has no rows")
    return rows


def parse_task(text: str) -> TaskSpec:
    """'NAME' (an lm-eval task) or 'NAME=FILE.jsonl' (a local task)."""
    if "=" in text:
        name, path = (p.strip() for p in text.split("=", 1))
        if not name:
            raise InputError(f"--tasks '{text}': use NAME or NAME=FILE.jsonl")
        return jsonl_task(name, path)
    if not text.strip():
        raise InputError("--tasks: empty task name")
    return TaskSpec(name=text.strip())


def _gold_nll_per_token(sample: dict, lm) -> float | None:
    """NLL per token of the gold continuation of one logged lm-eval sample."""
    resps = sample.get("filtered_resps") or sample.get("resps")
    args = sample.get("arguments")
    if not resps or not args:
        return None
    target = sample.get("target")
    if len(resps) == 1:
        gold = 0
    else:
        try:
            gold = int(target)
        except (TypeError, ValueError):
            return None
    if not 0 <= gold < len(resps):
        return None
    ll = resps[gold]
    ll = ll[0] if isinstance(ll, (list, tuple)) else ll
    ll = ll[0] if isinstance(ll, (list, tuple)) else ll
    arg = args[gold]
    context, continuation = arg[0], arg[1]
    n = len(lm._encode_pair(context, continuation)[1])
    return -float(ll) / n if n else None


def mean_se(values) -> float:
    """Standard error of a mean over independent examples: sample SD (ddof=1) / sqrt(n); nan below 2."""
    values = np.asarray(values, dtype=np.float64)
    return float(values.std(ddof=1) / np.sqrt(values.size)) if values.size >= 2 else float("nan")


def binomial_se(successes: float, n: int) -> float:
    """The SE of a proportion successes / n quoted beside it: the half-width of its 95% Wilson
    score interval over z = 1.96, never 0 for n >= 1 (z / (2 (n + z^2)) at 0 or n successes);
    nan for n < 1."""
    if n < 1:
        return float("nan")
    z2, p = WILSON_Z ** 2, successes / n
    return float(math.sqrt(p * (1 - p) / n + z2 / (4 * n * n)) / (1 + z2 / n))


def example_se(values) -> tuple[float, str]:
    """(SE, se_by) of a mean over examples: binomial_se where every value is 0 or 1 (a proportion),
    else mean_se, the sample SD over sqrt(n)."""
    values = np.asarray(values, dtype=np.float64)
    if values.size and np.isin(values, (0.0, 1.0)).all():
        return binomial_se(float(values.sum()), int(values.size)), SE_BY_WILSON
    return mean_se(values), SE_BY_EXAMPLES


def filter_samples(samples: list[dict], filt: str) -> list[dict]:
    """The logged samples of one lm-eval filter (a task logs each example once per filter)."""
    return [s for s in samples if s.get("filter") == filt] if filt else samples


def plain_mean_se(samples: list[dict], metric: str, value: float) -> tuple[float, str] | None:
    """(SE, se_by) over examples of a metric whose reported value is the plain mean of its logged
    per-example values (acc, acc_norm, exact_match; checked: the mean equals `value` to 1e-9), by
    example_se (a 0/1 metric: the Wilson SE); None for any other aggregation (perplexity, f1, ...),
    where a per-example SD says nothing, and below two examples."""
    try:
        values = np.asarray([s[metric] for s in samples], dtype=np.float64)
    except (KeyError, TypeError, ValueError):
        return None
    if values.ndim != 1 or values.size < 2 or not np.isfinite(values).all() or \
            not np.isclose(values.mean(), value, rtol=1e-9, atol=1e-9):
        return None
    return example_se(values)


@contextmanager
def silent_bars(silent: bool = True):
    """Hide the bars lm-eval and datasets draw inside one checkpoint (--no-progress): tqdm reads
    TQDM_DISABLE when it is imported, and lm-eval passes disable=False itself, so the flag is forced."""
    if not silent:
        yield
        return
    from tqdm import tqdm

    init = tqdm.__init__

    def quiet(self, *args, **kwargs):
        kwargs["disable"] = True
        init(self, *args, **kwargs)

    tqdm.__init__ = quiet
    try:
        yield
    finally:
        tqdm.__init__ = init


def hflm_precision(hflm_class) -> dict:
    """HFLM's options for fp32 log-probabilities: softmax_dtype="float32" where this lm-eval's HFLM
    takes it (0.4.13 does; an lm-eval whose HFLM does not is left as it was), so that a task's log-likelihoods
    (acc, gold_ce) are a log-softmax in fp32 of the logits, not one in the weights' dtype (bf16 on
    a GPU: about 3 significant digits)."""
    import inspect

    try:
        takes = "softmax_dtype" in inspect.signature(hflm_class.__init__).parameters
    except (TypeError, ValueError):
        takes = False
    return {"softmax_dtype": "float32"} if takes else {}


@functools.lru_cache(maxsize=2)
def _task_manager(include_defaults: bool):
    """lm-eval's TaskManager, made once per process: with its default tasks it scans every task
    YAML (15-30 s), which one call per task and checkpoint must not repeat."""
    from lm_eval.tasks import TaskManager

    return TaskManager(include_defaults=include_defaults)


def run_tasks(model, tokenizer, tasks: list[TaskSpec], *, batch_size: int = 8, limit: int | None = None,
              num_fewshot: int | None = None, seed: int = 0, progress: bool = True) -> pd.DataFrame:
    """Run lm-eval tasks on a loaded model; long rows (task, metric, value, n_tokens), each with
    its `se` over examples where the value is a mean over them (lm-eval's own stderr is not
    computed: bootstrap_iters=0). progress=False hides lm-eval's own bars (the sweep's too)."""
    import lm_eval.evaluator
    from lm_eval import simple_evaluate
    from lm_eval.models.huggingface import HFLM

    # lm-eval runs `git describe` in the working directory for its own logs; outside a repository
    # git prints "fatal: not a git repository" on the terminal. run.json holds our provenance.
    if hasattr(lm_eval.evaluator, "get_git_commit_hash"):
        lm_eval.evaluator.get_git_commit_hash = lambda: None
    lm = HFLM(pretrained=model, tokenizer=tokenizer, batch_size=batch_size, **hflm_precision(HFLM))
    manager = _task_manager(any(t.config is None for t in tasks))
    with silent_bars(not progress):
        out = simple_evaluate(model=lm, tasks=[t.request for t in tasks], task_manager=manager,
                              num_fewshot=num_fewshot, limit=limit, log_samples=True, bootstrap_iters=0,
                              random_seed=seed, numpy_random_seed=seed, torch_random_seed=seed,
                              fewshot_random_seed=seed)
    rows = []
    results = out.get("results", {})
    samples = out.get("samples", {})
    for task, metrics in results.items():
        logged = samples.get(task, [])
        for key, value in metrics.items():
            metric, _, filt = key.partition(",")
            if metric.endswith("_stderr") or metric in ("alias", "sample_len") or \
                    not isinstance(value, (int, float)) or isinstance(value, bool):
                continue
            of_filter = filter_samples(logged, filt)
            se, se_by = plain_mean_se(of_filter, metric, float(value)) or (None, None)
            rows.append({"task": task, "metric": metric, "value": float(value), "n_tokens": None,
                         "n_examples": len(of_filter), "filter": filt or None, "se": se, "se_by": se_by})
        gold = [g for g in (_gold_nll_per_token(s, lm) for s in logged) if g is not None]
        if gold:
            se = mean_se(gold)
            rows.append({"task": task, "metric": "gold_ce", "value": float(np.mean(gold)), "n_tokens": None,
                         "n_examples": len(gold), "filter": None, "se": se,
                         "se_by": SE_BY_EXAMPLES if np.isfinite(se) else None})
    df = pd.DataFrame(rows, columns=["task", "metric", "value", "n_tokens", "n_examples", "filter", "se", "se_by"])
    df["se_rule"] = SE_RULE
    df.insert(0, "dataset", None)
    df.insert(2, "is_train", False)
    return df


def check_task_names(names) -> None:
    """Refuse an lm-eval task name lm-eval does not know, before any checkpoint loads (it failed
    each checkpoint with a KeyError); the closest known names are suggested. One task scan."""
    if not names:
        return
    for name in names:  # a file given without NAME=: said at once, not after a 15-30 s task scan
        if Path(name).suffix.lower() in (".jsonl", ".json") or Path(name).exists():
            raise InputError(f"--tasks {name}: a local task is NAME=FILE.jsonl, e.g. "
                             f"--tasks {Path(name).stem}={name}")
    known_tasks = set(_task_manager(True).all_tasks)  # the scan the first checkpoint's tasks reuse
    for name in names:
        if name not in known_tasks:
            raise InputError(f"--tasks {name}: lm-eval has no task of that name; give an lm-eval task or "
                             "NAME=FILE.jsonl for a local task"
                             + suggestion(name, sorted(known_tasks), cutoff=0.6, n=3, otherwise=""))


def tasks_measurement(tasks: list[TaskSpec], **options) -> Measurement:
    """A sweep measurement running all `tasks` in one lm-eval call per checkpoint."""
    if not tasks:
        raise InputError("--tasks: no tasks given")

    def measure(model, info) -> pd.DataFrame:
        return run_tasks(model, info.tokenizer, tasks, **options)

    return Measurement(name="tasks:" + ",".join(t.name for t in tasks), fn=measure, table="evals",
                       columns=SE_COLUMNS)



def task_measurements(*, tasks, limit: int | None = None, num_fewshot: int | None = None, seed: int = 0,
                      batch_size: int = 8, progress: bool = True) -> list[Measurement]:
    """The `tasks` kind: one measurement per task (TaskSpec, or NAME / NAME=FILE.jsonl), so that
    each task is its own result file: a re-run that adds a task measures only that one (a single
    measurement of every task measured the old ones again beside their first results, each row
    twice in the table), and each task's options are recorded apart."""
    specs, seen = [], {}
    for spec in (t if isinstance(t, TaskSpec) else parse_task(t) for t in tasks):
        if spec.name in seen:  # lm-eval keys its results by name: a second task of one name vanished
            if seen[spec.name] != spec.request:
                raise InputError(f"--tasks: the name {spec.name} is given to two different tasks; "
                                 "each name once (NAME=FILE.jsonl names a local task)")
            continue
        seen[spec.name] = spec.request
        specs.append(spec)
    check_task_names([t.name for t in specs if t.config is None])
    return [tasks_measurement([spec], limit=limit, num_fewshot=num_fewshot, seed=seed, batch_size=batch_size,
                              progress=progress) for spec in specs]


TASKS = register_measurement(MeasurementKind(
    "tasks", table="evals", build=task_measurements,
    summary="lm-eval tasks on the loaded model: accuracy metrics and the gold-answer cross-entropy"))
