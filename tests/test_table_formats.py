"""Run tables as spreadsheets export them: a ';'-separated CSV, a byte-order mark, decimal
commas. Read as the same runs, or refused in one line that says how to write the number."""
from __future__ import annotations

import numpy as np
import pandas as pd
from click.testing import CliRunner

from scalefit.cli import main
from scalefit.tables import read_table


def runs(n=12):
    N = np.geomspace(1e7, 1e9, n)
    return pd.DataFrame({"model": [f"m{i}" for i in range(n)], "params": N, "tokens": 20 * N,
                         "loss": 2 + 400 * N ** -0.34 + 400 * (20 * N) ** -0.28})


def test_a_semicolon_separated_csv_reads_as_the_same_table(tmp_path):
    """Read with ',' the header was one column 'model;params;tokens;loss' and every command said
    "column 'loss' is missing (columns: model;params;tokens;loss)"."""
    df = runs()
    df.to_csv(tmp_path / "comma.csv", index=False)
    df.to_csv(tmp_path / "semi.csv", index=False, sep=";")
    pd.testing.assert_frame_equal(read_table(tmp_path / "semi.csv"), read_table(tmp_path / "comma.csv"))
    with open(tmp_path / "bom.csv", "w", encoding="utf-8-sig") as fh:
        df.to_csv(fh, index=False, sep=";")
    assert list(read_table(tmp_path / "bom.csv").columns) == list(df.columns)
    # a ',' file whose text cells hold ';' stays a ',' file
    df.assign(model="a;b").to_csv(tmp_path / "cells.csv", index=False)
    assert list(read_table(tmp_path / "cells.csv").columns) == list(df.columns)
    fit = CliRunner().invoke(main, ["fit", "chinchilla", "--data", str(tmp_path / "semi.csv"),
                                    "--bootstrap", "0"])
    assert fit.exit_code == 0, fit.output


def test_a_decimal_comma_is_named_with_how_to_write_the_number(tmp_path):
    path = tmp_path / "decomma.csv"
    runs().to_csv(path, index=False, sep=";", decimal=",")
    result = CliRunner().invoke(main, ["fit", "chinchilla", "--data", str(path), "--bootstrap", "0"])
    assert result.exit_code == 2
    lines = result.output.strip().splitlines()
    loss = f"{runs()['loss'].iloc[0]}".replace(".", ",")
    assert len(lines) == 1 and f"{path}: column 'loss', row 1: '{loss}' is not a finite " \
        "number (a decimal comma or a thousands separator: write numbers with a decimal point " \
        "and no commas, e.g. 6.2193 or 1000)" in lines[0], lines
