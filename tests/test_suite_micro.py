"""A micro version of the mini suite, end to end in seconds: corpus, tokenizer, training (grid,
long, code and warmup parts), resume after a kill, sweep of every checkpoint, and the join."""
from __future__ import annotations

import json
import math
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from click.testing import CliRunner

from scalefit.cli import main
from scalefit.trainer.corpus import build_corpus, load_tokens
from scalefit.schedule import LRSchedule, lr_at_step
from scalefit.trainer.checkpoints import latest_resumable
from scalefit.trainer.spec import load_spec, run_warmup_steps
from scalefit.trainer.train import train_run
from tinyspec import MICRO_RECIPE, micro_spec, write_sources

torch.set_num_threads(1)
__all__ = ["MICRO_SPEC", "WSD_SPEC", "write_sources"]  # what other test files import from here

MICRO_SPEC = micro_spec(
    ("[grid]", {"distribution": "prose", "tokens": [320, 960]}),
    ("[long]", {"distribution": "prose", "tokens": [960], "n_even_checkpoints": 5}),
    ("[code]", {"distribution": "code", "tokens": [320]}),
    ("[warmup]", {"sizes": ["s1"], "tokens": [1280], "warmup_fracs": [0.05, 0.25], "warmup_min_steps": 1,
                  "n_log_checkpoints": 6, "n_even_checkpoints": 4}))


@pytest.fixture(scope="module")
def corpus(micro_corpus, tmp_path_factory):
    """This module's folder: its corpus/ and sources are the session's micro corpus (read only)."""
    source, manifest = micro_corpus
    root = tmp_path_factory.mktemp("micro")
    for name in ("corpus", "prose_src", "code_src"):
        (root / name).symlink_to(source / name)
    return root, manifest


@pytest.fixture(scope="module")
def trained(corpus):
    root, _ = corpus
    spec = root / "micro.toml"
    spec.write_text(MICRO_SPEC)
    result = CliRunner().invoke(main, ["suite", "train", "--spec", str(spec), "--corpus", str(root / "corpus"),
                                       "--out", str(root / "suite"), "--part", "grid", "--part", "long",
                                       "--part", "code", "--part", "warmup", "--json"])
    assert result.exit_code == 0, result.output
    return root, spec, json.loads(result.stdout)


# ---------------------------------------------------------------- corpus and tokenizer


def test_corpus_splits_by_document_and_dedups(corpus):
    root, manifest = corpus
    prose = manifest["distributions"]["prose"]
    assert prose["n_files"] == 31 and prose["n_duplicates"] == 1
    assert prose["train"]["n_docs"] + prose["val"]["n_docs"] + prose["test"]["n_docs"] == 30
    docs = json.loads((root / "corpus" / "prose" / "documents.json").read_text())
    assert not set(docs["train"]) & (set(docs["val"]) | set(docs["test"]))
    for dist in ("prose", "code"):
        for split in ("train", "val", "test"):
            tokens = load_tokens(root / "corpus", dist, split)
            assert tokens.dtype == np.uint16 and len(tokens) == manifest["distributions"][dist][split]["n_tokens"]
            assert tokens.max() < manifest["vocab_size_actual"]


def test_corpus_is_reproducible(corpus, micro_corpus, tmp_path):
    root, manifest = corpus
    sources = [[micro_corpus[0] / "prose_src"], [micro_corpus[0] / "code_src"]]  # the folders the manifest names
    again = build_corpus(tmp_path / "c", *sources, vocab_size=320, seed=3, val_frac=0.1, test_frac=0.1)
    assert again["distributions"] == manifest["distributions"]
    for split in ("train", "test"):
        assert (tmp_path / "c" / "code" / f"{split}.bin").read_bytes() == \
            (root / "corpus" / "code" / f"{split}.bin").read_bytes()
    # the same build again into that folder is fine (and removes what a killed build left);
    # another vocabulary over it is refused
    stale = tmp_path / "c" / "code" / "train.bin.tmp-999999999-deadbeef"
    stale.write_bytes(b"half")
    build_corpus(tmp_path / "c", *sources, vocab_size=320, seed=3, val_frac=0.1, test_frac=0.1)
    assert not stale.exists()
    with pytest.raises(ValueError, match="holds a corpus built with vocab_size 320, not 300"):
        build_corpus(tmp_path / "c", *sources, vocab_size=300, seed=3, val_frac=0.1, test_frac=0.1)


def test_tokenizer_round_trips_prose_and_code(corpus):
    from transformers import AutoTokenizer

    root, manifest = corpus
    tok = AutoTokenizer.from_pretrained(str(root / "corpus" / "tokenizer"))
    assert len(tok) == manifest["vocab_size_actual"] <= 320
    for text in ("The kernel driver returns   a value.\n", "def f(x):\n    return x ** 2  # é ü\n"):
        ids = tok(text, add_special_tokens=False)["input_ids"]
        assert tok.decode(ids) == text
        assert len(ids) < len(text.encode())  # BPE merged something
    assert tok.eos_token == "<|endoftext|>"


def test_missing_source_folder_is_an_input_error(tmp_path):
    result = CliRunner().invoke(main, ["data", "build-corpus", "--out", str(tmp_path / "c"),
                                       "--prose-dir", str(tmp_path / "nope"), "--code-dir", str(tmp_path)])
    assert result.exit_code == 2
    assert "source folder does not exist" in result.stderr and len(result.stderr.strip().splitlines()) == 1


# ---------------------------------------------------------------- spec and training


def test_spec_parts_and_warmup_variants(tmp_path):
    path = tmp_path / "s.toml"
    path.write_text(MICRO_SPEC)
    spec = load_spec(path, vocab_size=320)
    ids = [r.run for r in spec.runs]
    assert ids == ["grid/s1-D320", "grid/s2-D320", "grid/s1-D960", "grid/s2-D960", "code/s1-D320",
                   "code/s2-D320", "warmup/s1-D1280-W0.05", "warmup/s1-D1280-W0.25"]
    long_run = spec.runs[2]
    assert long_run.also == "long" and long_run.checkpoints[:4] == [0, 1, 2, 4] and long_run.checkpoints[-1] == 30
    w1, w2 = spec.runs[-2:]
    assert (w1.steps, run_warmup_steps(spec.recipe, w1), run_warmup_steps(spec.recipe, w2)) == (40, 2, 10)
    assert w1.checkpoints == w2.checkpoints  # the same steps in every variant
    for end in (2, 10):
        assert {end - 1, end, end + 1} <= set(w1.checkpoints)
    assert run_warmup_steps(spec.recipe, spec.runs[0]) == 2  # recipe floor for the other parts
    assert w1.model_name == "s1-W0.05"


