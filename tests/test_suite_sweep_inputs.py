"""`scalefit suite sweep --stats`: read before the sweep, not after it (a misspelt name was said
only once every checkpoint had been measured, '' was 'no statistic ""', ' alpha' with its space
unknown, and --stats without --tables did nothing, silently)."""
from __future__ import annotations

import pandas as pd
import pytest

pytest.importorskip("torch")

from click.testing import CliRunner  # noqa: E402
from test_suite_spec import SPEC  # noqa: E402

import scalefit.trainer.sweep as trainer_sweep  # noqa: E402
from scalefit.cli import main  # noqa: E402


@pytest.fixture
def folder(tmp_path, monkeypatch):
    """A spec, and a sweep folder holding one checkpoint's weight rows (t_nu, alpha); the sweep
    itself must not be reached."""
    def swept(*args, **kwargs):
        raise AssertionError("the sweep ran")

    monkeypatch.setattr(trainer_sweep, "sweep_suite", swept)
    spec = tmp_path / "spec.toml"
    spec.write_text(SPEC)
    part = tmp_path / "sweep" / "parts" / "s1" / "step0000010" / "weights--weights.parquet"
    part.parent.mkdir(parents=True)
    pd.DataFrame({"model": "s1", "step": 10, "tensor": "*", "group": "attn", "layer": 0,
                  "stat": ["t_nu", "alpha"], "value": [5.0, 3.0]}).to_parquet(part)
    return tmp_path, spec


def sweep(root, spec, *args):
    return CliRunner().invoke(main, ["suite", "sweep", "--spec", str(spec), "--out", str(root / "sweep"), *args])


@pytest.mark.parametrize("stats, message", [
    # the names a weights sweep writes, not the folder's first part's (it could be a diverged checkpoint's)
    ("t_nu,nope", "--stats nope: no such statistic is measured by a weights sweep (known: "),
    ("", "--stats '': names no statistic; give names separated by commas"),
    (" , ", "--stats ' , ': names no statistic"),
])
def test_stats_that_name_nothing_measured_are_refused_before_the_sweep(folder, stats, message):
    root, spec = folder
    result = sweep(root, spec, "--tables", str(root / "tables"), "--stats", stats)
    assert result.exit_code == 2 and message in result.stderr, result.output
    assert len(result.stderr.strip().splitlines()) == 1


def test_stats_without_tables_is_refused(folder):
    root, spec = folder
    result = sweep(root, spec, "--stats", "t_nu")
    assert result.exit_code == 2, result.output
    assert "--stats t_nu: it chooses the weight statistics kept in --tables" in result.stderr


def test_stat_names_are_read_without_the_spaces_around_them():
    assert trainer_sweep.kept_stats(" t_nu, alpha ") == ["t_nu", "alpha"]
    assert trainer_sweep.kept_stats("all") is None
    assert trainer_sweep.kept_stats("shipped") == trainer_sweep.SHIPPED_STATS


def test_precision_pairs_are_read_stripped_and_once():
    """' s1 : s2 ' was looked up with its spaces ('no final checkpoint for  s1 ,  s2 '), and a
    pair given twice was measured and listed twice."""
    from scalefit.trainer.cli import _pair

    assert _pair(None, None, (" s1-D320 : s2-D320 ", "s1-D320:s2-D320", "s2:s1")) == [("s1-D320", "s2-D320"),
                                                                                          ("s2", "s1")]
    from scalefit.errors import InputError

    with pytest.raises(InputError, match="a run against itself"):
        _pair(None, None, ("s1 :s1",))


def stopped_at_the_sweep(tmp_path, monkeypatch):
    """([True] once the sweep is reached, the spec's path): the sweep stops with Ctrl-C where it starts."""
    reached = []

    def swept(*args, **kwargs):
        reached.append(True)
        raise KeyboardInterrupt  # stop at the sweep: it was reached

    monkeypatch.setattr(trainer_sweep, "sweep_suite", swept)
    spec = tmp_path / "spec.toml"
    spec.write_text(SPEC)
    return reached, spec


def test_a_misspelt_stat_is_refused_before_a_new_folder_is_swept(tmp_path, monkeypatch):
    """A folder with nothing measured yet: the names a weights sweep writes are known from a probe,
    so 't_nuu' is refused before the sweep (it was said only after every checkpoint), while a
    real name, a diverged tensor's 'nonfinite' among them, reaches the sweep."""
    reached, spec = stopped_at_the_sweep(tmp_path, monkeypatch)
    result = sweep(tmp_path, spec, "--tables", str(tmp_path / "tables"), "--stats", "t_nu,t_nuu")
    assert result.exit_code == 2 and not reached, result.output
    assert "--stats t_nuu: no such statistic is measured by a weights sweep; did you mean 't_nu'?" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    result = sweep(tmp_path, spec, "--tables", str(tmp_path / "tables"), "--stats", "t_nu,nonfinite,gennorm_beta")
    assert reached and result.exit_code == 130, result.output
    reached.clear()
    result = sweep(tmp_path, spec, "--no-weights", "--tables", str(tmp_path / "tables"), "--stats", "t_nuu")
    assert reached, result.output  # no weights measured: nothing to check the names against


def test_a_diverged_first_part_does_not_refuse_a_measured_stat(tmp_path, monkeypatch):
    """--stats was checked against the folder's first part file: a diverged checkpoint's holds only
    count and nonfinite, so t_nu was refused though the other checkpoints measure it (review R3)."""
    reached, spec = stopped_at_the_sweep(tmp_path, monkeypatch)
    part = tmp_path / "sweep" / "parts" / "s1" / "step0000000" / "weights--weights.parquet"
    part.parent.mkdir(parents=True)
    pd.DataFrame({"model": "s1", "step": 0, "tensor": "*", "group": "attn", "layer": 0,
                  "stat": ["count", "nonfinite"], "value": [16.0, 16.0]}).to_parquet(part)
    result = sweep(tmp_path, spec, "--tables", str(tmp_path / "tables"), "--stats", "t_nu")
    assert reached and result.exit_code == 130, result.output
