"""`scalefit eval` on a tiny GPT-NeoX suite: tables, resume after a kill, failures, shards, bad input."""
from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time

import numpy as np
import pandas as pd
import pytest

torch = pytest.importorskip("torch")
torch.set_num_threads(1)

from click.testing import CliRunner  # noqa: E402
from tinysuite import default_sigint, plain_window_nll  # noqa: E402

from scalefit.cli import main  # noqa: E402

MAX_TOKENS = 600
STEPS = "0,2,8"
N_CKPT = 2 * 3  # models x steps
KEYS = ["model", "step", "dataset", "metric"]


def sweep_args(suite_file, out, *extra):
    data = suite_file.parent / "data"
    # the CPU unless a test names another device (a later --device wins): the tables are
    # compared with CPU hand computations to 1e-5
    return ["eval", "--suite", str(suite_file), "--device", "cpu", "--dataset", f"val={data / 'val.txt'}",
            "--dataset", f"test={data / 'test.jsonl'}", "--train-dataset", "val",
            "--max-tokens", str(MAX_TOKENS), "--steps", STEPS, "--threads", "1", "--no-progress",
            "--out", str(out), *extra]


def run_cli(args):
    result = CliRunner().invoke(main, args, catch_exceptions=False)
    return result


@pytest.fixture(scope="module")
def reference(suite_file, tmp_path_factory):
    """The unsharded, uninterrupted sweep of both models at three steps."""
    out = tmp_path_factory.mktemp("reference")
    result = run_cli(sweep_args(suite_file, out, "--json"))
    assert result.exit_code == 0, result.output
    return out, json.loads(result.stdout)


def sorted_rows(df):
    return df.sort_values(KEYS).reset_index(drop=True)


def test_sweep_writes_the_long_table_and_metadata(reference, suite_file):
    out, doc = reference
    evals = pd.read_parquet(out / "evals.parquet")
    assert len(evals) == N_CKPT * 2 * 2  # checkpoints x datasets x (loss, bpb)
    assert not evals.duplicated(KEYS).any()
    for col in ("model", "step", "tokens", "lr", "dataset", "metric", "value", "n_tokens"):
        assert col in evals, col
    # --max-tokens: the same number of scored tokens for every checkpoint
    assert set(evals["n_tokens"]) == {MAX_TOKENS}
    assert set(evals.loc[evals["dataset"] == "val", "is_train"]) == {True}
    assert (evals["tokens"] == evals["step"] * 512).all()
    csv = pd.read_csv(out / "evals.csv")
    assert len(csv) == len(evals)
    wide = pd.read_csv(out / "evals_wide.csv")
    assert "train_loss" in wide and len(wide) == N_CKPT
    meta = json.loads((out / "run.json").read_text())
    assert meta["device"] == "cpu" and meta["dtype"] == "float32" and meta["seed"] == 0
    assert meta["packages"]["torch"] and meta["packages"]["transformers"]
    assert (out / "report.md").exists() and (out / "loss_vs_tokens.png").exists()
    assert len(doc["evals"]) == len(evals) and doc["failures"] == []
    # loss learned: the last checkpoint beats the first
    loss = evals[(evals["metric"] == "loss") & (evals["dataset"] == "test")].set_index(["model", "step"])["value"]
    assert loss[("tiny-b", 8)] < loss[("tiny-b", 0)] - 0.1


def test_sweep_loss_matches_the_hand_computation(reference, suite_file):
    from transformers import AutoModelForCausalLM

    out, _ = reference
    evals = pd.read_parquet(out / "evals.parquet")
    got = evals.query("model == 'tiny-a' and step == 2 and dataset == 'test' and metric == 'loss'")["value"].item()
    model = AutoModelForCausalLM.from_pretrained(suite_file.parent / "tiny-a" / "step2").eval()
    token_file = next(p for p in (out / "token-cache").glob("test-*.tokens"))
    meta = json.loads(token_file.with_name(token_file.name + ".json").read_text())
    tokens = np.fromfile(token_file, dtype=meta["dtype"])[: MAX_TOKENS + 1].astype(np.int64)
    total, n = plain_window_nll(model, tokens, 64, None)
    assert n == MAX_TOKENS
    assert got == pytest.approx(total / n, abs=1e-5)