@pytest.mark.parametrize("edit, message", [
    ("d_model = 16\n", "sizes, row 1: missing 'd_model'"),
    ('sizes = ["s1"]\ntokens = [1280]', "[warmup] sizes: unknown size 's9'"),
    ("warmup_fracs = [0.05, 0.25]", "[warmup] warmup_fracs"),
    ("[grid]", "cannot read spec"),
])
def test_bad_spec_exits_2_with_one_line(tmp_path, edit, message):
    bad = {"d_model = 16\n": MICRO_SPEC.replace("d_model = 16\n", "", 1),
           'sizes = ["s1"]\ntokens = [1280]': MICRO_SPEC.replace('sizes = ["s1"]\ntokens = [1280]',
                                                                 'sizes = ["s9"]\ntokens = [1280]'),
           "warmup_fracs = [0.05, 0.25]": MICRO_SPEC.replace("warmup_fracs = [0.05, 0.25]",
                                                             "warmup_fracs = [1.5]"),
           "[grid]": MICRO_SPEC.replace("[grid]", "[grid")}[edit]
    spec = tmp_path / "bad.toml"
    spec.write_text(bad)
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    (corpus / "manifest.json").write_text(json.dumps({"vocab_size_actual": 320}))
    result = CliRunner().invoke(main, ["suite", "train", "--spec", str(spec), "--corpus", str(corpus),
                                       "--out", str(tmp_path / "out")])
    assert result.exit_code == 2, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and message in lines[0] and "Traceback" not in result.output


@pytest.mark.parametrize("old, new, message", [
    ("seq_len = 16", "seq_lne = 16", "[recipe]: unknown key 'seq_lne'; did you mean 'seq_len'?"),
    ("seq_len = 16", 'seq_len = "16"', "[recipe] seq_len = '16': expected a whole number >= 1"),
    ("seq_len = 16", "seq_len = -16", "[recipe] seq_len = -16: expected a whole number >= 1"),
    ("batch_seqs = 2", "batch_seqs = 0", "[recipe] batch_seqs = 0: expected a whole number >= 1"),
    ("warmup_frac = 0.1", "warmup_frac = 5.0", "[recipe] warmup_frac = 5.0: expected a number from 0 to 1"),
    ("eval_tokens = 512", "eval_tokens = -1", "[recipe] eval_tokens = -1"),
    ("lr = 0.005", "lr = nan", "[[sizes]] 1 lr = nan: expected a finite number > 0"),
    ("lr = 0.005", "lr = -1.0", "[[sizes]] 1 lr = -1.0"),
    ("n_head = 2", "n_head = 3", "d_model = 16 is not a multiple of n_head = 3"),
    ("[grid]", "[gird]", "unknown table [gird]; did you mean [grid]?"),
    ("tokens = [320, 960]", "token = [320, 960]", "[grid]: unknown key 'token'; did you mean 'tokens'?"),
    ("tokens = [320, 960]", 'tokens = "320"', "[grid] tokens = '320': expected a list"),
    ("tokens = [320, 960]", "tokens = [-320]", "[grid] tokens item = -320: expected a finite number > 0"),
    ('name = "micro"', 'nmae = "micro"', "[suite]: unknown key 'nmae'; did you mean 'name'?"),
])
def test_spec_keys_types_and_ranges_are_checked_before_training(tmp_path, old, new, message):
    spec = tmp_path / "bad.toml"
    spec.write_text(MICRO_SPEC.replace(old, new, 1))
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    (corpus / "manifest.json").write_text(json.dumps({"vocab_size_actual": 320}))
    for command in (["suite", "train", "--out", str(tmp_path / "out")], ["suite", "sweep", "--suite-dir", str(tmp_path),
                                                                          "--out", str(tmp_path / "sw")]):
        result = CliRunner().invoke(main, [*command, "--spec", str(spec), "--corpus", str(corpus)])
        assert result.exit_code == 2, result.output
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1 and message in lines[0] and "Traceback" not in result.output
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").rglob("*.safetensors"))


def test_training_writes_runs_and_checkpoints(trained):
    root, spec_path, rows = trained
    table = pd.read_csv(root / "suite" / "runs.csv")
    assert sorted(table["run"]) == sorted(r["run"] for r in rows) and len(table) == 8
    spec = load_spec(spec_path, vocab_size=320)
    for run in spec.runs:
        for step in run.checkpoints:
            folder = root / "suite" / run.run / f"step{step}"
            assert (folder / "model.safetensors").exists() and (folder / "config.json").exists()
        assert not (root / "suite" / run.run / "resume").exists()
    warm = table[table["part"] == "warmup"].set_index("run")
    assert warm.loc["warmup/s1-D1280-W0.05", "warmup_steps"] == 2
    assert warm.loc["warmup/s1-D1280-W0.25", "warmup_steps"] == 10
    # learning rates follow each run's own schedule
    log = pd.read_csv(root / "suite" / "warmup/s1-D1280-W0.25" / "train_log.csv")
    expected = lr_at_step(LRSchedule(peak=5e-3, warmup_steps=10, decay_steps=40, final_ratio=0.1), log["step"])
    np.testing.assert_allclose(log["lr"], expected, rtol=1e-5)
    assert log["lr"].idxmax() == 9
    # training learns: longer runs reach lower loss, every prose run ends below the uniform guess ln(V)
    grid = table[table["part"] == "grid"].set_index("run")["loss"]
    for size in ("s1", "s2"):
        assert grid[f"grid/{size}-D960"] < grid[f"grid/{size}-D320"] < np.log(320)
    long_log = pd.read_csv(root / "suite" / "grid/s2-D960" / "train_log.csv")
    assert long_log["loss"].tail(5).mean() < long_log["loss"].head(3).mean() - 1.0


def test_second_invocation_resumes_nothing(trained):
    root, spec_path, _ = trained
    before = pd.read_csv(root / "suite" / "runs.csv").sort_values("run", ignore_index=True)
    result = CliRunner().invoke(main, ["suite", "train", "--spec", str(spec_path), "--corpus",
                                       str(root / "corpus"), "--out", str(root / "suite"), "--json"])
    assert result.exit_code == 0
    assert len(json.loads(result.stdout)) == 6  # grid, long, code by default; warmup only when named
    after = pd.read_csv(root / "suite" / "runs.csv").sort_values("run", ignore_index=True)
    pd.testing.assert_frame_equal(after, before)


def _other_corpus(root: Path, tmp_path: Path, **manifest) -> Path:
    """A copy of the micro corpus whose manifest says other things (another corpus to the checks)."""
    import shutil

    other = tmp_path / "other_corpus"
    shutil.copytree(root / "corpus", other)
    doc = json.loads((other / "manifest.json").read_text())
    (other / "manifest.json").write_text(json.dumps({**doc, **manifest}))
    return other


