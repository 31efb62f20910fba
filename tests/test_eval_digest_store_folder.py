"""The digest store (evals.tokens.DIGEST_STORE) is a cache kept beside a sweep's results, never
what makes a folder look like one: an eval into an existing empty --out that fails after its
plan leaves the folder empty, so an analysis command can write there."""
from __future__ import annotations

import pytest

pytest.importorskip("torch")
from click.testing import CliRunner  # noqa: E402

from scalefit.cli import main  # noqa: E402
from scalefit.errors import InputError  # noqa: E402
from scalefit.evals.tokens import DIGEST_STORE, read_digest_store  # noqa: E402
from scalefit.sweep import engine  # noqa: E402

from test_eval_folder_settings import eval_args  # noqa: E402


def no_cluster(*args, **kwargs):
    raise InputError("--executor ray:10.0.0.1:6379: no Ray cluster to join there")


def test_an_eval_that_fails_after_planning_leaves_an_empty_out_empty(tmp_path, monkeypatch):
    from tests.test_scaling_cli import make_runs

    out = tmp_path / "out"
    out.mkdir()
    with monkeypatch.context() as patched:  # the sweep cannot start, after the plan hashed the suite's files
        patched.setattr(engine, "run_sweep", no_cluster)
        failed = CliRunner().invoke(main, eval_args(out))
    assert failed.exit_code == 2 and "no Ray cluster" in failed.stderr, failed.output
    assert list(out.iterdir()) == []  # the store was left, and the folder read as one of results

    runs = tmp_path / "runs.csv"
    make_runs(runs)
    fitted = CliRunner().invoke(main, ["fit", "chinchilla", "--data", str(runs), "--bootstrap", "0",
                                       "--out", str(out)])
    assert fitted.exit_code == 0, fitted.output
    assert (out / "report.md").is_file() and not (out / DIGEST_STORE).exists()


def test_the_store_is_kept_once_the_sweep_has_written_its_record(tmp_path):
    """Beside results it is kept as before: a run that measured writes it, a resume reads it."""
    out = tmp_path / "out"
    out.mkdir()
    done = CliRunner().invoke(main, eval_args(out))
    assert done.exit_code == 0, done.output
    assert (out / engine.OPTIONS_FILE).is_file() and len(read_digest_store(out / DIGEST_STORE)) >= 1
