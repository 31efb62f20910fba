"""Checkpoint integrity (fingerprints, duplicated weights, trend breaks, --on-duplicate) on a local
suite where some step folders are copies of others, and the rules that keep one measurement per
sweep folder (options, suite spec keys, empty datasets, --threads, damaged parts, config.json,
temporaries, Ctrl-C at start-up)."""
from __future__ import annotations

import json
import os
import re
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

torch = pytest.importorskip("torch")
torch.set_num_threads(1)

from click.testing import CliRunner  # noqa: E402
from tinysuite import cached_tiny_suite  # noqa: E402

from scalefit.cli import main  # noqa: E402
from scalefit.integrity import drop_duplicates, integrity_flags  # noqa: E402
from scalefit.sweep import engine  # noqa: E402
from scalefit.sweep.checkpoints import safetensors_loader  # noqa: E402
from scalefit.sweep.grid import sweep_grid  # noqa: E402
from scalefit.sweep.integrity import fingerprint_folder  # noqa: E402
from scalefit.sweep.parts import part_is_valid  # noqa: E402

STEPS = (0, 1, 2, 4, 8)


def _noisy_copy(src: Path, dst: Path, scale: float, seed: int) -> None:
    """dst = src with Gaussian noise of `scale` x each tensor's std (a different run's weights)."""
    from safetensors.numpy import load_file, save_file

    shutil.copytree(src, dst)
    tensors = load_file(src / "model.safetensors")
    rng = np.random.default_rng(seed)
    noisy = {k: (v + scale * (v.std() or 1.0) * rng.standard_normal(v.shape)).astype(v.dtype)
             for k, v in tensors.items()}
    save_file(noisy, dst / "model.safetensors", metadata={"format": "pt"})


@pytest.fixture(scope="module")
def broken_suite(tmp_path_factory):
    """tiny-a with step 4 a copy of step 2; tiny-c sharing tiny-a's step 0 (one initialization),
    serving tiny-a's step 1 as its own, a foreign step 4, and its other steps its own."""
    tiny = cached_tiny_suite().parent
    root = tmp_path_factory.mktemp("broken")
    for step in STEPS:
        shutil.copytree(tiny / "tiny-a" / f"step{step if step != 4 else 2}", root / "tiny-a" / f"step{step}")
    shutil.copytree(tiny / "tiny-a" / "step0", root / "tiny-c" / "step0")
    shutil.copytree(tiny / "tiny-a" / "step1", root / "tiny-c" / "step1")
    for step in (2, 8):
        _noisy_copy(tiny / "tiny-a" / f"step{step}", root / "tiny-c" / f"step{step}", 1e-3, step)
    _noisy_copy(root / "tiny-c" / "step2", root / "tiny-c" / "step4", 3.0, 99)
    spec = (tiny / "suite.toml").read_text().replace('name = "tiny-b"', 'name = "tiny-c"')
    (root / "suite.toml").write_text(spec)
    return root / "suite.toml"


def quick_measurement():
    """A measurement that needs no model: the folder's file count (fast, for the engine tests)."""
    return engine.Measurement("files", lambda folder, info: pd.DataFrame([{"stat": "files",
                              "value": float(len(list(Path(folder).iterdir())))}]), table="weights")


def run_engine(suite, out, on_duplicate="warn"):
    _, grid, _ = sweep_grid(str(suite), None, "all")
    return engine.sweep_checkpoints(grid, [quick_measurement()], out, load=safetensors_loader(), progress=False,
                                    on_duplicate=on_duplicate)


def flag_set(flags):
    return {(r.model, int(r.step), r.flag, bool(r.duplicate)) for r in flags.itertuples(index=False)}


EXPECTED = {("tiny-a", 2, "same_as_step", True), ("tiny-a", 4, "same_as_step", True),
            ("tiny-a", 0, "same_as_model", False), ("tiny-c", 0, "same_as_model", False),
            ("tiny-a", 1, "same_as_model", True), ("tiny-c", 1, "same_as_model", True),
            ("tiny-c", 4, "trend_break", False)}