@pytest.mark.parametrize("edit, message", [(("lr = 0.005", "lr = 1e-3"), "was trained with lr 0.005"),
                                           (("seed = 7", "seed = 8"), "was trained with seed 7"),
                                           (None, "was trained with corpus ")])
def test_a_finished_run_is_not_reused_after_the_spec_or_corpus_changed(trained, tmp_path, edit, message):
    root, spec_path, _ = trained
    spec, corpus = tmp_path / "s.toml", root / "corpus"
    spec.write_text(MICRO_SPEC.replace(*edit) if edit else MICRO_SPEC)
    if edit is None:
        corpus = _other_corpus(root, tmp_path, seed=99)
    before = (root / "suite" / "runs.csv").read_bytes()
    result = CliRunner().invoke(main, ["suite", "train", "--spec", str(spec), "--corpus", str(corpus),
                                       "--out", str(root / "suite"), "--part", "grid", "--only", "grid/s1-D320"])
    assert result.exit_code == 2, result.output
    assert message in result.stderr and "grid/s1-D320" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert (root / "suite" / "runs.csv").read_bytes() == before


def test_killed_run_resumes_to_identical_weights(corpus, tmp_path):
    from safetensors.torch import load_file

    root, _ = corpus
    spec_path = tmp_path / "long.toml"
    spec_path.write_text(micro_spec(("[long]", {"tokens": [12800], "n_even_checkpoints": 4}),
                                    recipe={**MICRO_RECIPE, "resume_every": 20}))
    spec = load_spec(spec_path, vocab_size=320)
    run = next(r for r in spec.runs if r.size.name == "s1")
    assert run.steps == 400
    reference = train_run(spec, run, root / "corpus", tmp_path / "ref", progress=False)
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    cmd = [sys.executable, "-m", "scalefit.cli", "suite", "train", "--spec", str(spec_path), "--corpus",
           str(root / "corpus"), "--out", str(tmp_path / "killed"), "--only", "s1", "--json"]
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    log = tmp_path / "killed" / run.run / "train_log.csv"
    deadline = time.time() + 120
    while time.time() < deadline and proc.poll() is None:
        if log.exists() and len(log.read_text().splitlines()) > 150:
            proc.send_signal(signal.SIGKILL)
            break
        time.sleep(0.02)
    proc.wait()
    assert proc.returncode == -signal.SIGKILL, "the run finished before it could be killed"
    assert not (tmp_path / "killed" / run.run / "result.json").exists()
    latest = latest_resumable(tmp_path / "killed" / run.run)
    assert latest[0] >= 100
    (latest[1] / "model.safetensors").write_bytes(b"")  # and the disk filled up: that one is unreadable
    resumed = CliRunner().invoke(main, cmd[3:])  # the re-run in this process: only the killed one needs its own
    assert resumed.exit_code == 0, resumed.output[-2000:]
    assert f"warning: {run.run}: checkpoint {latest[1].name} cannot be read" in resumed.stderr  # set aside, earlier used
    assert (tmp_path / "killed" / run.run / "damaged" / latest[1].name).is_dir()
    row = json.loads(resumed.stdout)[0]
    for step in (100, 400):
        a = load_file(str(tmp_path / "ref" / run.run / f"step{step}" / "model.safetensors"))
        b = load_file(str(tmp_path / "killed" / run.run / f"step{step}" / "model.safetensors"))
        assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    assert row["loss"] == reference["loss"]
    log_steps = pd.read_csv(log)["step"]
    assert list(log_steps) == list(range(1, 401))  # no step logged twice after the resume


# ---------------------------------------------------------------- sweep and join


@pytest.fixture(scope="module")
def swept(trained):
    root, spec_path, _ = trained
    args = ["suite", "sweep", "--spec", str(spec_path), "--suite-dir", str(root / "suite"), "--corpus",
            str(root / "corpus"), "--out", str(root / "sweep"), "--tables", str(root / "tables"),
            "--json"]  # no --max-tokens: the spec's eval_tokens, the trainer's eval sets
    from scalefit.sweep.weights import weight_stats_function

    if weight_stats_function() is None:
        args.insert(2, "--no-weights")
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    return root, spec_path, args, json.loads(result.stdout)


def test_sweep_measures_every_checkpoint_once(swept):
    root, spec_path, args, summary = swept
    spec = load_spec(spec_path, vocab_size=320)
    long_and_warmup = sum(len(r.checkpoints) for r in spec.runs if r.also == "long" or r.part == "warmup")
    finals = sum(1 for r in spec.runs if not (r.also == "long" or r.part == "warmup"))
    assert summary["measured"] == long_and_warmup + finals and not summary["failed"]
    again = CliRunner().invoke(main, args)  # a re-run resumes: nothing left to measure
    assert again.exit_code == 0 and json.loads(again.stdout)["measured"] == 0


def test_checkpoint_table_carries_schedule_and_losses(swept):
    root, spec_path, _, _ = swept
    table = pd.read_parquet(root / "tables" / "checkpoints.parquet")
    assert set(table["model"]) == {"s1", "s2", "s1-W0.05", "s1-W0.25"}
    assert table["value"].dtype == np.float32
    evals = table[table["metric"] == "loss"]
    assert set(evals["dataset"]) == {"prose-val", "prose-test", "code-test"}
    assert evals.groupby(["model", "step", "dataset"]).size().eq(1).all()
    spec = load_spec(spec_path, vocab_size=320)
    for model, run_id in (("s1-W0.25", "warmup/s1-D1280-W0.25"), ("s2", "grid/s2-D960")):
        rows = table[table["model"] == model]
        run = next(r for r in spec.runs if r.run == run_id)
        assert sorted(rows["step"].unique()) == run.checkpoints
        assert (rows["warmup_steps"] == run_warmup_steps(spec.recipe, run)).all()
        assert (rows["total_steps"] == run.steps).all() and (rows["tokens"] == rows["step"] * 32).all()
        log = pd.read_csv(root / "suite" / run_id / "train_log.csv").set_index("step")["lr"]
        per_step = rows.drop_duplicates("step").set_index("step")["lr"].drop(0)
        np.testing.assert_allclose(per_step, log.loc[per_step.index], rtol=1e-4)
        val = evals[(evals["model"] == model) & (evals["dataset"] == "prose-val")].set_index("step")["value"]
        assert val.loc[run.steps] < val.loc[0] - 0.5  # the model learned the training distribution
    finals = pd.read_parquet(root / "tables" / "finals.parquet")
    assert {"s1-D320", "s2-code-D320", "s2", "s1-W0.05"} <= set(finals["model"])
    assert finals.groupby("model")["step"].nunique().eq(1).all()
    runs = pd.read_csv(root / "suite" / "runs.csv").set_index("run")
    code_val = finals[(finals["model"] == "s2-code-D320") & (finals["metric"] == "loss")]
    assert code_val["part"].eq("code").all() and code_val["distribution"].eq("code").all()
    assert runs.loc["code/s2-D320", "steps"] == code_val["step"].iloc[0]


