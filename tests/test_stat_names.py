"""One check of statistic names for `scalefit weights --stat` and `scalefit suite sweep --stats`
(sweep.weights.check_stat_names): the two commands had two checks with two messages ('--stat t_nuu:
no such statistic ...; did you mean' against "--stats: no statistic 't_nuu' ... (known: ...)", with
no near name offered)."""
from __future__ import annotations

import pandas as pd
import pytest

pytest.importorskip("torch")

from click.testing import CliRunner  # noqa: E402
from test_suite_spec import SPEC  # noqa: E402
from tinysuite import cached_tiny_suite  # noqa: E402

import scalefit.trainer.sweep as trainer_sweep  # noqa: E402
from scalefit.cli import main  # noqa: E402
from scalefit.errors import InputError  # noqa: E402


@pytest.fixture
def spec(tmp_path, monkeypatch):
    """A suite spec whose sweep stops where it starts (Ctrl-C): reaching it means the names passed."""
    def swept(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(trainer_sweep, "sweep_suite", swept)
    path = tmp_path / "spec.toml"
    path.write_text(SPEC)
    return path


def suite_sweep(tmp_path, spec, stats):
    return CliRunner().invoke(main, ["suite", "sweep", "--spec", str(spec), "--out", str(tmp_path / "sweep"),
                                     "--tables", str(tmp_path / "tables"), "--stats", stats])


def weights(tmp_path, stat):
    step8 = cached_tiny_suite().parent / "tiny-a" / "step8"
    return CliRunner().invoke(main, ["weights", "--checkpoint", str(step8), "--stat", stat, "--no-progress",
                                     "--out", str(tmp_path / "w")])


@pytest.mark.parametrize("bad", ["t_nuu", "std,t_nuu"])
def test_both_commands_refuse_a_misspelt_stat_in_one_same_line(tmp_path, spec, bad):
    by_weights, by_suite = weights(tmp_path, bad), suite_sweep(tmp_path, spec, bad)
    said = "t_nuu: no such statistic is measured by a weights sweep; did you mean 't_nu'?"
    for result, flag in ((by_weights, "--stat"), (by_suite, "--stats")):
        assert result.exit_code == 2, result.output
        assert result.stderr.strip().splitlines() == [f"error: {flag} {said}"], result.stderr
    assert not (tmp_path / "w" / "parts").exists()


def test_a_far_name_lists_the_known_ones_and_the_suite_words(tmp_path, spec):
    by_weights, by_suite = weights(tmp_path, "zzz"), suite_sweep(tmp_path, spec, "zzz")
    assert by_weights.exit_code == by_suite.exit_code == 2
    assert "--stat zzz: no such statistic is measured by a weights sweep (known: alpha, " in by_weights.stderr
    assert "--stats zzz: no such statistic is measured by a weights sweep (known: alpha, " in by_suite.stderr
    assert by_suite.stderr.rstrip().endswith(", or 'shipped', 'all')"), by_suite.stderr


def test_a_category_is_refused_for_a_plot_but_kept_in_suite_tables(tmp_path, spec):
    """best_family's value is a code: `weights --stat` plots it, so it is refused; `suite sweep --stats`
    keeps rows in its tables (the shipped tables hold it, label and all), so it reaches the sweep."""
    by_weights = weights(tmp_path, "best_family")
    assert by_weights.exit_code == 2 and "--stat: 'best_family' names a category" in by_weights.stderr
    assert suite_sweep(tmp_path, spec, "best_family").exit_code == 130
    assert suite_sweep(tmp_path, spec, "shipped").exit_code == 130


def test_a_measurable_stat_not_in_the_folder_is_said_to_be_missing_there(tmp_path, spec):
    """suite_tables(stats=...) reads a folder: a statistic a sweep measures but this folder lacks is
    said to be not in its weight rows (it was 'no statistic ... was measured')."""
    part = tmp_path / "sweep" / "parts" / "s1" / "step0000010" / "weights--weights.parquet"
    part.parent.mkdir(parents=True)
    pd.DataFrame({"model": "s1", "step": 10, "tensor": "*", "group": "attn", "layer": 0,
                  "stat": ["t_nu", "alpha"], "value": [5.0, 3.0]}).to_parquet(part)
    from scalefit.trainer.spec import load_spec

    with pytest.raises(InputError) as err:
        trainer_sweep.suite_tables(load_spec(spec), tmp_path / "sweep", stats=["t_nu", "std"])
    assert str(err.value) == (f"--stats std: not in the weight rows of {tmp_path / 'sweep'} (they hold: alpha, "
                              "t_nu; or give 'shipped', 'all')")
