"""A group's row (tensor '*') of a spectral statistic is the mean over the group's matrices, not the
spectrum of its pooled weights (s47 audit): one fact, schema.GROUP_RULE (its text built from
SPECTRUM_STATS) and group_row_is_mean, below the layers; the trajectory/transitions label, their
--layer help and COLUMNS.md's tensor row say it, and the measurement does it."""
from __future__ import annotations

import numpy as np
import pytest
from click.testing import CliRunner

# Only a name that schema held before f6c5d02 at module level: the rule's names (GROUP_RULE,
# SPECTRUM_STATS, group_row_is_mean) are imported inside each test, after what it checks of the
# commands' behaviour, so that on the old code each test fails on that behaviour, not at import.
from scalefit.schema import POOLED_TENSOR

SPECTRAL = "mean over its matrices for the spectral statistics"  # the rule's words, in each place


def _listed_spectral(text: str) -> list[str]:
    """The statistics a statement of the rule names as spectral: the `names` in the parenthesis after
    'for the spectral statistics' (backticks or quotes, as --help prints them)."""
    import re
    tail = text[text.index(SPECTRAL) + len(SPECTRAL):]
    inner = tail[tail.index("(") + 1:tail.index(")")]
    return re.findall(r"[`']([a-z_]+)[`']", inner)


def test_the_rule_names_every_spectral_statistic():
    """GROUP_RULE named 4 of the 8 spectral statistics by hand (sv_max, stable_rank, entropy_rank,
    alpha) beside SPECTRUM_STATS: a group's alpha_ks row is a mean too. The text is built from the
    tuple, so it names each, in order."""
    from scalefit.schema import GROUP_RULE, SPECTRUM_STATS, group_row_is_mean
    assert _listed_spectral(GROUP_RULE) == list(SPECTRUM_STATS)
    assert len(SPECTRUM_STATS) == 8 and all(group_row_is_mean(s) for s in SPECTRUM_STATS)


def test_the_rule_is_what_the_measurement_does():
    """Two MLP-in matrices of different scale: the group row of every spectral statistic is the mean
    of the two tensors' values (group_row_is_mean), and the std is the pooled weights' (not their mean)."""
    torch = pytest.importorskip("torch")
    from scalefit.schema import SPECTRUM_STATS, group_row_is_mean
    from scalefit.weightstats.measure import weight_stats_table
    rng = np.random.default_rng(5)
    sd = {f"gpt_neox.layers.{i}.mlp.dense_h_to_4h.weight":
          torch.from_numpy((scale * rng.standard_normal((48, 32))).astype(np.float32))
          for i, scale in enumerate((0.5, 2.0))}
    table = weight_stats_table(sd, fit_families=False)
    rows = table[table["group"] == "mlp_in"]
    group = rows[rows["tensor"] == POOLED_TENSOR].set_index("stat")["value"]
    tensors = rows[rows["tensor"] != POOLED_TENSOR].pivot(index="tensor", columns="stat", values="value")
    spectral = [s for s in SPECTRUM_STATS if s in group and np.isfinite(group[s])]
    assert {"sv_max", "stable_rank", "entropy_rank"} <= set(spectral)
    for stat in spectral:
        assert group_row_is_mean(stat)
        assert group[stat] == pytest.approx(tensors[stat].mean(), rel=1e-6), stat
    pooled_std = np.concatenate([t.numpy().ravel() for t in sd.values()]).std()
    assert not group_row_is_mean("std") and group["std"] == pytest.approx(pooled_std, rel=1e-4)
    assert abs(group["std"] - tensors["std"].mean()) > 0.1  # the pooled std, not the tensors' mean


def test_label_of_a_spectral_group_row_says_mean():
    """The report was titled 'sv_max / mlp_in', read as the pooled weights' spectrum."""
    from scalefit.scaling.trajectories.table import stat_label
    assert stat_label("sv_max", "mlp_in") == "sv_max (mean over mlp_in's matrices) / mlp_in"
    assert stat_label("stable_rank", "attn_qkv", "*") == "stable_rank (mean over attn_qkv's matrices) / attn_qkv"
    assert stat_label("alpha", "mlp_in", None, -1).startswith("alpha (mean over mlp_in's matrices)")
    # a layer's tensor, a named tensor and a pooled statistic are what they were
    assert stat_label("sv_max", "mlp_in", None, 3) == "sv_max / mlp_in / layer 3"
    assert stat_label("sv_max", None, "l.0.w") == "sv_max / l.0.w"
    assert stat_label("t_nu", "attn_out", "*") == "t_nu / attn_out (pooled row)"
    assert stat_label("excess_kurtosis", "attn_qkv") == "excess_kurtosis / attn_qkv"


def test_trajectory_report_heading_on_shipped_sv_max():
    from scalefit.data import MINI_CHECKPOINTS, data_path
    from scalefit.scaling.trajectories.trajectory import trajectory_report
    report = trajectory_report(data_path(*MINI_CHECKPOINTS), "sv_max", group="mlp_in", models=["mini-5"])
    assert report.markdown().startswith("# sv_max (mean over mlp_in's matrices) / mlp_in against loss")
    assert report.to_dict()["stat"] == "sv_max (mean over mlp_in's matrices) / mlp_in"


@pytest.mark.parametrize("command", ["trajectory", "transitions"])
def test_layer_help_states_the_rule(command):
    """--layer's help said '-1: the group's pooled row (tensor '*'), all layers' weights together',
    wrong for a spectral statistic."""
    from scalefit.cli import main
    out = " ".join(CliRunner().invoke(main, [command, "--help"]).stdout.split())
    assert "all layers' weights together" not in out
    assert SPECTRAL in out
    from scalefit.schema import GROUP_RULE, SPECTRUM_STATS
    assert _listed_spectral(out) == list(SPECTRUM_STATS)
    assert " ".join(GROUP_RULE.replace("`", "'").split()) in out


def test_columns_md_tensor_rows_state_the_rule():
    from scalefit.data import data_path
    text = data_path("suites", "mini", "COLUMNS.md").read_text()
    rows = [ln for ln in text.splitlines() if ln.startswith("| `tensor` |")]
    assert "pooled row" not in text
    assert len(rows) == 2 and all(SPECTRAL in ln for ln in rows)
    from scalefit.schema import GROUP_RULE, SPECTRUM_STATS
    assert all(_listed_spectral(ln) == list(SPECTRUM_STATS) for ln in rows)
    assert all(GROUP_RULE in ln for ln in rows)
