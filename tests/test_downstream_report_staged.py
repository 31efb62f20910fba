"""predict downstream's report folder is written through outputs.staged, as compare's and fit's
are: its files appear together or not at all, and a complete write leaves no earlier run's
holdout.csv beside it."""
from __future__ import annotations

import pytest
from click.testing import CliRunner

from scalefit.cli import main
from scalefit.scaling.relations import report
from scalefit.scaling.relations.downstream import run_downstream
from tests.test_calibrate_relations import synthetic_pairs


def _stop(*args, **kwargs):
    raise KeyboardInterrupt  # as Ctrl-C while the figure is drawn


@pytest.fixture(scope="module")
def fits():
    """A sigmoid relation of synthetic pairs with 3 runs held out, and one with none."""
    pairs = synthetic_pairs(5, "sigmoid")
    return [run_downstream(pairs, "loss", "y", relation="sigmoid", holdout=holdout, n_bootstrap=0)
            for holdout in (3, None)]


def test_a_stop_while_writing_into_a_new_folder_leaves_no_partial_report(monkeypatch, tmp_path):
    out = tmp_path / "new"
    monkeypatch.setattr(report, "save_figure", _stop)
    result = CliRunner().invoke(main, ["predict", "downstream", "--holdout", "2", "--bootstrap", "0",
                                       "--out", str(out)])
    assert result.exit_code == 130, result.output
    assert not out.exists() or not [p for p in out.iterdir() if p.name != "scalefit_settings.json"]
    assert not [p for p in tmp_path.iterdir() if ".tmp-" in p.name]


def test_the_api_writer_is_staged_and_drops_a_stale_holdout_table(fits, monkeypatch, tmp_path):
    held, plain = fits
    out = tmp_path / "R"
    report.write_downstream_report(out, held)
    first = {p.name: p.read_bytes() for p in out.iterdir()}
    assert {"report.md", "params.csv", "pairs.csv", "holdout.csv", "result.json",
            "relation.png", "relation.svg"} <= set(first)
    with monkeypatch.context() as patch:  # stopped: the first report whole, its holdout.csv kept
        patch.setattr(report, "save_figure", _stop)
        with pytest.raises(KeyboardInterrupt):
            report.write_downstream_report(out, plain)
    assert {p.name: p.read_bytes() for p in out.iterdir()} == first
    assert not [p for p in tmp_path.iterdir() if ".tmp-" in p.name]
    report.write_downstream_report(out, plain)  # complete: no held-out table of the first fit
    assert not (out / "holdout.csv").exists() and (out / "report.md").read_bytes() != first["report.md"]
