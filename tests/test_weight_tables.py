"""The weights table's conventions: best_family by name (and a fixed code), and the pooled-row
rule of the plots (per model, step, group and stat, as in scalefit.schema)."""
from __future__ import annotations

import dataclasses

import pandas as pd
import pytest

pytest.importorskip("torch")

from scalefit.weightstats import families, measure  # noqa: E402
from scalefit.weightstats.plots import stat_series  # noqa: E402


def test_every_family_has_a_fixed_code_that_does_not_follow_the_dict_order():
    assert set(measure.FAMILY_CODES) == set(families.FAMILIES)
    assert sorted(measure.FAMILY_CODES.values()) == list(range(len(families.FAMILIES)))
    # the codes of the shipped tables: gaussian 0, student_t 1, logistic 2, laplace 3, gennorm 4, quartic 5
    assert [measure.family_name(c) for c in range(6)] == ["gaussian", "student_t", "logistic", "laplace",
                                                          "gennorm", "quartic"]


def test_a_family_is_built_with_keywords():
    with pytest.raises(TypeError):
        families.Family("gaussian", (), families.gaussian_logpdf)  # positional: refused
    renamed = dataclasses.replace(families.GAUSSIAN, name="normal")
    assert renamed.params == ("loc", "scale")


def test_best_family_rows_carry_the_name():
    torch = pytest.importorskip("torch")
    gen = torch.Generator().manual_seed(0)
    table = measure.weight_stats_table({"w.weight": torch.randn(64, 64, generator=gen)}, spectra=False)
    best = table[table["stat"] == "best_family"]
    assert len(best) == 2  # the tensor and its group's pooled row
    assert list(best["label"]) == [measure.family_name(v) for v in best["value"]]
    assert table.loc[table["stat"] != "best_family", "label"].isna().all()


def test_shipped_table_names_the_best_family():
    from scalefit.data import data_path

    table = pd.read_parquet(data_path("suites", "mini", "checkpoints.parquet"), columns=["stat", "value", "label"])
    best = table[table["stat"] == "best_family"]
    assert len(best) and set(best["label"]) <= set(families.FAMILIES)
    assert (best["value"].map(measure.family_name) == best["label"]).all()


def test_stat_series_uses_the_pooled_row_per_step():
    """A group pooled at step 2 only: step 2 is the pooled value, step 1 the mean of its tensors."""
    rows = [("m", 1, "a.0", "mlp_in", 1.0), ("m", 1, "a.1", "mlp_in", 3.0),
            ("m", 2, "a.0", "mlp_in", 10.0), ("m", 2, "a.1", "mlp_in", 30.0), ("m", 2, "*", "mlp_in", 7.0)]
    table = pd.DataFrame(rows, columns=["model", "step", "tensor", "group", "value"]).assign(stat="std")
    series = stat_series(table, "std")
    assert series.set_index("step")["value"].to_dict() == {1: 2.0, 2: 7.0}
    assert list(series.columns) == ["model", "group", "step", "value"]
    assert stat_series(table, "std", tensor="a.1").set_index("step")["value"].to_dict() == {1: 3.0, 2: 30.0}


def test_the_report_names_a_group_whose_weights_hold_nan(tmp_path):
    """A diverged tensor's group keeps only count and nonfinite, so report.md dropped it from the
    summary without a word (the warning went to stderr only); the report now names it."""
    from scalefit.weightstats.report import write_weights_report

    rows = []
    for step in (0, 10):
        for group, std in (("mlp_in", 0.02), ("attn_out", 0.03)):
            stats = {"count": 64.0, "std": std, "excess_kurtosis": 0.1}
            if group == "mlp_in" and step == 10:
                stats = {"count": 64.0, "nonfinite": 2.0}
            rows += [{"model": "m", "step": step, "tensor": "*", "group": group, "layer": -1, "stat": k,
                      "value": v} for k, v in stats.items()]
    write_weights_report(pd.DataFrame(rows), tmp_path, stats=["std"])
    text = (tmp_path / "report.md").read_text()
    assert "| m | 10 | attn_out |" in text and "| m | 10 | mlp_in |" not in text
    assert "hold NaN or inf" in text and "m step 10 mlp_in (2 of 64)" in text
    clean = pd.DataFrame(rows)
    clean = clean[clean["stat"] != "nonfinite"]
    write_weights_report(clean, tmp_path, stats=["std"])
    assert "NaN" not in (tmp_path / "report.md").read_text()


def test_stat_series_refuses_two_values_for_one_key_and_drops_exact_repeats():
    """`weights plot` drew a table holding two different t_nu values for one (model, step, tensor)
    without a word (transitions and trajectory refuse it: averaging mixes two measurements)."""
    from scalefit.errors import InputError

    rows = [("m", 1, "*", "mlp_in", 5.0), ("m", 2, "*", "mlp_in", 6.0)]
    table = pd.DataFrame(rows, columns=["model", "step", "tensor", "group", "value"]).assign(stat="t_nu", layer=-1)
    twice = pd.concat([table, table], ignore_index=True)
    assert stat_series(twice, "t_nu").set_index("step")["value"].to_dict() == {1: 5.0, 2: 6.0}
    clash = pd.concat([table, table.iloc[[1]].assign(value=9.0)], ignore_index=True)
    with pytest.raises(InputError, match="w.csv: rows with index 1 and 2 measure the same stat 't_nu'.*different values"):
        stat_series(clash, "t_nu", source="w.csv")


def test_stat_series_says_why_a_group_has_no_rows():
    """--tensor T --group G where T is not in G said 'none of the groups G has stat s', which is
    false (G has it; T is elsewhere); a misspelt group listed no groups."""
    from scalefit.errors import InputError

    rows = [("m", 1, "a.0", "mlp_in", 1.0), ("m", 1, "b.0", "attn_qkv", 2.0)]
    table = pd.DataFrame(rows, columns=["model", "step", "tensor", "group", "value"]).assign(stat="t_nu")
    with pytest.raises(InputError, match=r"none of the groups attn_qkv has stat 't_nu' on tensor 'a.0' "
                                         r"\(its group: mlp_in\)"):
        stat_series(table, "t_nu", groups=["attn_qkv"], tensor="a.0")
    with pytest.raises(InputError, match=r"none of the groups mlp_inn has stat 't_nu' \(known: attn_qkv, mlp_in\)"):
        stat_series(table, "t_nu", groups=["mlp_inn"])


def test_stat_series_reads_one_group_or_groups_separated_by_commas():
    """groups='mlp_in' is one group (it was read as its letters: 'none of the groups m, l, p, _, i,
    n'), 'mlp_in, attn_out' two, as a list of them."""
    rows = [("m", 1, "*", "mlp_in", 1.0), ("m", 2, "*", "mlp_in", 2.0),
            ("m", 1, "*", "attn_out", 3.0), ("m", 2, "*", "attn_out", 4.0), ("m", 1, "*", "embed_in", 5.0)]
    table = pd.DataFrame(rows, columns=["model", "step", "tensor", "group", "value"]).assign(stat="std")
    one = stat_series(table, "std", groups="mlp_in")
    assert one.equals(stat_series(table, "std", groups=["mlp_in"])) and set(one["group"]) == {"mlp_in"}
    two = stat_series(table, "std", groups="mlp_in, attn_out")
    assert two.equals(stat_series(table, "std", groups=["mlp_in", "attn_out"])) and len(two) == 4