def test_fingerprint_is_the_content_of_the_tensors(broken_suite, tmp_path):
    root = broken_suite.parent
    a2, a4 = fingerprint_folder(root / "tiny-a" / "step2"), fingerprint_folder(root / "tiny-a" / "step4")
    assert a2["fingerprint"] == a4["fingerprint"] and a2["hash"] == "blake2b-128/tensors"
    assert fingerprint_folder(root / "tiny-a" / "step8")["fingerprint"] != a2["fingerprint"]
    # the same tensors in another file layout (resaved, other tensor order) keep the fingerprint
    from safetensors.numpy import load_file, save_file

    tensors = load_file(root / "tiny-a" / "step2" / "model.safetensors")
    names = sorted(tensors)
    save_file({k: tensors[k] for k in names[::2]}, tmp_path / "a.safetensors")
    save_file({k: tensors[k] for k in reversed(names[1::2])}, tmp_path / "b.safetensors")
    assert fingerprint_folder(tmp_path)["fingerprint"] == a2["fingerprint"]
    one = dict(tensors)
    one[names[0]] = one[names[0]].copy()
    one[names[0]].flat[0] += 1e-6  # one entry changed
    shutil.rmtree(tmp_path)
    tmp_path.mkdir()
    save_file(one, tmp_path / "model.safetensors")
    assert fingerprint_folder(tmp_path)["fingerprint"] != a2["fingerprint"]


def test_fingerprint_reads_the_weight_files_not_a_stray_copy(broken_suite, tmp_path):
    """A full copy beside the weights (Mistral's consolidated.safetensors) is not fingerprinted:
    the fingerprint is that of the files the weight statistics read, single file or shards."""
    from safetensors.numpy import load_file, save_file

    step2 = broken_suite.parent / "tiny-a" / "step2"
    clean = fingerprint_folder(step2)
    tensors = load_file(step2 / "model.safetensors")
    stray = {f"consolidated.{k}": v for k, v in tensors.items()}  # the same weights, other names
    single = tmp_path / "single"
    shutil.copytree(step2, single)
    save_file(stray, single / "consolidated.safetensors")
    assert fingerprint_folder(single) == clean
    sharded = tmp_path / "sharded"
    sharded.mkdir()
    names = sorted(tensors)
    shards = {"model-00001-of-00002.safetensors": names[::2], "model-00002-of-00002.safetensors": names[1::2]}
    for shard, keys in shards.items():
        save_file({k: tensors[k] for k in keys}, sharded / shard)
    weight_map = {k: shard for shard, keys in shards.items() for k in keys}
    (sharded / "model.safetensors.index.json").write_text(json.dumps({"weight_map": weight_map}))
    save_file(stray, sharded / "consolidated.safetensors")
    assert fingerprint_folder(sharded) == clean


def test_the_sweep_flags_copied_steps_models_and_a_foreign_step(broken_suite, tmp_path):
    result = run_engine(broken_suite, tmp_path / "warn")
    assert len(result.summary.measured) == 10 and not result.summary.duplicates
    fp = pd.read_parquet(tmp_path / "warn" / "fingerprints.parquet")
    assert len(fp) == 10 and fp["fingerprint"].str.fullmatch(r"[0-9a-f]{32}").all()
    assert flag_set(result.integrity) == EXPECTED
    assert flag_set(pd.read_csv(tmp_path / "warn" / "integrity.csv")) == EXPECTED
    lines, status = engine_finish(result)
    assert status == 0 and any("tiny-c step 4: trend_break" in line for line in lines)


def engine_finish(result):
    from scalefit.sweep.report import finish_sweep

    return finish_sweep(result, "weights")


