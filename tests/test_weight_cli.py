"""`scalefit weights` end to end on a tiny GPT-NeoX suite saved as safetensors."""
from __future__ import annotations

import json
import shutil

import pandas as pd
import pytest
import torch
from click.testing import CliRunner
from threadpoolctl import threadpool_limits

from scalefit.cli import main
from tinysuite import build_tiny_suite

torch.set_num_threads(1)
threadpool_limits(1)


@pytest.fixture(scope="module")
def suite(tmp_path_factory):
    root = tmp_path_factory.mktemp("tiny")
    spec = build_tiny_suite(root, models={"tiny-a": {"hidden_size": 32, "num_hidden_layers": 2,
                                                     "num_attention_heads": 2}},
                            steps=(0, 2, 4), tokenizer_bytes=60_000, eval_bytes=5_000)
    return root, spec


def run(*args):
    return CliRunner().invoke(main, ["weights", *map(str, args)], catch_exceptions=False)


@pytest.fixture(scope="module")
def swept(suite, tmp_path_factory):
    """The whole tiny suite measured once: (out folder, CLI result)."""
    out = tmp_path_factory.mktemp("sweep") / "w"
    # on the CPU also where there is a GPU: the rows are compared with a CPU call to 1e-12
    return out, run("--suite", suite[1], "--steps", "all", "--out", out, "--json", "--no-progress",
                    "--device", "cpu")


def test_suite_sweep_writes_tables_report_and_resumes(suite, swept):
    root, spec = suite
    out, result = swept
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)  # exactly one JSON document on stdout
    assert len(doc["measured"]) == 3 and not doc["failures"]
    table = pd.read_parquet(out / "weights.parquet")
    assert len(pd.read_csv(out / "weights.csv")) == len(table) == doc["rows"]["weights"]
    assert sorted(table["step"].unique()) == [0, 2, 4] and set(table["model"]) == {"tiny-a"}
    assert {"tokens", "lr", "params"} <= set(table.columns)  # the sweep's checkpoint facts
    assert {"t_nu", "alpha", "excess_kurtosis"} <= set(table["stat"])
    for name in ("report.md", "t_nu_vs_step.png", "t_nu_vs_step.svg", "hist_mlp_in.png", "group_summary.csv"):
        assert (out / name).exists(), name
    # the rows equal a direct call on the same folder
    from scalefit.weightstats.measure import weight_stats_table

    direct = weight_stats_table(root / "tiny-a" / "step2", model="tiny-a", step=2)
    got = table[table["step"] == 2].merge(direct, on=["tensor", "group", "layer", "stat"])
    assert len(got) == len(direct) and (got["value_x"] - got["value_y"]).abs().max() < 1e-12
    # a re-run measures nothing again and writes no duplicate rows
    again = run("--suite", spec, "--out", out, "--json", "--no-progress")
    doc2 = json.loads(again.stdout)
    assert doc2["measured"] == [] and len(doc2["skipped"]) == 3
    assert len(pd.read_parquet(out / "weights.parquet")) == len(table)


def test_shards_cover_the_grid_and_local_checkpoints(suite, tmp_path):
    root, spec = suite
    parts = []
    for k in (0, 1):
        r = run("--suite", spec, "--shard", f"{k}/2", "--out", tmp_path / f"s{k}", "--no-families", "--no-spectra",
                "--no-progress")
        assert r.exit_code == 0, r.output
        parts.append(pd.read_parquet(tmp_path / f"s{k}" / "weights.parquet"))
    assert sorted(pd.concat(parts)["step"].unique()) == [0, 2, 4]
    assert set(parts[0]["step"]).isdisjoint(parts[1]["step"])
    r = run("--checkpoint", root / "tiny-a" / "step4", "--out", tmp_path / "local", "--no-spectra", "--no-progress",
            "--stat", "std")
    assert r.exit_code == 0, r.output
    local = pd.read_parquet(tmp_path / "local" / "weights.parquet")
    assert set(local["model"]) == {"tiny-a"} and set(local["step"]) == {4}
    assert "alpha" not in set(local["stat"]) and "t_nu" in set(local["stat"])
    r = run("--checkpoint", root / "tiny-a" / "step4", "--out", tmp_path / "local", "--no-spectra", "--no-progress",
            "--stat", "bogus")  # a name no sweep measures: refused before measuring
    assert r.exit_code == 2 and "--stat bogus: no such statistic is measured by a weights sweep" in r.output, r.output
    r = run("--checkpoint", root / "tiny-a" / "step4", "--out", tmp_path / "nospectra", "--no-spectra",
            "--no-progress", "--stat", "alpha")  # one this sweep skips: said, not a silently missing plot
    assert r.exit_code == 0 and "note: --stat alpha: not measured, so not plotted" in r.output, r.output
    assert "No statistic 'alpha' in this table to plot" in (tmp_path / "nospectra" / "report.md").read_text()
    # a folder not named step<N> (a final model's copy) is step 0 of its own name: said, not silent
    final = tmp_path / "tiny-a-final"
    shutil.copytree(root / "tiny-a" / "step4", final)
    r = run("--checkpoint", final, "--out", tmp_path / "final", "--no-spectra", "--no-families", "--no-progress")
    assert r.exit_code == 0, r.output
    assert "warning: --checkpoint" in r.output and "recorded as model 'tiny-a-final' at step 0" in r.output
    assert set(pd.read_parquet(tmp_path / "final" / "weights.parquet")["step"]) == {0}


