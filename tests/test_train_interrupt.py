"""`scalefit suite train` stopped by Ctrl-C or SIGTERM keeps every step it trained: the optimizer
step under way finishes, the run is saved at that step (train_log.csv and a resume point), the
command exits 130 (143), and re-running it ends with the weights of an uninterrupted run."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time

import pandas as pd
import pytest

torch = pytest.importorskip("torch")

from click.testing import CliRunner  # noqa: E402
from safetensors.torch import load_file  # noqa: E402
from tinyspec import MICRO_RECIPE, S1, micro_spec  # noqa: E402

import scalefit.trainer.train as suite_train  # noqa: E402
from scalefit.cli import main  # noqa: E402
from scalefit.trainer.checkpoints import latest_resumable  # noqa: E402
from scalefit.trainer.spec import load_spec  # noqa: E402
from scalefit.trainer.train import TrainingInterrupted, train_run  # noqa: E402

torch.set_num_threads(1)

# resume_every far beyond the run: without the save at the interrupted step, nothing would be kept
RECIPE = micro_spec(name="interrupt", recipe={**MICRO_RECIPE, "resume_every": 100000}, sizes=(S1,))
STEPS = 160  # the signal comes after step 40: 120 steps to spare on a busy machine
GRID = RECIPE + f"[grid]\ntokens = [{32 * STEPS}]\n"  # one run of 160 steps, its only checkpoint the last
LONG = RECIPE + "[long]\ntokens = [640]\nn_even_checkpoints = 2\n"  # 20 steps, kept: 0 1 2 4 8 10 20
RUN = f"grid/s1-D{32 * STEPS}"


@pytest.fixture(scope="module")
def corpus(micro_corpus):
    """The session's micro corpus (read only)."""
    return micro_corpus[0] / "corpus"


@pytest.fixture(scope="module")
def reference(corpus, tmp_path_factory):
    """The grid run trained without interruption: its spec file and final weights."""
    root = tmp_path_factory.mktemp("interrupt")
    spec_path = root / "grid.toml"
    spec_path.write_text(GRID)
    spec = load_spec(spec_path, vocab_size=320)
    (run,) = spec.runs
    assert run.run == RUN and run.steps == STEPS and run.checkpoints == [STEPS]
    train_run(spec, run, corpus, root / "reference", progress=False)
    return spec_path, load_file(str(root / "reference" / RUN / f"step{STEPS}" / "model.safetensors"))


def _same_weights(a: dict, b: dict) -> bool:
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


@pytest.mark.parametrize("signum, status", [(signal.SIGINT, 130), (signal.SIGTERM, 143)], ids=["SIGINT", "SIGTERM"])
def test_an_interrupted_train_keeps_every_step_and_resumes_to_the_same_weights(corpus, reference, tmp_path,
                                                                               signum, status):
    spec_path, final = reference
    args = ["suite", "train", "--spec", str(spec_path), "--corpus", str(corpus), "--out", str(tmp_path / "out"),
            "--json"]
    proc = subprocess.Popen([sys.executable, "-m", "scalefit", *args], env={**os.environ, "OMP_NUM_THREADS": "1"},
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))  # even under nohup
    run_dir = tmp_path / "out" / RUN
    log = run_dir / "train_log.csv"
    deadline = time.time() + 240
    while time.time() < deadline and proc.poll() is None:
        if log.exists() and len(log.read_text().splitlines()) > 40:
            proc.send_signal(signum)
            break
        time.sleep(0.01)
    _, err = proc.communicate(timeout=240)
    assert proc.returncode == status, err[-2000:]
    steps = list(pd.read_csv(log)["step"])
    last = steps[-1]
    assert 40 <= last < STEPS and steps == list(range(1, last + 1)), "the run finished before the signal"
    assert latest_resumable(run_dir) == (last, run_dir / "resume")  # no trained step lost
    assert f"{RUN} stopped at step {last} of {STEPS}" in err and "re-running the same command resumes it" in err
    assert not (run_dir / "result.json").exists()

    again = CliRunner().invoke(main, args)
    assert again.exit_code == 0, again.output
    assert _same_weights(load_file(str(run_dir / f"step{STEPS}" / "model.safetensors")), final)
    assert list(pd.read_csv(log)["step"]) == list(range(1, STEPS + 1))
    assert not (run_dir / "resume").exists()