@pytest.mark.slow
def test_on_duplicate_skip_and_fail(broken_suite, tmp_path):
    skipped = run_engine(broken_suite, tmp_path / "skip", "skip")
    # in grid order: tiny-a step 4 repeats step 2, tiny-c step 1 repeats tiny-a's; a shared step 0 is kept
    assert sorted(skipped.summary.duplicates) == ["tiny-a/step0000004", "tiny-c/step0000001"]
    table = skipped.tables["weights"]
    assert len(table) == 8 and not ((table["model"] == "tiny-a") & (table["step"] == 4)).any()
    again = run_engine(broken_suite, tmp_path / "skip", "skip")  # still not measured, without loading
    assert sorted(again.summary.duplicates) == sorted(skipped.summary.duplicates)
    failed = run_engine(broken_suite, tmp_path / "fail", "fail")
    assert sorted(failed.failures["step"]) == [1, 4]
    assert failed.failures["error"].str.contains("DuplicateCheckpoint: weights identical to").all()
    assert engine_finish(failed)[1] == 1


def test_on_duplicate_option_on_the_commands(broken_suite, tmp_path):
    args = ["weights", "--suite", str(broken_suite), "--models", "tiny-a", "--steps", "2,4", "--no-families",
            "--no-spectra", "--device", "cpu", "--no-progress", "--on-duplicate", "fail", "--out", str(tmp_path / "w")]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 1, result.output
    assert "failed: tiny-a step 4" in result.stderr and "weights identical to tiny-a step 2" in result.stderr
    bad = CliRunner().invoke(main, args[:-4] + ["--on-duplicate", "maybe", "--out", str(tmp_path / "x")])
    assert bad.exit_code == 2


def test_transitions_and_trajectory_drop_flagged_duplicates(broken_suite, tmp_path):
    flags = integrity_flags(run_engine(broken_suite, tmp_path / "fp").tables["fingerprints"])
    rows = pd.DataFrame([{"model": m, "step": s, "value": 1.0} for m in ("tiny-a", "tiny-c") for s in STEPS])
    kept, dropped = drop_duplicates(rows, flags)
    assert dropped == [("tiny-a", 1), ("tiny-a", 2), ("tiny-a", 4), ("tiny-c", 1)] and len(kept) == 6
    # the commands: a weight-statistic table and its losses from the same sweep folder
    out = tmp_path / "fp"
    rng = np.random.default_rng(0)
    stat = pd.DataFrame([{"model": m, "step": s, "tensor": "*", "group": "mlp_in", "layer": -1, "stat": "std",
                          "value": 0.02 + 0.001 * np.log1p(s) + 1e-5 * rng.standard_normal(),
                          "tokens": 512 * s, "lr": 1e-3} for m in ("tiny-a", "tiny-c") for s in STEPS])
    loss = pd.DataFrame([{"model": m, "step": s, "tokens": 512 * s, "lr": 1e-3, "dataset": "val",
                          "is_train": True, "metric": "loss", "value": 6.0 - 0.3 * np.log1p(s) + 0.01 * (m == "tiny-c"),
                          "n_tokens": 100} for m in ("tiny-a", "tiny-c") for s in STEPS])
    stat.to_parquet(out / "weights.parquet")
    loss.to_parquet(out / "evals.parquet")
    result = CliRunner().invoke(main, ["trajectory", "--stat", "std", "--group", "mlp_in", "--data",
                                       str(out / "weights.parquet"), "--losses", str(out / "evals.parquet"),
                                       "--json"])
    assert "dropped 4 checkpoint(s) with duplicated weights" in result.stderr, result.output
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["n_points"] == 6
    result = CliRunner().invoke(main, ["transitions", "--stat", "std", "--group", "mlp_in", "--data",
                                       str(out / "weights.parquet"), "--bootstrap", "0", "--json"])
    assert "dropped 4 checkpoint(s) with duplicated weights" in result.stderr, result.output


# ---- a sweep folder holds one measurement ---------------------------------------------------