def test_trainer_and_sweep_score_loss_alike(swept):
    """One eval set per split: every run's final losses in runs.csv (and their SEs) are the sweep's
    losses of its last checkpoint, on the windows of the spec's eval_tokens."""
    from scalefit.trainer.sweep import run_model_id

    root, spec_path, _, _ = swept
    spec = load_spec(spec_path, vocab_size=320)
    runs = pd.read_csv(root / "suite" / "runs.csv").set_index("run")
    assert {"loss_se", "loss_prose_test_se", "loss_code_test_se", "loss_code_val_se", "eval_tokens",
            "eval_docs", "schedule"} <= set(runs.columns)
    assert (runs["schedule"] == "cosine").all() and (runs["eval_tokens"] == 512).all()
    manifest = json.loads((root / "corpus" / "manifest.json").read_text())["distributions"]
    split_docs = {f"{dist}-{split}": manifest[dist][split]["n_docs"]
                  for dist, split in (("prose", "val"), ("prose", "test"), ("code", "test"))}
    finals = pd.read_parquet(root / "tables" / "finals.parquet")
    for table in (finals, pd.read_parquet(root / "tables" / "checkpoints.parquet")):
        assert {"se", "n_docs", "n_tokens", "schedule", "cooldown_fraction", "branch_step"} \
            <= set(table.columns)
        losses = table[table["metric"] == "loss"]
        assert losses["n_tokens"].eq(512).all()
        # windows spread over the whole split reach every document of it (its first 512 tokens would not)
        assert (losses["n_docs"] == losses["dataset"].map(split_docs)).all()
        several = losses["n_docs"] >= 2  # an SE needs two documents at least (code test has one here)
        assert split_docs["prose-val"] >= 2 and losses.loc[several, "se"].gt(0).all()
        assert losses.loc[~several, "se"].isna().all()
    loss = finals[finals["metric"] == "loss"].set_index(["model", "step", "dataset"])
    columns = {"prose-val": ("loss", "loss_se"), "prose-test": ("loss_prose_test", "loss_prose_test_se"),
               "code-test": ("loss_code_test", "loss_code_test_se")}
    for run in spec.runs:
        row = runs.loc[run.run]
        for dataset, (value, se) in columns.items():
            if dataset == "prose-val" and run.distribution != "prose":
                np.testing.assert_equal([row["loss"], row["loss_se"]],
                                        [row["loss_code_val"], row["loss_code_val_se"]])
                continue  # a code run's own loss is code val, which the sweep does not score
            swept_row = loss.loc[(run_model_id(run), run.steps, dataset)]
            assert row[value] == pytest.approx(float(swept_row["value"]), abs=1e-4), (run.run, dataset)
            assert row[se] == pytest.approx(float(swept_row["se"]), abs=1e-4, nan_ok=True), (run.run, dataset)
            if dataset == "prose-val":
                assert row["eval_docs"] == swept_row["n_docs"] and row["eval_tokens"] == swept_row["n_tokens"]


def test_sweep_joins_with_weight_statistics(swept):
    from scalefit.sweep.weights import weight_stats_function
    from scalefit.scaling.trajectories.join import join_checkpoints

    if weight_stats_function() is None:
        pytest.skip("the weightstats layer is not installed")
    root, _, _, _ = swept
    table = pd.read_parquet(root / "tables" / "checkpoints.parquet")
    weights = table[table["stat"].notna()]
    assert set(weights["stat"]) <= set(__import__("scalefit.trainer.sweep", fromlist=["x"]).SHIPPED_STATS)
    assert {"t_nu", "excess_kurtosis", "std"} <= set(weights["stat"])
    wide = join_checkpoints(table, stats=["std"], groups=["mlp_in"])
    assert {"prose-val/loss", "mlp_in/std", "lr", "warmup_steps"} <= set(wide.columns)
    assert len(wide) == table[["model", "step"]].drop_duplicates().shape[0]
    # the MLP-in weights move away from their init scale as training goes on
    s1 = wide[wide["model"] == "s1"].set_index("step")["mlp_in/std"]
    assert abs(s1.iloc[-1] - s1.iloc[0]) > 1e-3
    result = CliRunner().invoke(main, ["transitions", "--stat", "std", "--group", "mlp_in", "--data",
                                       str(root / "tables" / "checkpoints.parquet"), "--bootstrap", "20",
                                       "--json"])
    assert result.exit_code == 0, result.output
    runs = {r["model"]: r for r in json.loads(result.stdout)["runs"]}
    assert runs["s1-W0.25"]["warmup_end"] == 10 and runs["s1-W0.05"]["warmup_end"] == 2
    # --stats with a name the sweep never measures: one line, exit 2 (it used to write no rows)
    bogus = CliRunner().invoke(main, ["suite", "sweep", *swept[2][2:-1], "--stats", "std,bogus"])
    assert bogus.exit_code == 2 and "--stats bogus: no such statistic is measured by a weights sweep" in bogus.output, bogus.output


def test_ship_merges_lane_tables_with_provenance(trained, tmp_path):
    root, spec_path, _ = trained
    table = pd.read_csv(root / "suite" / "runs.csv")
    lanes = []
    for i, part in enumerate((["grid", "code"], ["warmup"])):  # two lanes, as the real suite trains
        lane = tmp_path / f"lane{i}"
        lane.mkdir()
        table[table["part"].isin(part)].to_csv(lane / "runs.csv", index=False)
        lanes += ["--from", str(lane)]
    result = CliRunner().invoke(main, ["suite", "ship", "--spec", str(spec_path), *lanes, "--suite-dir",
                                       str(root / "suite"), "--corpus", str(root / "corpus"),
                                       "--out", str(tmp_path / "ship"), "--json"])
    assert result.exit_code == 0, result.output
    prov = json.loads(result.stdout)
    shipped = pd.read_csv(tmp_path / "ship" / "runs.csv")
    assert list(shipped["run"]) == ["grid/s1-D320", "grid/s1-D960", "grid/s2-D320", "grid/s2-D960",
                                    "code/s1-D320", "code/s2-D320", "warmup/s1-D1280-W0.05",
                                    "warmup/s1-D1280-W0.25"]
    assert shipped["warmup_frac"].notna().all()
    assert json.loads((tmp_path / "ship" / "provenance.json").read_text()) == prov
    assert prov["seed"] == 7 and "torch" in prov["versions"] and "[warmup]" in prov["spec"]
    assert len(prov["runs"]) == 8
    timing = prov["wall_time"]["all"]
    assert 0 < timing["busy_wall_s"] <= timing["sum_of_run_wall_s"] + 1e-6
    # a lane of another spec's runs is refused (provenance would name this spec for them); a lane
    # left out ships the rest, with a warning naming the runs it lacks
    foreign = tmp_path / "foreign"
    foreign.mkdir()
    table.head(1).assign(run="long/s9-D960").to_csv(foreign / "runs.csv", index=False)
    args = ["suite", "ship", "--spec", str(spec_path), "--suite-dir", str(root / "suite"), "--corpus",
            str(root / "corpus")]
    bad = CliRunner().invoke(main, args + [*lanes, "--from", str(foreign), "--out", str(tmp_path / "bad")])
    assert bad.exit_code == 2 and "1 run(s) are not runs of" in bad.stderr and "long/s9-D960" in bad.stderr
    assert not (tmp_path / "bad" / "runs.csv").exists()
    part = CliRunner().invoke(main, args + lanes[:2] + ["--out", str(tmp_path / "part"), "--note",
                                                      "lane B rerun on 2 cores", "--json"])
    assert part.exit_code == 0 and "warning: 2 run(s) of" in part.stderr, part.output
    assert "warmup/s1-D1280-W0.05" in part.stderr
    assert "lane B rerun on 2 cores" in part.stdout and "are in no --from table" not in part.stdout


