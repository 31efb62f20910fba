"""evaluate(EvalOptions(...)) names a bad option by its argument and its flag, as the API's
other functions do (n_bootstrap (--bootstrap)); `scalefit eval` still names the flag."""
import pytest
from click.testing import CliRunner

from scalefit.errors import InputError


@pytest.mark.parametrize("kw, said", [
    (dict(max_tokens=-1), r"^max_tokens \(--max-tokens\): '-1' is out of range; expected a whole number >= 1"),
    (dict(max_tokens=2.5), r"^max_tokens \(--max-tokens\): '2.5' is not a whole number"),
    (dict(batch_size=0), r"^batch_size \(--batch-size\): '0' is out of range"),
    (dict(num_fewshot="a"), r"^num_fewshot \(--num-fewshot\): 'a' is not a number"),
    (dict(threads=0), r"^threads \(--threads\): '0' is out of range"),
    (dict(seed=-1), r"^seed \(--seed\): '-1' is out of range"),
    (dict(cache_dir=5), r"^cache_dir \(--cache-dir\): got an int; give a folder's path"),
    (dict(out_dir=None), r"^out_dir \(--out\): got a NoneType; give the folder"),
    (dict(on_duplicate="x"), r"^on_duplicate \(--on-duplicate\) x: use warn, skip or fail"),
    (dict(steps="0,x"), r"^steps \(--steps\) '0,x': use all, log, START:STOP:EVERY"),
    (dict(shard="5/4"), r"^shard \(--shard\) '5/4': use K/N"),
    (dict(dtype="int8"), r"^dtype \(--dtype\) int8: use auto, float32"),
    (dict(device="gpu"), r"^device \(--device\) gpu: not a device; use auto, cpu, cuda or cuda:N"),
    (dict(device="cuda:7"), r"^device \(--device\) cuda:7: "),  # no CUDA here, or fewer GPUs: both named
])
def test_eval_options_name_the_argument_and_the_flag(tmp_path, kw, said):
    """EvalOptions(max_tokens=-1) raised "--max-tokens: '-1' is out of range": a flag the
    notebook user never passed (threads=0 and steps='0,x' the same)."""
    from scalefit import EvalOptions, evaluate

    opts = EvalOptions(**{"suite": "pythia", "out_dir": str(tmp_path / "out"), "models": "14m",
                          "steps": [0], "weights": True, "progress": False, **kw})
    with pytest.raises(InputError, match=said):
        evaluate(opts)
    assert not (tmp_path / "out").exists()


def test_the_command_still_names_its_flag_in_one_line(tmp_path):
    """The same check reached from `scalefit eval` is one line that names --steps, exit 2."""
    from scalefit.cli import main

    result = CliRunner().invoke(main, ["eval", "--suite", "pythia", "--models", "14m", "--steps", "0,x",
                                       "--weights", "--out", str(tmp_path / "out")])
    assert result.exit_code == 2, result.output
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1 and "--steps" in lines[0] and "'0,x'" in lines[0], result.output


@pytest.mark.parametrize("args, said", [
    (["--dtype", "float8"], "error: --dtype float8: use auto, float32"),
    (["--steps", "abc"], "error: --steps 'abc': use all, log, START:STOP:EVERY"),
    (["--shard", "5/2"], "error: --shard '5/2': use K/N"),
    (["--device", "gpu"], "error: --device gpu: not a device; use auto, cpu, cuda or cuda:N"),
    (["--device", "cuda:7"], "error: --device cuda:7: "),
])
def test_the_command_names_the_flag_alone(tmp_path, args, said):
    """`scalefit eval --dtype float8` said 'dtype (--dtype) float8: ...' after d98338f: the API's
    field name, which the command's user never typed (`scalefit weights` says the flag alone)."""
    from scalefit.cli import main

    result = CliRunner().invoke(main, ["eval", "--suite", "pythia", "--models", "14m", "--weights",
                                       "--out", str(tmp_path / "out"), *args])
    assert result.exit_code == 2, result.output
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith(said), result.output
    assert not (tmp_path / "out").exists()


def test_the_values_are_checked_once(tmp_path, monkeypatch):
    """evaluate ran check_values before its executor, then plan ran it again."""
    import scalefit.evals.evaluate as ev
    from scalefit import EvalOptions

    calls = []
    real = ev.check_values
    monkeypatch.setattr(ev, "check_values", lambda *a, **k: (calls.append(1), real(*a, **k))[1])
    opts = EvalOptions(suite="pythia", out_dir=str(tmp_path / "out"), models="14m", steps=[0],
                       weights=True, progress=False, on_duplicate="x")  # refused after the values, in plan
    with pytest.raises(InputError, match=r"^on_duplicate \(--on-duplicate\) x"):
        ev.evaluate(opts)
    assert len(calls) == 1


def test_a_refused_plan_closes_the_executor(tmp_path, monkeypatch):
    """The executor (a Ray cluster --executor ray starts) was made before the plan and closed only
    around the sweep: a plan refused (an InputError) left it running."""
    import scalefit.evals.evaluate as ev
    import scalefit.sweep.executors as executors
    from scalefit import EvalOptions

    closed = []

    class Fake:
        def close(self):
            closed.append(True)

    monkeypatch.setattr(executors, "parse_executor", lambda *a, **k: Fake())

    def refused(*a, **k):
        raise InputError("--models: no such model")

    monkeypatch.setattr(ev, "checked_plan", refused)
    opts = EvalOptions(suite="pythia", out_dir=str(tmp_path / "out"), models="14m", steps=[0],
                       weights=True, progress=False)
    with pytest.raises(InputError, match="no such model"):
        ev.evaluate(opts)
    assert closed == [True]