@pytest.fixture
def long_run(corpus, tmp_path):
    spec_path = tmp_path / "long.toml"
    spec_path.write_text(LONG)
    spec = load_spec(spec_path, vocab_size=320)
    (run,) = spec.runs
    assert run.steps == 20 and 5 not in run.checkpoints and 8 in run.checkpoints
    return spec, run


@pytest.fixture
def handlers():
    """Python's own Ctrl-C handler, and a SIGTERM handler that, as the CLI's, raises KeyboardInterrupt
    (the default would end pytest); yields the SIGTERMs it was handed."""
    before = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)}
    received = []

    def terminated(signum, frame):
        received.append(signum)
        raise KeyboardInterrupt

    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, terminated)
    yield received
    for s, h in before.items():
        signal.signal(s, h)


def _signal_inside_step(monkeypatch, at: int, *signals):
    """Send `signals` to this process from inside optimizer.step() of update `at`, before its update."""
    make = suite_train.make_optimizer
    calls = []

    def make_optimizer(model, recipe, lr):
        optimizer = make(model, recipe, lr)
        update = optimizer.step

        def step(*args, **kwargs):
            calls.append(1)
            if len(calls) == at:
                for s in signals:
                    os.kill(os.getpid(), s)
            return update(*args, **kwargs)

        optimizer.step = step
        return optimizer

    monkeypatch.setattr(suite_train, "make_optimizer", make_optimizer)


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_a_signal_inside_a_step_lets_that_step_finish(corpus, long_run, tmp_path, monkeypatch, handlers, signum):
    spec, run = long_run
    _signal_inside_step(monkeypatch, 5, signum)
    with pytest.raises(KeyboardInterrupt) as stop:  # (a bare one would end the pytest session)
        train_run(spec, run, corpus, tmp_path / "out", progress=False)
    assert isinstance(stop.value, TrainingInterrupted), "the signal stopped the step it came in"
    run_dir = tmp_path / "out" / run.run
    assert (stop.value.run, stop.value.step, stop.value.folder) == (run.run, 5, run_dir / "resume")
    adam = torch.load(run_dir / "resume" / "optimizer.pt", weights_only=True)["state"]
    assert adam and all(int(s["step"]) == 5 for s in adam.values())  # every tensor took the 5th update
    assert latest_resumable(run_dir) == (5, run_dir / "resume")
    assert list(pd.read_csv(run_dir / "train_log.csv")["step"]) == [1, 2, 3, 4, 5]
    assert handlers == ([signal.SIGTERM] if signum == signal.SIGTERM else [])  # handed on once, after the step
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler  # restored
    assert signal.getsignal(signal.SIGTERM).__name__ == "terminated"


def test_a_signal_at_a_kept_checkpoint_writes_no_second_copy(corpus, long_run, tmp_path, monkeypatch, handlers):
    spec, run = long_run
    _signal_inside_step(monkeypatch, 8, signal.SIGINT)
    with pytest.raises(KeyboardInterrupt) as stop:  # (a bare one would end the pytest session)
        train_run(spec, run, corpus, tmp_path / "out", progress=False)
    assert isinstance(stop.value, TrainingInterrupted), "the signal stopped the step it came in"
    run_dir = tmp_path / "out" / run.run
    assert stop.value.folder == run_dir / "step8" and not (run_dir / "resume").exists()
    assert latest_resumable(run_dir) == (8, run_dir / "step8")


def test_a_signal_while_a_checkpoint_is_written_lets_the_write_finish(corpus, long_run, tmp_path, monkeypatch,
                                                                      handlers, capfd):
    """...and says the step training stops at: the signal comes after step 4's check, so it is
    taken at the end of step 5 (the message said 'finishes step 4', then trained step 5)."""
    spec, run = long_run
    save = suite_train.save_checkpoint

    def save_checkpoint(folder, *args, **kwargs):
        if folder.name == "step4":
            os.kill(os.getpid(), signal.SIGINT)
        return save(folder, *args, **kwargs)

    monkeypatch.setattr(suite_train, "save_checkpoint", save_checkpoint)
    with pytest.raises(KeyboardInterrupt) as stop:
        train_run(spec, run, corpus, tmp_path / "out", progress=False)
    run_dir = tmp_path / "out" / run.run
    assert isinstance(stop.value, TrainingInterrupted) and stop.value.step in (4, 5)
    said = capfd.readouterr().err
    assert f"{run.run} finishes step {stop.value.step}, saves it" in said, said
    assert (run_dir / "step4" / "model.safetensors").is_file() and (run_dir / "step4" / "optimizer.pt").is_file()
    assert latest_resumable(run_dir)[0] == stop.value.step


