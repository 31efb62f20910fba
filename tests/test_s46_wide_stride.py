"""evals_wide.csv of a table older than the rows' context and stride columns: a run with no
--stride recorded scored windows that do not overlap, and its stride column says the context,
as report.md's header does (it was left empty)."""
import pandas as pd

from scalefit.sweep.report import measured_wide, write_report


def _older_rows() -> pd.DataFrame:
    return pd.DataFrame([{"model": "m", "step": s, "tokens": 10 * s, "lr": 1e-3, "dataset": "val",
                          "task": None, "metric": "loss", "value": 3.0 - s / 10, "n_tokens": 50}
                         for s in (1, 2)])


def test_no_recorded_stride_is_the_context_as_report_md_says(tmp_path):
    meta = {"context": 128, "stride": None, "max_tokens": None, "dtype": "float32", "device": "cpu"}
    wide = measured_wide(_older_rows(), meta)
    assert wide["stride"].tolist() == [128, 128] and wide["context"].tolist() == [128, 128]
    write_report(tmp_path, _older_rows(), pd.DataFrame(), meta)
    assert "stride `128` tokens" in (tmp_path / "report.md").read_text()


def test_a_recorded_stride_is_kept():
    meta = {"context": 128, "stride": 32, "max_tokens": 500, "dtype": "float32", "device": "cpu"}
    assert measured_wide(_older_rows(), meta)["stride"].tolist() == [32, 32]