def eval_args(out, *extra):
    suite = cached_tiny_suite()
    data = suite.parent / "data"
    return ["eval", "--suite", str(suite), "--device", "cpu", "--dataset", f"val={data / 'val.txt'}",
            "--max-tokens", "100", "--models", "tiny-a", "--steps", "8", "--threads", "1", "--no-progress",
            "--out", str(out), *extra]


def one_line_exit_2(result, message):
    assert result.exit_code == 2, result.output
    assert message in result.stderr, result.stderr
    assert len(result.stderr.strip().splitlines()) == 1 and "Traceback" not in result.output


@pytest.mark.slow
def test_other_measurement_options_are_refused_naming_both_values(tmp_path):
    out = tmp_path / "ctx"
    assert CliRunner().invoke(main, eval_args(out, "--context", "64")).exit_code == 0
    result = CliRunner().invoke(main, eval_args(out, "--context", "32"))
    one_line_exit_2(result, "--context 32")
    assert "--context 64" in result.stderr
    weights = ["weights", "--checkpoint", str(cached_tiny_suite().parent / "tiny-a" / "step8"), "--no-spectra",
               "--no-families", "--device", "cpu", "--no-progress", "--out", str(tmp_path / "w")]
    assert CliRunner().invoke(main, weights).exit_code == 0
    result = CliRunner().invoke(main, [a for a in weights if a != "--no-spectra"])
    one_line_exit_2(result, "--no-spectra not given: ")
    assert "was measured with --no-spectra (weights)" in result.stderr
    # `eval --weights` writes the same rows, so it records and checks the same options (it used to
    # answer 'already done' over a folder of another setting)
    result = CliRunner().invoke(main, eval_args(tmp_path / "w", "--weights", "--no-families"))
    one_line_exit_2(result, "--no-spectra not given: ")
    both = CliRunner().invoke(main, eval_args(tmp_path / "w", "--weights", "--no-families", "--no-spectra"))
    assert both.exit_code == 0, both.output
    stats = set(pd.read_parquet(tmp_path / "w" / "weights.parquet")["stat"])
    assert "std" in stats and not {"t_nu", "alpha", "sv_max"} & stats  # one setting in the folder
    assert "rows in " + str(tmp_path / "w" / "weights.parquet") in both.stderr
    one_line_exit_2(CliRunner().invoke(main, eval_args(tmp_path / "x", "--no-spectra")), "give --weights too")
    # the same options resume as before, a new dataset is measured into the same folder
    assert CliRunner().invoke(main, eval_args(out, "--context", "64")).exit_code == 0


@pytest.mark.parametrize("snippet, message", [
    ("context_lenght = 64\n", "unknown key 'context_lenght' at top level; did you mean 'context_length'?"),
    ("[schedule]\nstep = 3\n", "unknown key 'step' at [schedule]; did you mean 'style'?"),
    ("[schedule]\npeek = 0.1\n", "unknown key 'peek' at [schedule]; did you mean 'peak'?"),
])
def test_unknown_suite_spec_keys_are_refused_with_the_closest_known(tmp_path, snippet, message):
    spec = tmp_path / "s.toml"
    spec.write_text(snippet + '\n' if snippet.startswith("[") else 'name = "x"\ntokens_per_step = 8\n' + snippet)
    if snippet.startswith("["):
        spec.write_text('name = "x"\ntokens_per_step = 8\n[[members]]\nname = "m"\n[source]\nlocal = "."\n'
                        + snippet)
    else:
        spec.write_text(spec.read_text() + '[[members]]\nname = "m"\n[source]\nlocal = "."\n')
    result = CliRunner().invoke(main, ["eval", "--suite", str(spec), "--dataset", f"a={spec}", "--out",
                                       str(tmp_path / "o")])
    one_line_exit_2(result, message)


