"""A result file measured under the first SE rule (se and se_by, no se_rule: bpb's SE the loss SE
rescaled with bytes fixed, 2.2x understated on a trained model) is measured again on resume, so one
folder never holds SEs of both rules."""
from __future__ import annotations

import shutil

import pandas as pd
import pytest

pytest.importorskip("torch")
from click.testing import CliRunner  # noqa: E402
from test_eval_resume_se import documents, eval_args  # noqa: E402

from scalefit.cli import main  # noqa: E402
from scalefit.evals.evalset import SE_RULE  # noqa: E402


def test_a_first_rule_result_is_measured_again(tmp_path):
    out = tmp_path / "new"
    documents(tmp_path)
    assert CliRunner().invoke(main, eval_args(out, "0")).exit_code == 0
    table = pd.read_parquet(out / "evals.parquet")
    assert set(table["se_rule"]) == {SE_RULE}
    path = out / "parts" / "tiny-a" / "step0000000" / "evals--loss_test.parquet"
    old = pd.read_parquet(path).drop(columns="se_rule")
    old.loc[old["metric"] == "bpb", "se"] = 0.0  # a stale value the re-measurement must replace
    old.to_parquet(path, index=False)
    result = CliRunner().invoke(main, eval_args(out, "0"))
    assert result.exit_code == 0, result.output
    assert "hold no se_rule (measured by an earlier scalefit); this run measures 1 of them again" in result.stderr
    again = pd.read_parquet(out / "evals.parquet")
    pd.testing.assert_frame_equal(again[table.columns], table)
    shutil.rmtree(out)
