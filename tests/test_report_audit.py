"""Report folders (--out) read as a researcher quotes them: report.md says what the command
prints (the same numbers, rounded the same way), names each interval's level and method, and
gives every number its unit. Small tables and few resamples: the numbers are not the point."""
from __future__ import annotations

import pytest
from click.testing import CliRunner

from scalefit.cli import main
from scalefit.scaling.relations import cli as cli_predict
from tests.test_loss2loss_cli import mini_suite_table


def invoke(args):
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output + result.stderr
    return result


@pytest.fixture(scope="module")
def downstream(tmp_path_factory):
    """predict downstream on a mini-suite-shaped table: 2 held-out runs, a projection, 20
    resamples; (terminal text, report folder)."""
    root = tmp_path_factory.mktemp("downstream")
    path = root / "runs.csv"
    mini_suite_table(path)
    out = root / "report"
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(cli_predict, "default_runs_path", lambda: path)
        text = invoke(["predict", "downstream", "--holdout", "2", "--at-x", "3.5",
                       "--bootstrap", "20", "--out", str(out)]).output
    return text, out


def test_downstream_report_gives_the_held_out_error_the_terminal_prints(downstream):
    """report.md's held-out section gave only the share inside the prediction intervals; the
    mean |relative error| and the Kaplan baseline's, the terminal's summary, were missing."""
    text, out = downstream
    summary = next(ln for ln in text.splitlines() if ln.startswith("held out 2 runs"))
    assert "mean |rel err|" in summary and "plain Kaplan law on y alone" in summary
    assert summary in (out / "report.md").read_text()
