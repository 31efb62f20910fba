"""warmup-study's table prints each slope and its 95% interval to the interval's precision
(interval_text), as every other relation and trajectory command does: a wide interval's slope is
'1 [-5, 8]', not '1.23 [-5.29, 7.75]'; a narrow one keeps its digits."""
import re

import numpy as np
import pandas as pd
from click.testing import CliRunner

from scalefit.cli import main
from scalefit.data import data_path
from scalefit.scaling.trajectories import warmup_study as module

CELL = re.compile(r"(?:\*\*)?(\S+) \[(\S+), (\S+)\](?:\*\*)?")  # a slope cell: value [lo, hi]


def study_of(*slopes) -> pd.DataFrame:
    """A study of one row per (first, largest) pair of (slope, lo, hi): what markdown reads."""
    rows = []
    for (first, largest) in slopes:
        row = {"stat": "t_nu", "group": "mlp_in", "runs": "a,b,c,d", "warmup_ends": "3,11,45,112",
               "first_steps": "108,132,404,313", "largest_steps": "168,163,404,402",
               "first_weak_kinks": 0, "largest_weak_kinks": 0}
        for which, (value, lo, hi) in (("first", first), ("largest", largest)):
            row.update({f"{which}_slope": value, f"{which}_lo": lo, f"{which}_hi": hi,
                        f"{which}_verdict": "follows warmup" if lo <= 1 <= hi and lo > 0 else
                        "undetermined (slope interval contains both 0 and 1)"})
        rows.append(row)
    return pd.DataFrame(rows)


def cells(table: str) -> list[tuple[str, str, str]]:
    """The (value, lo, hi) texts of every slope cell of a markdown table, row by row."""
    return [m.groups() for line in table.splitlines()[2:] for m in CELL.finditer(line)]


def test_a_wide_interval_prints_to_its_width_and_a_narrow_one_keeps_its_digits():
    wide = (1.2305869, -5.2911532, 7.7523270)  # 13 wide: ends to the unit
    narrow = (1.0327102, 0.8591983, 1.2062221)  # 0.35 wide: ends to the hundredth
    table = module.markdown(study_of((wide, narrow)))
    assert cells(table) == [("1", "-5", "8"), ("1.03", "0.86", "1.21")]
    assert "| 1 [-5, 8] |" in table and "| **1.03 [0.86, 1.21]** |" in table  # bold kept


def test_the_printed_ends_hold_the_printed_slope_on_the_shipped_table():
    """Every slope cell of the shipped study: the printed ends are the interval's, to its
    precision, and hold the printed estimate; no end carries more decimals than the width's
    second significant digit asks for (unless one more keeps the estimate inside)."""
    study = pd.read_csv(data_path("suites", "mini", "warmup_transitions.csv"))
    shown = iter(cells(module.markdown(study)))
    for _, r in study.iterrows():
        for which in ("first", "largest", "matched"):
            if f"{which}_slope" not in r or np.isnan(r[f"{which}_slope"]):
                continue
            value, lo, hi = next(shown)
            true_lo, true_hi = r[f"{which}_lo"], r[f"{which}_hi"]
            assert float(lo) <= float(value) <= float(hi), (r["stat"], which, value, lo, hi)
            width = true_hi - true_lo
            assert abs(float(lo) - true_lo) <= width / 10 and abs(float(hi) - true_hi) <= width / 10
            decimals = max(len(t.partition(".")[2]) for t in (lo, hi))
            assert decimals <= max(0, 1 - int(np.floor(np.log10(width)))) + 1, (r["stat"], which, lo, hi)
    assert next(shown, None) is None


def test_the_command_prints_and_writes_the_same_rounded_table(tmp_path, monkeypatch):
    """`scalefit warmup-study`'s terminal table and its report.md show the rounded slopes; the
    CSV keeps them to full precision."""
    wide = (1.2305869, -5.2911532, 7.7523270)
    study = study_of((wide, wide))
    monkeypatch.setattr(module, "warmup_study", lambda *args, **kwargs: study.copy())
    data = tmp_path / "weights.csv"
    pd.DataFrame({"model": ["m"], "step": [1], "tensor": ["w"], "group": ["mlp_in"], "layer": [0],
                  "stat": ["t_nu"], "value": [1.0]}).to_csv(data, index=False)
    out = tmp_path / "out"
    result = CliRunner().invoke(main, ["warmup-study", "--data", str(data), "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert result.stdout.count("| 1 [-5, 8] |") == 2
    assert (out / "report.md").read_text().count("| 1 [-5, 8] |") == 2
    written = pd.read_csv(out / "warmup_transitions.csv")
    assert written["first_slope"].iloc[0] == wide[0] and written["first_lo"].iloc[0] == wide[1]
