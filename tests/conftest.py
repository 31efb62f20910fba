"""Shared test setup: hub access off, quiet threads, and the real anchor data when present."""
from __future__ import annotations

import os
from pathlib import Path

# Without these every hub call hangs 20-50 s before failing (no network here).
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
os.environ.setdefault("MPLBACKEND", "Agg")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import pytest  # noqa: E402

ANCHORS = Path(__file__).resolve().parents[1].parent / "shared" / "anchors"


@pytest.fixture(scope="session")
def anchors() -> Path:
    """../shared/anchors (published data); the test is skipped when it is absent."""
    if not ANCHORS.is_dir():
        pytest.skip("../shared/anchors is absent")
    return ANCHORS


@pytest.fixture(scope="session")
def suite_file() -> Path:
    """The tiny local suite's spec (built once per machine, see tinysuite.cached_tiny_suite)."""
    from tinysuite import cached_tiny_suite

    return cached_tiny_suite()


@pytest.fixture(scope="session")
def micro_corpus(tmp_path_factory):
    """The trainer tests' micro corpus and its sources (tinyspec.build_micro_corpus), built once:
    (folder, manifest). Read only: a test writes its runs and copies elsewhere."""
    from tinyspec import build_micro_corpus

    root = tmp_path_factory.mktemp("micro-corpus")
    return root, build_micro_corpus(root)


@pytest.fixture(scope="module")
def grid():
    """The shipped suite's 20 grid runs (data/suites/mini/runs.csv, part grid), as read_table reads them."""
    from scalefit import read_table
    from scalefit.data import data_path
    runs = read_table(data_path("suites", "mini", "runs.csv"))
    return runs[runs["part"] == "grid"]


@pytest.fixture(scope="module")
def loss_pairs(grid):
    """The grid runs' prose and code test losses paired by model (pair_losses)."""
    from scalefit import pair_losses
    return pair_losses(grid, "loss_prose_test", "loss_code_test")


@pytest.fixture
def relation_axis_labels(monkeypatch):
    """(x label, y label) of each figure the relations' report saves, as it saves them."""
    from scalefit.scaling.relations import report

    labels = []
    keep = report.save_figure

    def spy(fig, out_dir, stem):
        labels.append((fig.axes[0].get_xlabel(), fig.axes[0].get_ylabel()))
        return keep(fig, out_dir, stem)

    monkeypatch.setattr(report, "save_figure", spy)
    return labels


@pytest.fixture(scope="module")
def mini1_momentum_fit():
    """The momentum law fitted to mini-1's long run (checkpoints from step 64, its first fitted,
    to 2400), no bootstrap: the fit predict curve's tests read."""
    from scalefit import fit_curves, read_table
    from scalefit.data import data_path
    from scalefit.scaling.laws.curves import curves_from_table, loss_rows
    checkpoints = read_table(data_path("suites", "mini", "checkpoints.parquet"))
    run = checkpoints[checkpoints["run"] == "grid/mini-1-D2457600"]
    return fit_curves(curves_from_table(loss_rows(run, "loss", "prose-test")), "momentum",
                      n_bootstrap=0)


@pytest.fixture
def suite_report_figures(monkeypatch):
    """{name: figure} of each figure the suite report (scalefit.trainer.report) saves, as it saves
    them; closed after the test."""
    import matplotlib.pyplot as plt

    from scalefit.trainer import report

    figures, save = {}, report.save_figure

    def keep(fig, out, name):
        figures[name] = fig
        return save(fig, out, name)

    monkeypatch.setattr(report, "save_figure", keep)
    yield figures
    for fig in figures.values():
        plt.close(fig)