def test_ship_rescore_remeasures_final_losses_on_the_eval_sets(trained, tmp_path):
    """--rescore: runs.csv's loss columns re-measured from each run's last checkpoint; a row whose
    losses were scored another way gets the eval-set numbers back, other columns stay."""
    root, spec_path, _ = trained
    table = pd.read_csv(root / "suite" / "runs.csv")
    lane = tmp_path / "lane"
    lane.mkdir()
    stale = table.assign(loss=table["loss"] + 0.3, loss_se=np.nan)  # as if scored on other tokens
    stale.to_csv(lane / "runs.csv", index=False)
    result = CliRunner().invoke(main, ["suite", "ship", "--spec", str(spec_path), "--from", str(lane),
                                       "--suite-dir", str(root / "suite"), "--corpus", str(root / "corpus"),
                                       "--out", str(tmp_path / "ship"), "--rescore", "--json"])
    assert result.exit_code == 0, result.output
    shipped = pd.read_csv(tmp_path / "ship" / "runs.csv").set_index("run")
    fresh = table.set_index("run").loc[shipped.index]
    np.testing.assert_allclose(shipped["loss"], fresh["loss"], atol=2e-5)
    np.testing.assert_allclose(shipped["loss_se"], fresh["loss_se"], atol=2e-5)
    assert (shipped["wall_s"] == fresh["wall_s"]).all()
    missing = CliRunner().invoke(main, ["suite", "ship", "--spec", str(spec_path), "--from", str(lane),
                                        "--suite-dir", str(tmp_path / "nowhere"), "--corpus",
                                        str(root / "corpus"), "--out", str(tmp_path / "x"), "--rescore"])
    assert missing.exit_code == 2 and "no last checkpoint" in missing.stderr


def test_precision_pairs_and_paired_se(trained, tmp_path):
    """suite precision: each final loss equals runs.csv's, the difference is theirs, its paired SE
    is below either run's own SE (same documents); default pairs are neighbouring sizes and
    warmup variants; an unknown model id exits 2 with one line."""
    from scalefit.trainer.precision import default_pairs
    from scalefit.trainer.spec import spec_for_corpus
    from scalefit.trainer.sweep import suite_checkpoints

    root, spec_path, _ = trained
    spec = spec_for_corpus(spec_path, root / "corpus")
    pairs = default_pairs(suite_checkpoints(spec, root / "suite"))
    assert ("s1-W0.05", "s1-W0.25") in pairs and ("s1-D320", "s2-D320") in pairs and ("s1", "s2") in pairs
    out = tmp_path / "precision.csv"
    result = CliRunner().invoke(main, ["suite", "precision", "--spec", str(spec_path), "--suite-dir",
                                       str(root / "suite"), "--corpus", str(root / "corpus"),
                                       "--pair", "s1-W0.05:s1-W0.25", "--out", str(out), "--json",
                                       "--target-se", "0.005"])
    assert result.exit_code == 0, result.output
    row = json.loads(result.stdout)[0]
    # documents for an SE of 0.005: the SE falls as 1/sqrt(documents)
    assert row["docs_needed"] == math.ceil(row["n_docs"] * (max(row["se_a"], row["se_b"]) / 0.005) ** 2)
    assert row["docs_needed_paired"] == math.ceil(row["n_docs"] * (row["paired_se"] / 0.005) ** 2)
    runs = pd.read_csv(root / "suite" / "runs.csv").set_index("run")
    assert row["loss_a"] == pytest.approx(runs.loc["warmup/s1-D1280-W0.05", "loss"], abs=2e-5)
    assert row["difference"] == pytest.approx(row["loss_a"] - row["loss_b"])
    assert 0 < row["paired_se"] < min(row["se_a"], row["se_b"])
    assert len(pd.read_csv(out)) == 1
    bad = CliRunner().invoke(main, ["suite", "precision", "--spec", str(spec_path), "--suite-dir",
                                    str(root / "suite"), "--corpus", str(root / "corpus"), "--pair", "s1:s9"])
    assert bad.exit_code == 2 and len(bad.stderr.strip().splitlines()) == 1 and "s9" in bad.stderr
    with pytest.MonkeyPatch.context() as mp:  # a suite with nothing to pair: said, not an empty output
        mp.setattr("scalefit.trainer.precision.default_pairs", lambda checkpoints: [])
        none = CliRunner().invoke(main, ["suite", "precision", "--spec", str(spec_path), "--suite-dir",
                                         str(root / "suite"), "--corpus", str(root / "corpus")])
    assert none.exit_code == 2 and "no pair to compare by default" in none.stderr, none.output
    text = CliRunner().invoke(main, ["suite", "precision", "--spec", str(spec_path), "--suite-dir",
                                     str(root / "suite"), "--corpus", str(root / "corpus"),
                                     "--pair", "s1-W0.05:s1-W0.25", "--target-se", "0.01"])
    assert text.exit_code == 0, text.output
    need = math.ceil(row["n_docs"] * (max(row["se_a"], row["se_b"]) / 0.01) ** 2)
    assert f"on prose-val needs {need:,} documents like these" in text.stdout
    for bad_target in ("nan", "0", "-1"):
        refused = CliRunner().invoke(main, ["suite", "precision", "--spec", str(spec_path), "--target-se", bad_target])
        assert refused.exit_code == 2 and "--target-se" in refused.stderr
        assert len(refused.stderr.strip().splitlines()) == 1
    malformed = CliRunner().invoke(main, ["suite", "precision", "--spec", str(spec_path), "--pair", "s1"])
    lines = malformed.stderr.strip().splitlines()
    assert malformed.exit_code == 2 and len(lines) == 1
    assert lines[0].endswith("--pair 's1': give two model ids as A:B, e.g. mini-3-D245760:mini-4-D245760")


