"""The mini suite's shipped bpb rows carry no se: theirs was the loss's SE rescaled with the bytes
held fixed (understated where bytes per token vary between documents), and the checkpoints are
not kept to measure it again. Every other cell is as it was measured."""
from __future__ import annotations

import pandas as pd
import pytest

from scalefit.data import data_path

TABLES = [("suites", "mini", "checkpoints.parquet"), ("suites", "mini", "finals.parquet"),
          ("suites", "mini", "init", "checkpoints.parquet"), ("suites", "mini", "init", "finals.parquet")]


@pytest.mark.parametrize("parts", TABLES, ids=["/".join(p[2:]) for p in TABLES])
def test_shipped_bpb_rows_have_no_se_and_loss_rows_keep_theirs(parts):
    table = pd.read_parquet(data_path(*parts), columns=["metric", "value", "se"])
    bpb, loss = table[table["metric"] == "bpb"], table[table["metric"] == "loss"]
    assert len(bpb) > 0 and len(bpb) == len(loss)
    assert bpb["se"].isna().all() and bpb["value"].notna().all()
    assert loss["se"].notna().all() and (loss["se"] > 0).all()
    assert str(table["se"].dtype) == "float32"


def test_columns_md_says_why_the_bpb_se_is_empty():
    text = data_path("suites", "mini", "COLUMNS.md").read_text()
    rows = [line for line in text.splitlines() if line.startswith("| `se` |")]
    assert len(rows) == 2 and all("empty on bpb rows" in r and "bytes held fixed" in r for r in rows)
