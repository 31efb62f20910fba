"""`scalefit weights` and `scalefit weights plot` as a researcher meets them on a mixture-of-experts
model whose every MLP is experts (Mixtral: no mlp_in group at all): the default histogram, the
report's histogram, the one-line refusals of an unknown --hist or --group, and the report's word on
a router's blank alpha (too few eigenvalues: measured, not a vector)."""
from __future__ import annotations

import os

import numpy as np
import pandas as pd
import pytest

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")

from click.testing import CliRunner  # noqa: E402

from scalefit.cli import main  # noqa: E402

os.environ.setdefault("HF_HUB_OFFLINE", "1")
torch.set_num_threads(1)


def run(*args):
    return CliRunner().invoke(main, ["weights", *map(str, args)], catch_exceptions=False)


@pytest.fixture(scope="module")
def moe(tmp_path_factory):
    """A tiny Mixtral (4 experts in each of 2 layers) saved as moe/step3, and `scalefit weights`
    run on it (no families, no spectra: the report's histogram is fitted apart)."""
    if not hasattr(transformers, "MixtralForCausalLM"):
        pytest.skip("this transformers has no Mixtral")
    root = tmp_path_factory.mktemp("moe")
    config = transformers.MixtralConfig(vocab_size=64, hidden_size=16, intermediate_size=32, num_hidden_layers=2,
                                        num_attention_heads=2, num_key_value_heads=1, num_local_experts=4,
                                        num_experts_per_tok=2)
    torch.manual_seed(0)
    transformers.MixtralForCausalLM(config).save_pretrained(root / "moe" / "step3")
    out = root / "w"
    result = run("--checkpoint", root / "moe" / "step3", "--out", out, "--no-families", "--no-spectra",
                 "--stat", "std", "--no-progress", "--device", "cpu")
    return root / "moe" / "step3", out, result


def test_the_report_draws_the_experts_histogram(moe):
    """The report's histogram was of mlp_in only: a model whose MLPs are all experts got none, silently."""
    _, out, result = moe
    assert result.exit_code == 0, result.output
    text = (out / "report.md").read_text()
    assert "## Histogram with fitted families" in text and "![histogram](hist_expert_in.png)" in text
    assert (out / "hist_expert_in.png").is_file()


def test_plot_draws_the_experts_histogram_by_default(moe, tmp_path):
    """`weights plot --checkpoint` (no --hist) refused a Mixtral: "no tensor or group 'mlp_in'", exit 2."""
    folder, out, _ = moe
    result = run("plot", "--data", out / "weights.parquet", "--stat", "std", "--checkpoint", folder,
                 "--out", tmp_path)
    assert result.exit_code == 0, result.output
    assert (tmp_path / "hist_expert_in.png").is_file() and not (tmp_path / "hist_mlp_in.png").exists()


def test_an_unknown_hist_names_every_group(moe, tmp_path):
    """An unknown --hist said only "no tensor or group 'attn_gat'"; now one line naming the groups
    (groups.GROUPS, the new attention groups among them) and the near one."""
    from scalefit.weightstats.groups import GROUPS

    folder, out, _ = moe
    result = run("plot", "--data", out / "weights.parquet", "--stat", "std", "--checkpoint", folder,
                 "--hist", "attn_gat", "--out", tmp_path)
    assert result.exit_code == 2
    line = result.output.strip()
    assert "\n" not in line and "Traceback" not in line
    assert "--hist 'attn_gat'" in line and "did you mean 'attn_gate'?" in line
    assert f"({', '.join(GROUPS)})" in line and {"attn_gate", "linear_attn_decay", "attn_kv"} <= set(GROUPS)


def test_an_empty_folder_is_said_so_with_the_default_histogram(moe, tmp_path):
    """The default's second try (expert_in) must not hide why the folder cannot be read."""
    _, out, _ = moe
    (tmp_path / "empty").mkdir()
    result = run("plot", "--data", out / "weights.parquet", "--stat", "std", "--checkpoint",
                 tmp_path / "empty", "--out", tmp_path / "p")
    assert result.exit_code == 2
    assert result.output.count("\n") == 1 and "safetensors" in result.output


def test_a_group_typo_is_offered_its_near_name(moe, tmp_path):
    """--group expert_inn named the table's groups but not the near one."""
    _, out, _ = moe
    result = run("plot", "--data", out / "weights.parquet", "--stat", "std", "--group", "expert_inn",
                 "--out", tmp_path)
    assert result.exit_code == 2
    assert result.output.count("\n") == 1 and "did you mean 'expert_in'?" in result.output


def _rows(model, tensor, group, stats):
    return [{"model": model, "step": 8, "tensor": tensor, "group": group, "layer": -1 if tensor == "*" else 0,
             "stat": stat, "value": value, "label": "gaussian" if stat == "best_family" else ""}
            for stat, value in stats.items()]


def test_a_routers_blank_alpha_is_no_vectors_blank(tmp_path):
    """A router of 4 experts has too few eigenvalues for alpha: its tensor rows hold nan and the group
    no pooled row. The report called that blank 'not measured ... norm weights are vectors'; and
    named only biases and norm weights as vectors beside linear_attn_decay (A_log, dt_bias)."""
    from scalefit.weightstats.report import write_weights_report

    matrix = {"std": 0.02, "excess_kurtosis": 0.1, "t_nu": 40.0, "gennorm_beta": 1.9, "best_family": 0.0}
    name = "model.layers.0.block_sparse_moe.gate.weight"
    table = pd.DataFrame(_rows("run-a", "*", "router", matrix) + _rows("run-a", name, "router",
                                                                        {**matrix, "alpha": np.nan})
                         + _rows("run-a", "*", "layernorm", {"std": 0.0, "excess_kurtosis": np.nan})
                         + _rows("run-a", "*", "linear_attn_decay", {"std": 0.8, "excess_kurtosis": 3.9})
                         + _rows("run-a", "*", "expert_in", {**matrix, "alpha": 3.0}))
    write_weights_report(table, tmp_path, stats=[])
    summary = (tmp_path / "report.md").read_text().split("## Groups at the last step")[1].split("##")[0]
    assert ("Blank cells: `t_nu`, `gennorm_beta`, `alpha`, `best_family` for layernorm, linear_attn_decay: not "
            "measured for those groups (fitted families and spectra are measured on matrices only; biases, norm "
            "weights and linear attention's decay parameters are vectors).") in summary
    assert "`alpha` for run-a router: the statistic's fit gave no finite value there." in summary