# ---------------------------------------------------------------- near-grid checkpoints and WSD

WSD_SPEC = micro_spec(("[wsd]", {"distribution": "prose", "sizes": ["s1"], "tokens": [640, 1280],
                                 "cooldown_frac": 0.2, "n_cooldown_checkpoints": 2, "n_even_checkpoints": 4}))
WSD_PEAK, WSD_WARMUP = 5e-3, 4  # s1's peak; the longest length's warmup (10% of 40 steps)


def test_near_grid_checkpoints_the_long_run_around_every_grid_length(tmp_path):
    path = tmp_path / "near.toml"
    path.write_text(MICRO_SPEC.replace("n_even_checkpoints = 5\n",
                                       "n_even_checkpoints = 5\nnear_grid = true\n"))
    near = {r.run: r for r in load_spec(path, vocab_size=320).runs}
    path.write_text(MICRO_SPEC)
    plain = {r.run: r for r in load_spec(path, vocab_size=320).runs}
    for size in ("s1", "s2"):  # grid lengths 10 and 30 steps; the long run (30 steps) is the grid's
        run = near[f"grid/{size}-D960"]
        assert run.also == "long" and run.checkpoints == sorted(set(run.checkpoints))
        added = set(run.checkpoints) - set(plain[f"grid/{size}-D960"].checkpoints)
        assert {8, 9, 10, 11, 12, 24, 27, 30} <= set(run.checkpoints)  # 0.8, 0.9, 1, 1.1, 1.2 x 10; x 30
        assert len({28, 29} & set(run.checkpoints)) == 1  # 0.95 x 30
        assert all(8 <= s <= 12 or 24 <= s <= 30 for s in added) and max(run.checkpoints) == 30
        assert near[f"grid/{size}-D320"].checkpoints == [10]  # only the long run gains checkpoints


def test_wsd_spec_runs_and_branch_steps(tmp_path):
    from scalefit.trainer.sweep import run_facts, run_model_id

    path = tmp_path / "wsd.toml"
    path.write_text(WSD_SPEC)
    spec = load_spec(path, vocab_size=320)
    const, short, long_ = spec.runs
    assert [r.run for r in spec.runs] == ["wsd/s1-constant", "wsd/s1-D640-cool0.2", "wsd/s1-D1280-cool0.2"]
    assert [run_model_id(r) for r in spec.runs] == ["s1-wsd-constant", "s1-wsd-D640", "s1-wsd-D1280"]
    assert [(r.style, r.steps) for r in spec.runs] == [("constant", 32), ("wsd", 20), ("wsd", 40)]
    assert (short.branch_of, short.branch_step, long_.branch_of, long_.branch_step) == \
        ("wsd/s1-constant", 16, "wsd/s1-constant", 32)  # 0.8 T
    assert const.branch_of == "" and {16, 20, 32} <= set(const.checkpoints)  # every branch point kept
    assert short.checkpoints == [18, 20] and long_.checkpoints == [36, 40]
    assert [run_warmup_steps(spec.recipe, r) for r in spec.runs] == [WSD_WARMUP] * 3  # one warmup
    assert all(r.cooldown_frac == 0.2 and r.part == "wsd" for r in spec.runs)
    facts = run_facts(spec).set_index("model")
    assert list(facts["schedule"]) == ["constant", "wsd", "wsd"]
    assert np.isnan(facts.loc["s1-wsd-constant", "cooldown_fraction"])
    assert list(facts["cooldown_fraction"].iloc[1:]) == [0.2, 0.2]
    assert list(facts["branch_step"]) == [0, 16, 32]
    path.write_text(WSD_SPEC.replace("cooldown_frac = 0.2", "cooldown_frac = 0.25"))
    spec = load_spec(path, vocab_size=320)
    assert [(r.branch_step, r.cooldown_frac) for r in spec.runs[1:]] == [(15, 0.25), (30, 0.25)]
    assert spec.runs[0].steps == 30


@pytest.mark.parametrize("edit, message", [
    (('sizes = ["s1"]', 'sizes = ["s9"]'), "[wsd] sizes: unknown size 's9'"),
    (("cooldown_frac = 0.2", "cooldown_frac = 0"), "[wsd] cooldown_frac"),
    (("cooldown_frac = 0.2", "cooldown_frac = 1.0"), "[wsd] cooldown_frac"),
    (("cooldown_frac = 0.2", "cooldown_frac = 1.5"), "[wsd] cooldown_frac"),
    (("tokens = [640, 1280]", "tokens = []"), "[wsd] tokens"),
])
def test_bad_wsd_spec_is_an_input_error(tmp_path, edit, message):
    from scalefit.errors import InputError

    path = tmp_path / "bad.toml"
    path.write_text(WSD_SPEC.replace(*edit))
    with pytest.raises(InputError) as err:
        load_spec(path, vocab_size=320)
    assert message in str(err.value) and "\n" not in str(err.value)


@pytest.fixture(scope="module")
def wsd_trained(corpus, tmp_path_factory):
    """The [wsd] part trained by the default `suite train` (grid, long, code and wsd)."""
    root, manifest = corpus
    work = tmp_path_factory.mktemp("wsd")
    spec_path = work / "wsd.toml"
    spec_path.write_text(WSD_SPEC)
    result = CliRunner().invoke(main, ["suite", "train", "--spec", str(spec_path), "--corpus",
                                       str(root / "corpus"), "--out", str(work / "suite"), "--json"])
    assert result.exit_code == 0, result.output
    spec = load_spec(spec_path, vocab_size=manifest["vocab_size_actual"])
    return root / "corpus", work, spec, {r["run"]: r for r in json.loads(result.stdout)}


def test_wsd_branch_is_the_wsd_run_trained_from_scratch(wsd_trained):
    from dataclasses import replace

    from safetensors.torch import load_file

    corpus_dir, work, spec, rows = wsd_trained
    assert list(rows) == ["wsd/s1-constant", "wsd/s1-D640-cool0.2", "wsd/s1-D1280-cool0.2"]
    branch = spec.runs[2]
    scratch = replace(branch, run="wsd/s1-D1280-scratch", branch_of="", branch_step=0, checkpoints=[40])
    assert (scratch.style, scratch.warmup_fixed) == ("wsd", WSD_WARMUP)
    reference = train_run(spec, scratch, corpus_dir, work / "scratch", progress=False)

    ref_log = pd.read_csv(work / "scratch" / scratch.run / "train_log.csv").set_index("step")
    branch_log = pd.read_csv(work / "suite" / branch.run / "train_log.csv").set_index("step")
    const_log = pd.read_csv(work / "suite" / "wsd/s1-constant" / "train_log.csv").set_index("step")
    assert list(branch_log.index) == list(range(33, 41)) and list(ref_log.index) == list(range(1, 41))
    joined = pd.concat([const_log.loc[:32], branch_log])  # the constant run up to the branch, then it
    np.testing.assert_allclose(joined["loss"], ref_log["loss"], rtol=0, atol=1e-5)
    np.testing.assert_allclose(joined["lr"], ref_log["lr"], rtol=1e-6)
    a = load_file(str(work / "suite" / branch.run / "step40" / "model.safetensors"))
    b = load_file(str(work / "scratch" / scratch.run / "step40" / "model.safetensors"))
    assert a.keys() == b.keys()
    for name in a:
        torch.testing.assert_close(a[name], b[name], rtol=1e-6, atol=1e-7)
    assert rows[branch.run]["loss"] == pytest.approx(reference["loss"], abs=1e-5)