@pytest.mark.parametrize("text", ["", "  \n\t\n"])
def test_an_empty_dataset_is_refused_once_before_the_sweep(tmp_path, text):
    empty = tmp_path / "empty.txt"
    empty.write_text(text)
    args = eval_args(tmp_path / "o")
    args[args.index("--dataset") + 1] = f"val={empty}"
    one_line_exit_2(CliRunner().invoke(main, args), "no text (the file is empty or only whitespace)")
    assert not (tmp_path / "o" / "parts").exists()


@pytest.mark.parametrize("value", ["-2", "0", "x"])
def test_threads_below_one_are_refused(tmp_path, value):
    one_line_exit_2(CliRunner().invoke(main, eval_args(tmp_path / "o", "--threads", value)), f"--threads: '{value}'")
    weights = ["weights", "--checkpoint", str(cached_tiny_suite().parent / "tiny-a" / "step8"), "--threads", value,
               "--out", str(tmp_path / "w")]
    one_line_exit_2(CliRunner().invoke(main, weights), f"--threads: '{value}'")


def test_a_zero_byte_part_is_set_aside_and_measured_again(tmp_path):
    out = tmp_path / "z"
    assert CliRunner().invoke(main, eval_args(out)).exit_code == 0
    (part,) = (out / "parts").rglob("evals--*.parquet")
    before = pd.read_parquet(part)
    part.write_bytes(b"")  # a disk that filled up
    result = CliRunner().invoke(main, eval_args(out, "--json"))
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["measured"] == ["tiny-a/step0000008"]
    assert "damaged result file (0 bytes) set aside" in result.stderr
    pd.testing.assert_frame_equal(pd.read_parquet(part), before)
    assert [p.stat().st_size for p in (out / "corrupt").rglob("*")if p.is_file()] == [0]


def test_a_missing_config_json_is_named(tmp_path):
    root = tmp_path / "suite"
    shutil.copytree(cached_tiny_suite().parent / "tiny-a" / "step8", root / "tiny-a" / "step8")
    (root / "tiny-a" / "step8" / "config.json").unlink()
    shutil.copy(cached_tiny_suite(), root / "suite.toml")
    args = eval_args(tmp_path / "o")
    args[args.index("--suite") + 1] = str(root / "suite.toml")
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 1, result.output
    assert "no config.json in the checkpoint folder" in result.stderr and "model_type" not in result.stderr
    (root / "tiny-a" / "step8" / "config.json").write_text("{bad json")
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 1, result.output
    assert f"{root / 'tiny-a' / 'step8' / 'config.json'}: not valid JSON" in result.stderr


def test_run_json_is_written_through_a_unique_temporary_and_stale_ones_are_removed(tmp_path, monkeypatch):
    from scalefit.atomic import HOST, space_tag
    out = tmp_path / "t"
    out.mkdir()
    stale = out / "weights.csv.tmp-999999999-deadbeef"  # left by a killed process (no such pid)
    stale.write_text("half")
    deep = out / "fingerprints" / "tiny-a" / "step0000000.parquet.tmp-999999999-cafe0000"  # below it too
    deep.parent.mkdir(parents=True)
    deep.write_text("half")
    renamed = []
    real_replace = os.replace

    def recording_replace(src, dst):
        renamed.append((Path(src).name, Path(dst).name))
        return real_replace(src, dst)

    monkeypatch.setattr(os, "replace", recording_replace)
    assert CliRunner().invoke(main, eval_args(out)).exit_code == 0
    assert not stale.exists() and not deep.exists()
    tmp_names = [src for src, dst in renamed if dst == "run.json"]
    assert tmp_names and all(re.fullmatch(rf"run\.json\.tmp-{os.getpid()}-{HOST}-{space_tag()}-[0-9a-f]{{8}}", n) for n in tmp_names)