def test_a_second_signal_stops_at_once(corpus, long_run, tmp_path, monkeypatch, handlers, capfd):
    spec, run = long_run
    _signal_inside_step(monkeypatch, 5, signal.SIGINT, signal.SIGINT)
    with pytest.raises(KeyboardInterrupt) as stop:
        train_run(spec, run, corpus, tmp_path / "out", progress=False)
    run_dir = tmp_path / "out" / run.run
    assert not isinstance(stop.value, TrainingInterrupted)
    assert "SIGINT again: stopping now, inside step 5" in capfd.readouterr().err
    assert latest_resumable(run_dir) == (4, run_dir / "step4")  # step 5 was cut short: not saved
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


def test_training_outside_the_main_thread_holds_no_signal(corpus, long_run, tmp_path, handlers):
    spec, run = long_run
    errors = []

    def train():
        try:
            train_run(spec, run, corpus, tmp_path / "out", progress=False)
        except BaseException as exc:  # noqa: BLE001 - reported by the assertion below
            errors.append(exc)

    worker = threading.Thread(target=train)
    worker.start()
    worker.join(timeout=120)
    assert not errors and (tmp_path / "out" / run.run / "result.json").exists()
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


def test_ctrl_c_while_suite_sweep_writes_its_tables_says_where_the_results_are(corpus, tmp_path, monkeypatch):
    """The tables step of `suite sweep --tables` was outside the command's Ctrl-C path (a bare
    'interrupted'); it now says where the measured results are and that a re-run writes the tables."""
    import scalefit.trainer.sweep as suite_sweep
    from scalefit.sweep.engine import SweepSummary

    def stop(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(suite_sweep, "sweep_suite", lambda *a, **k: SweepSummary())
    monkeypatch.setattr(suite_sweep, "suite_tables", stop)
    spec_path = tmp_path / "grid.toml"
    spec_path.write_text(GRID)
    result = CliRunner().invoke(main, ["suite", "sweep", "--spec", str(spec_path), "--corpus", str(corpus),
                                       "--suite-dir", str(tmp_path / "suite"), "--out", str(tmp_path / "sw"),
                                       "--tables", str(tmp_path / "tables")])
    assert result.exit_code == 130, result.output
    assert (f"results so far are in {tmp_path / 'sw'} (re-run the same command to measure the rest and write "
            "the tables)") in result.stderr


def test_every_run_keeps_its_last_step_so_a_stop_while_it_is_evaluated_loses_no_training(tmp_path):
    """An interrupt in evaluate_run (after the loop, signals no longer held) costs only the
    evaluation: the last step is a kept checkpoint of every part's runs, which a re-run resumes."""
    from test_suite_micro import MICRO_SPEC, WSD_SPEC

    init = '[[init]]\nsizes = ["s1"]\ntokens = [640]\nmodes = ["pythia"]\nseeds = [1, 2]\n'
    runs = []
    for i, text in enumerate((MICRO_SPEC, WSD_SPEC, RECIPE + init)):
        path = tmp_path / f"spec{i}.toml"
        path.write_text(text)
        runs += load_spec(path, vocab_size=320).runs
    assert {r.part for r in runs} | {r.also for r in runs if r.also} == {"grid", "long", "code", "warmup", "wsd",
                                                                         "init"}
    assert all(r.steps in r.checkpoints for r in runs), [r.run for r in runs if r.steps not in r.checkpoints]


def test_a_stop_while_a_run_is_evaluated_resumes_at_its_last_step(corpus, long_run, tmp_path, monkeypatch):
    spec, run = long_run
    evaluate = suite_train.evaluate_run

    def stop(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(suite_train, "evaluate_run", stop)
    with pytest.raises(KeyboardInterrupt):
        train_run(spec, run, corpus, tmp_path / "out", progress=False)
    run_dir = tmp_path / "out" / run.run
    assert latest_resumable(run_dir) == (20, run_dir / "step20") and not (run_dir / "result.json").exists()
    monkeypatch.setattr(suite_train, "evaluate_run", evaluate)
    monkeypatch.setattr(suite_train, "_causal_loss", stop)  # a re-run trains no step again
    row = train_run(spec, run, corpus, tmp_path / "out", progress=False)
    assert row["steps"] == 20 and (run_dir / "result.json").exists()
    assert list(pd.read_csv(run_dir / "train_log.csv")["step"]) == list(range(1, 21))