def test_wsd_rows_and_learning_rates(wsd_trained):
    corpus_dir, work, spec, rows = wsd_trained
    table = pd.read_csv(work / "suite" / "runs.csv").set_index("run")
    assert list(table.loc[["wsd/s1-constant", "wsd/s1-D640-cool0.2", "wsd/s1-D1280-cool0.2"], "schedule"]) == \
        ["constant", "wsd", "wsd"]
    for run in spec.runs[1:]:
        row = table.loc[run.run]
        assert (row["branch_of"], row["branch_step"], row["steps"], row["warmup_steps"]) == \
            ("wsd/s1-constant", run.branch_step, run.steps, WSD_WARMUP)
        assert row["cooldown_fraction"] == 0.2  # the name the tables and scaling/laws read
        log = pd.read_csv(work / "suite" / run.run / "train_log.csv")
        schedule = LRSchedule(peak=WSD_PEAK, warmup_steps=WSD_WARMUP, decay_steps=run.steps, final_ratio=0.1,
                              style="wsd", cooldown_fraction=0.2)
        np.testing.assert_allclose(log["lr"], lr_at_step(schedule, log["step"]), rtol=1e-5)
        # by hand: a straight line from the peak at 0.8 T to 0.1 x peak at T
        straight = WSD_PEAK - 0.9 * WSD_PEAK * (log["step"] - run.branch_step) / (run.steps - run.branch_step)
        np.testing.assert_allclose(log["lr"], straight, rtol=1e-5)
    assert pd.isna(table.loc["wsd/s1-constant"].get("branch_of", np.nan))
    const_log = pd.read_csv(work / "suite" / "wsd/s1-constant" / "train_log.csv")
    assert (const_log.loc[const_log["step"] >= WSD_WARMUP, "lr"] == WSD_PEAK).all()
    # the cooldown pays: the longest branch ends below the constant run it branched from
    assert table.loc["wsd/s1-D1280-cool0.2", "loss"] < table.loc["wsd/s1-constant", "loss"]


def test_wsd_runs_csv_names_the_cooldown_as_the_tables_do(wsd_trained):
    _, work, _, _ = wsd_trained
    columns = set(pd.read_csv(work / "suite" / "runs.csv").columns)
    assert "cooldown_fraction" in columns and "cooldown_frac" not in columns


def test_branch_without_its_parent_is_an_input_error(wsd_trained, tmp_path):
    from scalefit.errors import InputError

    corpus_dir, work, spec, _ = wsd_trained
    branch = spec.runs[2]
    with pytest.raises(InputError) as err:
        train_run(spec, branch, corpus_dir, tmp_path / "empty", progress=False)
    message = str(err.value)
    assert "wsd/s1-constant" in message and "step 32" in message
    assert "scalefit suite train --part wsd --only wsd/s1-constant" in message
    result = CliRunner().invoke(main, ["suite", "train", "--spec", str(work / "wsd.toml"), "--corpus",
                                       str(corpus_dir), "--out", str(tmp_path / "cli"), "--only", "D1280"])
    assert result.exit_code == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "--only wsd/s1-constant" in lines[0] and "Traceback" not in result.output


def test_sweep_refuses_other_options_or_another_corpus(swept, tmp_path):
    root, _, args, _ = swept
    again = [a for a in args if a != "--json"]
    result = CliRunner().invoke(main, [*again, "--max-tokens", "64", "--only", "s1-D320"])
    assert result.exit_code == 2 and "--max-tokens 64: " in result.stderr, result.output
    assert "was measured with --max-tokens 512" in result.stderr
    for manifest, message in (({"seed": 99}, "trained on corpus"), ({"vocab_size_actual": 300}, "has 300")):
        corpus = _other_corpus(root, tmp_path / message.replace(" ", "_"), **manifest)
        other = [a if a != str(root / "corpus") else str(corpus) for a in again]
        other[other.index("--out") + 1] = str(tmp_path / "new_sweep")
        result = CliRunner().invoke(main, other)
        assert result.exit_code == 2, result.output
        assert message in result.stderr and "sweep with the corpus the suite was trained on" in result.stderr
        assert not (tmp_path / "new_sweep" / "parts").exists()


def test_only_takes_the_exact_run_id_before_a_substring(corpus, tmp_path):
    """`--only grid/s1-D320` trained grid/s1-D3200 too (a substring match); an exact id is one run,
    a part of an id or a model name is all of its runs, and nothing matched is an InputError."""
    from scalefit.errors import InputError
    from scalefit.trainer.train import select_runs

    path = tmp_path / "spec.toml"
    path.write_text(MICRO_SPEC.replace("tokens = [320, 960]", "tokens = [320, 3200]"))
    runs = [r for r in load_spec(path, vocab_size=320).runs if r.part == "grid"]
    ids = {r.run for r in runs}
    assert {"grid/s1-D320", "grid/s1-D3200"} <= ids
    assert [r.run for r in select_runs(runs, "grid/s1-D320")] == ["grid/s1-D320"]
    assert {r.run for r in select_runs(runs, "s1-D")} == {"grid/s1-D320", "grid/s1-D3200"}
    assert {r.run for r in select_runs(runs, "s2")} == {r.run for r in runs if r.size.name == "s2"}
    with pytest.raises(InputError, match=r"--only grid/s9: no run .*ids: grid/s1-D320"):
        select_runs(runs, "grid/s9", where=" of the parts grid")
    result = CliRunner().invoke(main, ["suite", "train", "--spec", str(path), "--corpus", str(corpus[0] / "corpus"),
                                       "--out", str(tmp_path / "o"), "--part", "grid", "--only", "grid/s9"])
    assert result.exit_code == 2 and "--only grid/s9: no run of the parts grid (--part)" in result.stderr, \
        result.output
    assert not (tmp_path / "o" / "grid").exists()