def test_ctrl_c_during_start_up_is_exit_130(tmp_path, monkeypatch):
    from scalefit.evals import evaluate

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(evaluate, "sweep_grid", interrupted)
    result = CliRunner().invoke(main, eval_args(tmp_path / "o"))
    assert result.exit_code == 130 and "interrupted before the sweep started" in result.stderr
    from scalefit.sweep import grid

    monkeypatch.setattr(grid, "sweep_grid", interrupted)
    weights = ["weights", "--checkpoint", str(cached_tiny_suite().parent / "tiny-a" / "step8"), "--out",
               str(tmp_path / "w")]
    result = CliRunner().invoke(main, weights)
    assert result.exit_code == 130 and "interrupted before the sweep started" in result.stderr


def test_merge_warns_when_the_shards_do_not_cover_the_grid(tmp_path):
    shards = []
    for k in (0, 1):
        folder = tmp_path / f"s{k}"
        args = eval_args(folder, "--shard", f"{k}/3")
        args[args.index("--steps") + 1] = "0,2,8"
        assert CliRunner().invoke(main, args).exit_code == 0
        shards.append(str(folder))
    result = CliRunner().invoke(main, ["eval", "merge", *shards, "--out", str(tmp_path / "m"), "--json"])
    assert result.exit_code == 0, result.output
    assert "warning: the merged shards do not cover the grid: shard(s) 2/3 missing" in result.stderr
    assert json.loads(result.stdout)["warnings"]


@pytest.mark.slow
def test_a_diverged_checkpoint_is_measured_and_said(tmp_path):
    """NaN in a weight: the loss is recorded as NaN and the weight statistics as nonfinite counts,
    with a warning for each; the checkpoint is not a failure (it is a finding) and nothing crashes."""
    from safetensors.torch import load_file, save_file

    root = tmp_path / "suite"
    step = root / "tiny-a" / "step8"
    shutil.copytree(cached_tiny_suite().parent / "tiny-a" / "step8", step)
    shutil.copy(cached_tiny_suite(), root / "suite.toml")
    tensors = load_file(step / "model.safetensors")
    name = next(k for k in tensors if k.endswith("dense_h_to_4h.weight"))
    tensors[name][0, :2] = float("nan")
    save_file(tensors, step / "model.safetensors", metadata={"format": "pt"})
    args = eval_args(tmp_path / "o", "--weights")
    args[args.index("--suite") + 1] = str(root / "suite.toml")
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    assert "tiny-a step 8: the loss on val is nan" in result.stderr
    assert "tiny-a step 8: 1 weight tensors hold NaN or inf (2 elements)" in result.stderr
    evals = pd.read_parquet(tmp_path / "o" / "evals.parquet")
    assert evals.loc[evals["metric"] == "loss", "value"].isna().all()
    weights = pd.read_parquet(tmp_path / "o" / "weights.parquet")
    assert weights.loc[weights["stat"] == "nonfinite", "value"].tolist() == [2.0, 2.0]  # the tensor, its group


def test_a_changed_dataset_is_refused_on_resume(tmp_path):
    data = tmp_path / "val.txt"
    shutil.copy(cached_tiny_suite().parent / "data" / "val.txt", data)
    args = eval_args(tmp_path / "o")
    args[args.index("--dataset") + 1] = f"val={data}"
    assert CliRunner().invoke(main, args).exit_code == 0
    data.write_text(data.read_text()[::-1])  # same file, other text
    args[args.index("--steps") + 1] = "0,8"
    one_line_exit_2(CliRunner().invoke(main, args), "the content of --dataset val changed since")
    assert len(list((tmp_path / "o" / "parts").rglob("*.parquet"))) == 1  # nothing measured over it


def test_another_suite_is_refused_on_resume(tmp_path):
    root = tmp_path / "suite2"
    shutil.copytree(cached_tiny_suite().parent / "tiny-a" / "step8", root / "tiny-a" / "step8")
    (root / "suite.toml").write_text(cached_tiny_suite().read_text().replace('name = "tiny"', 'name = "tiny2"'))
    out = tmp_path / "o"
    assert CliRunner().invoke(main, eval_args(out)).exit_code == 0
    args = eval_args(out)
    args[args.index("--suite") + 1] = str(root / "suite.toml")
    one_line_exit_2(CliRunner().invoke(main, args), "--suite tiny2 (")
    assert json.loads((out / "run.json").read_text())["suite"] == "tiny"