def test_rerun_skips_what_is_done(reference, suite_file):
    out, _ = reference
    before = pd.read_parquet(out / "evals.parquet")
    stamp = {p: p.stat().st_mtime_ns for p in (out / "parts").rglob("*.parquet")}
    result = run_cli(sweep_args(suite_file, out, "--json"))
    assert result.exit_code == 0
    doc = json.loads(result.stdout)
    assert doc["measured"] == [] and len(doc["skipped"]) == N_CKPT
    assert stamp == {p: p.stat().st_mtime_ns for p in (out / "parts").rglob("*.parquet")}
    pd.testing.assert_frame_equal(sorted_rows(pd.read_parquet(out / "evals.parquet")), sorted_rows(before))


def test_resume_after_the_process_is_killed(reference, suite_file, tmp_path):
    out = tmp_path / "killed"
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    cmd = [sys.executable, "-m", "scalefit", *sweep_args(suite_file, out)]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env,
                            start_new_session=True)
    deadline = time.time() + 120
    try:
        while not list((out / "parts").rglob("*.parquet")):
            assert proc.poll() is None, "the sweep ended before it could be killed"
            assert time.time() < deadline, "no result after 120 s"
            time.sleep(0.02)
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    done = {p: p.stat().st_mtime_ns for p in (out / "parts").rglob("*.parquet")}
    assert 1 <= len(done) < 2 * N_CKPT  # killed mid-sweep
    assert not (out / "evals.parquet").exists()
    result = run_cli(sweep_args(suite_file, out, "--json"))
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    assert len(doc["measured"]) + len(doc["skipped"]) == N_CKPT
    assert all(p.stat().st_mtime_ns == t for p, t in done.items())  # what was done is not redone
    resumed = pd.read_parquet(out / "evals.parquet")
    assert not resumed.duplicated(KEYS).any()
    ref = pd.read_parquet(reference[0] / "evals.parquet")
    pd.testing.assert_frame_equal(sorted_rows(resumed)[ref.columns], sorted_rows(ref), atol=1e-6)


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_ctrl_c_keeps_the_results_so_far(suite_file, tmp_path, signum):
    """Ctrl-C, and SIGTERM (Slurm's time limit, docker stop), which takes the same path and exits
    with the status a shell reports for it (128 + 15)."""
    out = tmp_path / "interrupted"
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.Popen([sys.executable, "-m", "scalefit", *sweep_args(suite_file, out)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env,
                            preexec_fn=default_sigint)
    deadline = time.time() + 120
    while not list((out / "parts").rglob("*.parquet")):
        assert proc.poll() is None and time.time() < deadline
        time.sleep(0.02)
    proc.send_signal(signum)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 128 + signum, err.decode()[-2000:]
    assert "re-run the same command to resume" in err.decode()
    parts = list((out / "parts").rglob("*.parquet"))
    evals = pd.read_parquet(out / "evals.parquet")  # consolidated from what was measured
    assert len(evals) == 2 * len(parts) and len(parts) < 2 * N_CKPT
    assert json.loads((out / "run.json").read_text())["interrupted"] is True


def test_shards_merge_into_the_unsharded_table(reference, suite_file, tmp_path):
    shards = [tmp_path / "s0", tmp_path / "s1"]
    for k, folder in enumerate(shards):
        assert run_cli(sweep_args(suite_file, folder, "--shard", f"{k}/2")).exit_code == 0
        assert (folder / f"run.shard-{k}-of-2.json").exists()
    sizes = [len(pd.read_parquet(f / "evals.parquet")) for f in shards]
    assert sum(sizes) == N_CKPT * 4 and min(sizes) > 0
    result = run_cli(["eval", "merge", *map(str, shards), "--out", str(tmp_path / "merged"), "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["rows"]["evals"] == N_CKPT * 4
    merged = pd.read_parquet(tmp_path / "merged" / "evals.parquet")
    ref = pd.read_parquet(reference[0] / "evals.parquet")
    pd.testing.assert_frame_equal(sorted_rows(merged), sorted_rows(ref), atol=1e-6)
    meta = json.loads((tmp_path / "merged" / "run.json").read_text())
    assert len(meta["runs"]) == 2
    # merging the same folder twice takes each result once
    again = run_cli(["eval", "merge", str(shards[0]), str(shards[0]), "--out", str(tmp_path / "m2"), "--json"])
    assert json.loads(again.stdout)["rows"]["evals"] == sizes[0]


def test_corrupt_and_missing_checkpoints_are_recorded(suite_file, tmp_path):
    root = tmp_path / "suite"
    shutil.copytree(suite_file.parent / "tiny-a", root / "tiny-a")
    shutil.copy(suite_file, root / "suite.toml")
    weights = root / "tiny-a" / "step2" / "model.safetensors"
    good = weights.read_bytes()
    weights.write_bytes(good[: len(good) // 3])  # truncated download
    shutil.rmtree(root / "tiny-a" / "step4")  # missing
    args = ["eval", "--suite", str(root / "suite.toml"), "--models", "tiny-a", "--steps", "0,2,4,8",
            "--dataset", f"val={suite_file.parent / 'data' / 'val.txt'}", "--max-tokens", "200",
            "--no-progress", "--out", str(tmp_path / "out")]
    result = run_cli(args + ["--json"])
    assert result.exit_code == 1
    assert len(json.loads(result.stdout)["failures"]) == 2  # stdout stays one JSON document
    failures = pd.read_csv(tmp_path / "out" / "failures.csv")
    assert sorted(failures["step"]) == [2, 4]
    assert failures["error"].str.len().gt(0).all()
    assert "failed: tiny-a step 2" in result.stderr and "failed: tiny-a step 4" in result.stderr
    evals = pd.read_parquet(tmp_path / "out" / "evals.parquet")
    assert sorted(evals["step"].unique()) == [0, 8]  # the sweep went on past the failures
    shutil.copytree(tmp_path / "out", tmp_path / "before-repair")
    # repaired: the re-run measures only the two, and the failures are gone
    weights.write_bytes(good)
    shutil.copytree(suite_file.parent / "tiny-a" / "step4", root / "tiny-a" / "step4")
    result = run_cli(args + ["--json"])
    assert result.exit_code == 0
    doc = json.loads(result.stdout)
    assert sorted(doc["measured"]) == ["tiny-a/step0000002", "tiny-a/step0000004"]
    assert pd.read_csv(tmp_path / "out" / "failures.csv").empty
    assert sorted(pd.read_parquet(tmp_path / "out" / "evals.parquet")["step"].unique()) == [0, 2, 4, 8]
    # merged with the folder from before the repair: the stale failures are dropped, no row twice
    merged = run_cli(["eval", "merge", str(tmp_path / "before-repair"), str(tmp_path / "out"),
                      "--out", str(tmp_path / "merged"), "--json"])
    doc = json.loads(merged.stdout)
    assert doc["failures"] == [] and doc["rows"]["evals"] == 4 * 2


def test_json_prints_one_document_and_nothing_else(suite_file, tmp_path):
    args = sweep_args(suite_file, tmp_path / "j", "--models", "tiny-a", "--steps", "8", "--json")
    args.remove("--no-progress")  # the bar goes to stderr, never stdout
    result = run_cli(args)
    assert result.exit_code == 0
    doc = json.loads(result.stdout)
    assert {r["step"] for r in doc["evals"]} == {8}


def test_weight_statistics_rows_when_the_layer_exists(suite_file, tmp_path):
    from scalefit.sweep.weights import weight_stats_function

    if weight_stats_function() is None:
        pytest.skip("scalefit.weightstats.measure.weight_stats_table is not there yet")
    args = sweep_args(suite_file, tmp_path / "w", "--models", "tiny-a", "--steps", "all", "--weights")
    result = run_cli(args)
    assert result.exit_code == 0, result.output
    weights = pd.read_parquet(tmp_path / "w" / "weights.parquet")
    assert set(weights["step"]) == {0, 1, 2, 4, 8} and set(weights["model"]) == {"tiny-a"}
    assert {"tensor", "stat", "value"} <= set(weights.columns)
    # the trajectory command reads these tables as the sweep wrote them
    result = run_cli(["trajectory", "--stat", "std", "--group", "mlp_in", "--data",
                      str(tmp_path / "w" / "weights.parquet"), "--losses",
                      str(tmp_path / "w" / "evals.parquet"), "--json"])
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    assert doc["n_points"] == 5 and doc["stat"] == "std / mlp_in"


BAD = [
    (["--models", "tiny-z"], "unknown model 'tiny-z'"),
    (["--steps", "3"], "step 3 is not a checkpoint"),
    (["--steps", "9:1:1"], "--steps"),
    (["--shard", "2/2"], "--shard"),
    (["--train-dataset", "nope"], "--train-dataset nope"),
    (["--stride", "100", "--context", "32"], "--stride"),
    (["--max-tokens", "0"], "--max-tokens"),
    (["--dataset", "x=/no/such/file.txt"], "file not found"),
    (["--dataset", "justapath.txt"], "NAME=PATH"),
    (["--device", "cuda"], None),
    (["--device", "gpu"], "--device gpu: not a device; use auto, cpu, cuda or cuda:N"),
    (["--threads", "99999"], "--threads: '99999' is out of range"),
    (["--models", ""], "--models '': give member names"),
    (["--dtype", "int8"], "--dtype"),
    (["--tasks", "mc=/no/such.jsonl"], "file not found"),
    (["--text-field", "body"], "--dataset test: "),
    (["--text-field", "body"], "no string field 'body' (--text-field)"),
    (["--max-tokens", "nan"], "--max-tokens: 'nan' is not finite"),
    (["--num-fewshot", "-1", "--tasks", "x=/no/such.jsonl"], "--num-fewshot: '-1' is out of range"),
    (["--tasks", "/no/such.jsonl"], "--tasks /no/such.jsonl: a local task is NAME=FILE.jsonl, e.g. --tasks such="),
]


def test_a_task_file_or_dataset_folder_it_cannot_use_is_named_by_its_option(suite_file, tmp_path):
    bad, empty = tmp_path / "bad.jsonl", tmp_path / "empty"
    bad.write_text('{"context": "x", "choices": [], "answer": 0}\n')
    empty.mkdir()
    for extra, message in [(["--tasks", f"mc={bad}"], f"--tasks mc: {bad}: row 1: 'choices' must be"),
                           (["--dataset", f"docs={empty}"], f"--dataset docs: {empty}: folder holds no")]:
        result = run_cli(sweep_args(suite_file, tmp_path / "bad", *extra))
        assert result.exit_code == 2 and message in result.stderr, result.output
        assert len(result.stderr.strip().splitlines()) == 1


def test_a_shard_beyond_the_grid_says_it_holds_no_checkpoint(suite_file, tmp_path):
    out = tmp_path / "s"
    result = run_cli(sweep_args(suite_file, out, "--models", "tiny-a", "--steps", "0,8", "--shard", "3/4"))
    assert result.exit_code == 0, result.output
    assert "--shard 3/4: the grid has 2 checkpoints, so shard 3 holds none" in result.stderr
    assert "0 rows (no evals.parquet written)" in result.stderr and not (out / "evals.parquet").exists()


@pytest.mark.parametrize("extra, message", BAD)
def test_bad_input_is_one_line_and_exit_2(suite_file, tmp_path, extra, message):
    if extra == ["--device", "cuda"]:
        if torch.cuda.is_available():
            pytest.skip("this machine has CUDA")
        message = "CUDA is not available"
    result = run_cli(sweep_args(suite_file, tmp_path / "bad", *extra))
    assert result.exit_code == 2, result.output
    assert message in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1 and "Traceback" not in result.output
    assert not (tmp_path / "bad" / "parts").exists()


def test_a_uint32_token_file_read_as_uint16_is_refused_before_the_sweep(suite_file, tmp_path):
    raw = tmp_path / "ids.bin"
    np.arange(1, 500, dtype=np.uint32).tofile(raw)
    result = run_cli(sweep_args(suite_file, tmp_path / "bad", "--dataset", f"raw={raw}"))
    assert result.exit_code == 2 and "looks like uint32" in result.stderr
    assert not (tmp_path / "bad" / "parts").exists()


def test_bad_suite_and_merge_input(tmp_path):
    for args, message in [(["eval", "--suite", str(tmp_path / "none.toml"), "--out", str(tmp_path)], "no such suite"),
                          (["eval", "--suite", "pythia", "--dataset", "a=b"], "--out"),
                          (["eval", "merge", str(tmp_path), "--out", str(tmp_path / "m")], "not a sweep folder")]:
        result = run_cli(args)
        assert result.exit_code == 2 and message in result.stderr, result.output
        assert len(result.stderr.strip().splitlines()) == 1


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no GPU")
def test_cuda_sweep_matches_the_cpu_reference(reference, suite_file, tmp_path):  # pragma: no cover
    """The same sweep on the GPU: fp32 to 1e-5 of the CPU table; the default (bf16) to 1%."""
    ref = sorted_rows(pd.read_parquet(reference[0] / "evals.parquet"))
    for dtype, tol in (("float32", dict(abs=1e-5)), ("auto", dict(rel=1e-2))):
        out = tmp_path / dtype
        result = run_cli(sweep_args(suite_file, out, "--device", "cuda", "--dtype", dtype))
        assert result.exit_code == 0, result.output
        got = sorted_rows(pd.read_parquet(out / "evals.parquet"))
        assert got[KEYS].equals(ref[KEYS])
        assert got["value"].to_numpy() == pytest.approx(ref["value"].to_numpy(), **tol)
        meta = json.loads((out / "run.json").read_text())
        assert meta["device"].startswith("cuda")
        assert meta["dtype"] == ("float32" if dtype == "float32" else "bfloat16")


def test_a_rerun_with_another_train_dataset_is_refused(suite_file, tmp_path):
    """The rows of a resumed sweep kept the is_train of the run that measured them: re-run with
    --train-dataset val, step 0 (measured before) said False and step 2 True, and the report's
    train_loss was blank at step 0. A folder holds one setting, so the change is refused."""
    data, out = suite_file.parent / "data", tmp_path / "t"
    base = ["eval", "--suite", str(suite_file), "--device", "cpu", "--dataset", f"val={data / 'val.txt'}",
            "--models", "tiny-a", "--max-tokens", "100", "--threads", "1", "--no-progress", "--out", str(out)]
    assert run_cli([*base, "--steps", "0"]).exit_code == 0
    result = run_cli([*base, "--steps", "0,2", "--train-dataset", "val"])
    assert result.exit_code == 2, result.output
    assert "--train-dataset val: " in result.stderr and "with --train-dataset (default)" in result.stderr
    assert set(pd.read_parquet(out / "evals.parquet")["step"]) == {0}


def test_merge_names_a_missing_or_merged_folder_and_takes_a_repeated_one_once(reference, tmp_path):
    out, _ = reference
    merged = tmp_path / "merged"
    result = run_cli(["eval", "merge", str(out), f"{out}/", "--out", str(merged)])
    assert result.exit_code == 0, result.output
    assert "merged 1 folder into" in result.stderr
    assert json.loads((merged / "run.json").read_text())["folders"] == [str(out)]
    for args, message in [([str(out), str(tmp_path / "none")], f"{tmp_path / 'none'}: no such folder"),
                          ([str(merged)], f"it is a merged folder (tables only): merge the sweep folders it "
                                          f"came from ({out})")]:
        result = run_cli(["eval", "merge", *args, "--out", str(tmp_path / "again")])
        assert result.exit_code == 2 and message in result.stderr, result.output
        assert len(result.stderr.strip().splitlines()) == 1


def test_max_tokens_beyond_the_dataset_says_how_many_are_scored(suite_file, tmp_path):
    result = run_cli(sweep_args(suite_file, tmp_path / "o", "--models", "tiny-a", "--steps", "0,2",
                                "--max-tokens", str(10**9)))
    assert result.exit_code == 0, result.output
    evals = pd.read_parquet(tmp_path / "o" / "evals.parquet")
    scored = evals.loc[evals["dataset"] == "val", "n_tokens"].unique()
    assert len(scored) == 1 and scored[0] < 10**9
    said = [ln for ln in result.stderr.splitlines() if f"--max-tokens {10**9}: dataset val holds" in ln]
    assert said == [f"warning: --max-tokens {10**9}: dataset val holds {scored[0] + 1} tokens, so {scored[0]} "
                    "are scored"]  # once for the two checkpoints