def test_a_spec_vocab_size_other_than_the_corpus_is_refused(corpus, tmp_path):
    """The corpus's tokenizer sets the vocabulary; a spec asking for another size was silently trained
    with the corpus's, so its runs were not what the spec said."""
    spec = tmp_path / "spec.toml"
    spec.write_text(MICRO_SPEC.replace("vocab_size = 320", "vocab_size = 640"))
    result = CliRunner().invoke(main, ["suite", "train", "--spec", str(spec), "--corpus", str(corpus[0] / "corpus"),
                                       "--out", str(tmp_path / "o"), "--part", "grid"])
    assert result.exit_code == 2, result.output
    line = result.stderr.strip()
    assert "vocab_size = 640" in line and "--vocab-size 320" in line and "build-corpus --vocab-size 640" in line
    assert len(line.splitlines()) == 1 and not (tmp_path / "o" / "grid").exists()


def _strict(text):
    def refuse(name):
        raise ValueError(f"not JSON: {name}")

    return json.loads(text, parse_constant=refuse)


def test_json_output_is_strict_json_when_an_se_is_undefined(trained):
    """The micro corpus's code splits hold one document, so their SEs are NaN: `suite train
    --json` printed them as NaN, which is not JSON (strict parsers, jq, refuse it); now null."""
    root, spec_path, _ = trained
    result = CliRunner().invoke(main, ["suite", "train", "--spec", str(spec_path), "--corpus",
                                       str(root / "corpus"), "--out", str(root / "suite"), "--json"])
    assert result.exit_code == 0
    rows = _strict(result.stdout)
    assert any(r["loss_code_test_se"] is None for r in rows)


def test_sweep_reports_a_damaged_step_folder_and_exits_1(trained, tmp_path):
    """A step folder of the spec without its weights or config (the trainer writes folders whole)
    was skipped in silence, and a checkpoint that failed to load left the exit status 0: the
    tables lacked those steps and nothing said so to a script."""
    import shutil

    root, spec_path, _ = trained
    suite = tmp_path / "suite"
    shutil.copytree(root / "suite" / "grid" / "s1-D960", suite / "grid" / "s1-D960")  # the long run of s1
    run = suite / "grid" / "s1-D960"
    steps = sorted((p for p in run.iterdir() if p.name.startswith("step")), key=lambda p: int(p.name[4:]))
    (steps[1] / "model.safetensors").unlink()
    (steps[2] / "config.json").unlink()
    result = CliRunner().invoke(main, ["suite", "sweep", "--spec", str(spec_path), "--suite-dir", str(suite),
                                       "--corpus", str(root / "corpus"), "--out", str(tmp_path / "sw"),
                                       "--no-weights", "--no-finals", "--only", "grid/s1-D960", "--max-tokens", "64",
                                       "--json"])
    assert result.exit_code == 1, result.output
    failed = {(f["step"], f["error"]) for f in json.loads(result.stdout)["failed"]}
    assert failed == {(int(steps[1].name[4:]), "incomplete checkpoint folder: no model.safetensors"),
                      (int(steps[2].name[4:]), "incomplete checkpoint folder: no config.json")}


def test_part_long_trains_the_grid_run_that_is_the_long_run(trained, tmp_path):
    """--part long trained nothing and said nothing (exit 0) when the long run is as long as a grid
    run (as in the shipped mini.toml): that run is the grid run, its part 'grid', 'long' only beside
    it. It is now the run --part long selects; a part the spec has no run of is refused."""
    root, spec_path, _ = trained
    base = ["suite", "train", "--corpus", str(root / "corpus"), "--out", str(root / "suite"), "--json"]
    result = CliRunner().invoke(main, [*base, "--spec", str(spec_path), "--part", "long"])
    assert result.exit_code == 0, result.output
    assert sorted(r["run"] for r in json.loads(result.stdout)) == ["grid/s1-D960", "grid/s2-D960"]
    spec = tmp_path / "nowarmup.toml"
    spec.write_text(MICRO_SPEC.split("[warmup]")[0])
    result = CliRunner().invoke(main, [*base, "--spec", str(spec), "--part", "warmup"])
    assert result.exit_code == 2, result.output
    assert f"--part warmup: {spec} has no run of that part (its parts: code, grid, long)" in result.stderr


def test_build_corpus_without_prose_dirs_says_which_packages_the_default_is(monkeypatch, tmp_path):
    """Without --prose-dir on a machine without Debian's doc packages the error named a folder
    the user never typed ('/usr/share/doc/...: source folder does not exist')."""
    import scalefit.trainer.corpus as corpus_module

    monkeypatch.setattr(corpus_module, "PROSE_DEFAULT_DIRS", (str(tmp_path / "no-linux-doc"),))
    result = CliRunner().invoke(main, ["data", "build-corpus", "--out", str(tmp_path / "c")])
    assert result.exit_code == 2, result.output
    assert ("no --prose-dir given and the default prose folder" in result.stderr
            and "install Debian's linux-doc-6.1 and python3.11-doc, or give --prose-dir" in result.stderr)


def test_precision_on_a_one_document_eval_set_says_n_a_not_nan(trained):
    """The micro corpus's code test split is one document: the terminal lines printed
    '+- nan' and 'paired SE nan; SE of each nan, nan; 1 documents'."""
    root, spec_path, _ = trained
    result = CliRunner().invoke(main, ["suite", "precision", "--spec", str(spec_path), "--suite-dir",
                                       str(root / "suite"), "--corpus", str(root / "corpus"),
                                       "--pair", "s1-D320:s2-D320", "--dataset", "code-test"])
    assert result.exit_code == 0, result.output
    assert "nan" not in result.stdout
    assert "(paired SE n/a; SE of each n/a, n/a; 1 document)" in result.stdout


def test_ctrl_c_in_suite_train_or_sweep_says_where_the_work_is(monkeypatch, trained, tmp_path):
    """Ctrl-C in `suite train` or `suite sweep` printed only 'interrupted' (exit 130), not where
    the finished work is nor that a re-run resumes, as `scalefit eval` says."""
    import scalefit.trainer.sweep as suite_sweep
    import scalefit.trainer.train as suite_train

    def stop(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(suite_train, "train_suite", stop)
    monkeypatch.setattr(suite_sweep, "sweep_suite", stop)
    root, spec_path, _ = trained
    common = ["--spec", str(spec_path), "--corpus", str(root / "corpus")]
    train = CliRunner().invoke(main, ["suite", "train", *common, "--out", str(tmp_path / "s")])
    assert train.exit_code == 130 and "re-run the same command to resume" in train.stderr, train.output
    sweep = CliRunner().invoke(main, ["suite", "sweep", *common, "--suite-dir", str(root / "suite"),
                                      "--out", str(tmp_path / "sw")])
    assert sweep.exit_code == 130, sweep.output
    assert f"results so far are in {tmp_path / 'sw'} (re-run the same command" in sweep.stderr