@pytest.mark.parametrize("extra, message", [(["--context", "100000"], "--context 100000 exceeds the 64 positions"),
                                            (["--stride", "100"], "--stride 100 is longer than the context")])
def test_a_context_or_stride_the_model_cannot_take_is_refused_up_front(tmp_path, extra, message):
    one_line_exit_2(CliRunner().invoke(main, eval_args(tmp_path / "o", *extra)), message)
    assert not (tmp_path / "o" / "parts").exists()
    assert CliRunner().invoke(main, eval_args(tmp_path / "o")).exit_code == 0


def test_options_of_a_measurement_that_measured_nothing_are_not_kept(tmp_path):
    """A run whose every checkpoint failed leaves no setting behind to refuse a corrected re-run."""
    _, grid, _ = sweep_grid(str(cached_tiny_suite()), ["tiny-a"], "8")

    def failing(folder, info):
        raise ValueError("the model cannot take this option")

    bad = engine.Measurement("files", failing, table="weights", options={"--context": 100000})
    result = engine.sweep_checkpoints(grid, [bad], tmp_path, load=safetensors_loader(), progress=False)
    assert not result.ok and "files" not in engine.recorded_options(tmp_path)
    good = quick_measurement()
    good.options = {"--context": 64}
    assert engine.sweep_checkpoints(grid, [good], tmp_path, load=safetensors_loader(), progress=False).ok
    assert engine.recorded_options(tmp_path)["files"] == {"--context": 64}