def test_plot_command(suite, swept, tmp_path):
    root, spec = suite
    out = swept[0]
    r = CliRunner().invoke(main, ["weights", "plot", "--data", str(out / "weights.csv"), "--stat", "t_nu,std",
                                  "--group", "mlp_in,attn_qkv", "--checkpoint", str(root / "tiny-a" / "step4"),
                                  "--hist", "attn_q", "--out", str(tmp_path / "plots"), "--json"])
    assert r.exit_code == 0, r.output
    files = json.loads(r.stdout)["files"]
    for name in ("t_nu_vs_step.png", "t_nu_vs_step.svg", "std_vs_step.png", "hist_attn_q.png", "hist_attn_q.svg"):
        assert str(tmp_path / "plots" / name) in files
        assert (tmp_path / "plots" / name).stat().st_size > 1000


def test_failed_checkpoint_is_recorded_and_the_sweep_goes_on(suite, tmp_path):
    root, _ = suite
    bad = tmp_path / "broken" / "step3"
    bad.mkdir(parents=True)
    (bad / "model.safetensors").write_bytes(b"\x00" * 64)
    good = tmp_path / "good" / "step4"
    shutil.copytree(root / "tiny-a" / "step4", good)
    # the families and spectra are not what this checks (the swept fixture measures them)
    r = run("--checkpoint", bad, "--checkpoint", good, "--out", tmp_path / "w", "--no-progress", "--no-families",
            "--no-spectra")
    assert r.exit_code == 1
    assert "failed: broken step 3" in r.stderr and "Traceback" not in r.output
    assert set(pd.read_parquet(tmp_path / "w" / "weights.parquet")["model"]) == {"good"}
    assert len(pd.read_csv(tmp_path / "w" / "failures.csv")) == 1


@pytest.mark.parametrize("args, message", [
    (["--checkpoint", "/nonexistent/step1", "--out", "OUT"], "no such folder"),
    (["--checkpoint", "TABLE", "--out", "OUT"], "not a checkpoint; give its folder"),
    (["--suite", "/nonexistent.toml", "--out", "OUT"], "no such suite"),
    (["--checkpoint", "CKPT"], "--out DIR is required"),
    (["--out", "OUT"], "nothing to measure"),
    (["--suite", "SPEC", "--steps", "7:3", "--out", "OUT"], "--steps"),
    (["--suite", "SPEC", "--models", "nope", "--out", "OUT"], "unknown model"),
    (["--suite", "SPEC", "--shard", "3/2", "--out", "OUT"], "--shard"),
    (["plot", "--data", "TABLE", "--stat", "nope", "--out", "OUT"], "no rows with stat 'nope'"),
    (["plot", "--data", "/nonexistent.csv", "--out", "OUT"], "file not found"),
])
def test_bad_input_is_one_line_and_exit_2(suite, tmp_path, args, message):
    root, spec = suite
    table = tmp_path / "t.csv"
    pd.DataFrame({"model": ["m"], "step": [1], "tensor": ["*"], "group": ["mlp_in"], "layer": [-1],
                  "stat": ["std"], "value": [0.1]}).to_csv(table, index=False)
    subs = {"OUT": str(tmp_path / "o"), "SPEC": str(spec), "TABLE": str(table), "CKPT": str(root / "tiny-a" / "step0")}
    r = CliRunner().invoke(main, ["weights", *[subs.get(a, a) for a in args]])
    assert r.exit_code == 2, r.output
    assert message in r.stderr and len(r.stderr.strip().splitlines()) == 1 and "Traceback" not in r.output