def test_merge_refuses_folders_of_other_options_or_suites(tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    assert CliRunner().invoke(main, eval_args(a)).exit_code == 0
    args = eval_args(b)
    args[args.index("--max-tokens") + 1] = "120"
    assert CliRunner().invoke(main, args).exit_code == 0
    result = CliRunner().invoke(main, ["eval", "merge", str(a), str(b), "--out", str(tmp_path / "m")])
    one_line_exit_2(result, "loss:val was measured with --max-tokens 100 in")
    assert not (tmp_path / "m" / "evals.parquet").exists()
    run = json.loads((b / "run.json").read_text())
    (b / "run.json").write_text(json.dumps({**run, "suite": "other"}))
    (b / "measurements.json").unlink()  # a folder from before options were recorded: its run.json still says
    result = CliRunner().invoke(main, ["eval", "merge", str(a), str(b), "--out", str(tmp_path / "m")])
    one_line_exit_2(result, "suite 'other'; only folders of one suite merge")


def test_a_measurement_may_return_a_list_of_row_dicts(tmp_path):
    """The README's recipe: fn returns long rows, as a DataFrame or as a list of dicts."""
    _, grid, _ = sweep_grid(str(cached_tiny_suite()), ["tiny-a"], "0,8")

    def count(folder, info):  # the safetensors loader hands over the checkpoint's folder
        return [{"tensor": "*", "group": "all", "stat": "n_files", "value": float(len(os.listdir(folder)))}]

    result = engine.sweep_checkpoints(grid, [engine.Measurement("count", count, table="weights")], tmp_path,
                                      load=safetensors_loader(), progress=False, tables=["weights"])
    assert result.ok, result.failures
    table = result.tables["weights"]
    assert list(table["step"]) == [0, 8] and (table["value"] > 0).all()


def test_ctrl_c_while_the_tables_are_rebuilt_says_the_results_are_kept(tmp_path, monkeypatch):
    """Every checkpoint measured, Ctrl-C while the tables were written: the parts are all there, so
    the sweep says where (it said 'nothing was measured'), and a re-run writes the tables."""
    _, grid, _ = sweep_grid(str(cached_tiny_suite()), ["tiny-a"], "0,8")

    def interrupt(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(engine, "write_failures", interrupt)
    with pytest.raises(engine.SweepInterrupted, match=f"results so far are in {tmp_path}"):
        engine.sweep_checkpoints(grid, [quick_measurement()], tmp_path, load=safetensors_loader(), progress=False)
    monkeypatch.undo()
    again = engine.sweep_checkpoints(grid, [quick_measurement()], tmp_path, load=safetensors_loader(), progress=False)
    assert again.ok and len(again.summary.skipped) == 2 and not again.summary.measured


def test_a_merge_folder_holds_one_merge(tmp_path, monkeypatch):
    """Merging again into a folder replaces what the earlier merge wrote (a table it does not write
    is removed), and a merge interrupted while writing leaves the folder as it was."""
    from scalefit.evals import merge

    with_weights, without = tmp_path / "ww", tmp_path / "wo"
    assert CliRunner().invoke(main, [*eval_args(with_weights), "--weights"]).exit_code == 0
    assert CliRunner().invoke(main, eval_args(without)).exit_code == 0
    merged = tmp_path / "m"
    assert CliRunner().invoke(main, ["eval", "merge", str(with_weights), "--out", str(merged)]).exit_code == 0
    assert (merged / "weights.parquet").exists()
    before = {p.name: p.read_bytes() for p in merged.iterdir() if p.is_file()}

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(merge, "coverage_warnings", interrupted)
    result = CliRunner().invoke(main, ["eval", "merge", str(without), "--out", str(merged)])
    assert result.exit_code == 130
    assert {p.name: p.read_bytes() for p in merged.iterdir() if p.is_file()} == before
    assert not [p for p in tmp_path.iterdir() if ".tmp-" in p.name]  # no staging folder left
    monkeypatch.undo()
    assert CliRunner().invoke(main, ["eval", "merge", str(without), "--out", str(merged)]).exit_code == 0
    assert (merged / "evals.parquet").exists() and not (merged / "weights.parquet").exists()
    one_line_exit_2(CliRunner().invoke(main, ["eval", "merge", str(without), "--out", str(without)]),
                    "is a sweep folder")


def test_an_emptied_fingerprint_of_a_finished_checkpoint_is_made_again(tmp_path):
    """A 0-byte fingerprint file (a disk that filled up) of a checkpoint whose parts are all done
    was dropped silently, so the integrity checks skipped that checkpoint; a re-run sets it aside
    and hashes the checkpoint's files again."""
    first = run_engine(cached_tiny_suite(), tmp_path)
    n = len(first.tables["fingerprints"])
    emptied = sorted((tmp_path / "fingerprints").rglob("*.parquet"))[0]
    emptied.write_bytes(b"")
    again = run_engine(cached_tiny_suite(), tmp_path)
    assert not again.summary.measured and len(again.tables["fingerprints"]) == n
    assert part_is_valid(emptied) and list((tmp_path / "corrupt").rglob("*"))


def test_weights_into_an_eval_sweep_folder_is_refused_before_its_report_is_replaced(tmp_path):
    """`scalefit weights --out` an eval sweep's folder wrote its own report.md over the eval's."""
    suite = cached_tiny_suite()
    out = tmp_path / "sweep"
    args = ["--suite", str(suite), "--models", "tiny-a", "--steps", "0", "--device", "cpu", "--no-progress",
            "--out", str(out)]
    done = CliRunner().invoke(main, ["eval", *args, "--dataset", f"val={suite.parent / 'data' / 'val.txt'}",
                                     "--max-tokens", "100"])
    assert done.exit_code == 0, done.output
    report = (out / "report.md").read_text()
    result = CliRunner().invoke(main, ["weights", *args])
    assert result.exit_code == 2 and f"--out {out}: holds a scalefit eval sweep" in result.stderr, result.output
    assert len(result.stderr.strip().splitlines()) == 1
    assert (out / "report.md").read_text() == report and not (out / "weights.parquet").exists()
