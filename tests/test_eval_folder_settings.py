"""A sweep folder holds results of one setting: a resume or merge with another device, another
source for a task of the same name or another tokenizer is refused (exit 2, one line naming
the option and both values), never mixed into the table."""
from __future__ import annotations

import importlib.util
import json
import shutil

import pandas as pd
import pytest

pytest.importorskip("torch")
from click.testing import CliRunner  # noqa: E402
from tinysuite import cached_tiny_suite  # noqa: E402

from scalefit.cli import main  # noqa: E402


def eval_args(out, *extra, steps="8"):
    suite = cached_tiny_suite()
    return ["eval", "--suite", str(suite), "--device", "cpu", "--dataset", f"val={suite.parent / 'data' / 'val.txt'}",
            "--max-tokens", "100", "--models", "tiny-a", "--steps", steps, "--threads", "1", "--no-progress",
            "--out", str(out), *extra]


def one_line_exit_2(result, message):
    assert result.exit_code == 2, result.output
    assert message in result.stderr, result.stderr
    assert len(result.stderr.strip().splitlines()) == 1 and "Traceback" not in result.output


@pytest.fixture(scope="module")
def measured(tmp_path_factory):
    """tiny-a step 8 on val, on the CPU."""
    out = tmp_path_factory.mktemp("settings") / "cpu"
    result = CliRunner().invoke(main, eval_args(out))
    assert result.exit_code == 0, result.output
    return out


@pytest.mark.parametrize("option, value, message", [
    ("--dtype", "bfloat16", "--dtype bfloat16: {out} was measured with --dtype float32 (loss:val)"),
    ("--stride", "32", "--stride 32: {out} was measured with --stride (default) (loss:val)"),
    ("--dataset", "OTHER", "the content of --dataset val changed since {out} was measured (loss:val: blake2b:"),
])
def test_a_resume_with_another_setting_is_refused(measured, tmp_path, option, value, message):
    """What a resume already refuses (each option named with both values), kept so."""
    out = tmp_path / "o"
    shutil.copytree(measured, out)
    other = tmp_path / "val.txt"  # another file under the same dataset name
    other.write_text((cached_tiny_suite().parent / "data" / "val.txt").read_text()[::-1])
    args = eval_args(out, steps="0,8")
    if option == "--dataset":
        args[args.index("--dataset") + 1] = f"val={other}"
    else:
        args += [option, value]
    val = cached_tiny_suite().parent / "data" / "val.txt"
    one_line_exit_2(CliRunner().invoke(main, args), message.format(out=out, val=val.resolve()))
    assert set(pd.read_parquet(out / "evals.parquet")["step"]) == {8}


def as_if_measured_on(folder, device):
    """The folder as a sweep on `device` (float32) records it: its measurements.json says so."""
    path = folder / "measurements.json"
    known = json.loads(path.read_text())
    path.write_text(json.dumps({name: {**options, "--device": device} for name, options in known.items()}))


def test_a_resume_on_another_device_is_refused(measured, tmp_path):
    assert json.loads((measured / "measurements.json").read_text())["loss:val"]["--device"] == "cpu"
    gpu = tmp_path / "gpu"
    shutil.copytree(measured, gpu)
    as_if_measured_on(gpu, "cuda")
    one_line_exit_2(CliRunner().invoke(main, eval_args(gpu, steps="0,8")),
                    f"--device cpu: {gpu} was measured with --device cuda (loss:val)")
    assert set(pd.read_parquet(gpu / "evals.parquet")["step"]) == {8}  # nothing measured beside it


def test_a_merge_of_shards_on_other_devices_is_refused(measured, tmp_path):
    shard = tmp_path / "shard"
    assert CliRunner().invoke(main, eval_args(shard, steps="0")).exit_code == 0
    as_if_measured_on(shard, "cuda")
    result = CliRunner().invoke(main, ["eval", "merge", str(measured), str(shard), "--out", str(tmp_path / "m")])
    one_line_exit_2(result, f"eval merge: loss:val was measured with --device cpu in {measured} and cuda in {shard}")


class GpuCluster:
    """A Ray cluster whose workers have a GPU, as `evaluate` sees it; it measures here, on the CPU
    in bfloat16 (what a worker does on its GPU by default)."""

    def describe(self):
        return "ray:gpu-cluster"

    def gpus(self):
        return 1.0

    def run(self, pending, measurements, out_dir, *, load, cleanup, on_duplicate, tracker):
        from scalefit.sweep.checkpoints import load_checkpoint
        from scalefit.sweep.engine import measure_checkpoint

        for info in pending:
            outcome = measure_checkpoint(info, measurements, out_dir, on_duplicate=on_duplicate,
                                         load=lambda i: load_checkpoint(i, "cpu", "bfloat16"))
            tracker.finished(outcome, info)

    def close(self):
        pass


def test_a_gpu_cluster_sweep_records_what_its_workers_measure_with(monkeypatch, tmp_path):
    """With --executor ray on a cluster with GPUs, the workers measure on CUDA in bfloat16, but the
    folder recorded the driver's CPU float32: a local resume on the CPU then added float32 rows."""
    from scalefit.sweep import executors

    monkeypatch.setattr(executors, "parse_executor", lambda text, **kw: GpuCluster())
    args = eval_args(tmp_path / "o", "--executor", "ray")
    args = [a for a in args if a not in ("--device", "cpu")]  # auto: each worker picks CUDA
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    recorded = json.loads((tmp_path / "o" / "measurements.json").read_text())["loss:val"]
    assert (recorded["--device"], recorded["--dtype"]) == ("cuda", "bfloat16")
    # auto on the workers' GPU in bfloat16 picks its head per model, not the driver's chunked
    fused = importlib.util.find_spec("cut_cross_entropy") is not None
    assert recorded["the head of --cross-entropy"] == ("auto" if fused else "chunked")
    monkeypatch.undo()
    one_line_exit_2(CliRunner().invoke(main, eval_args(tmp_path / "o", steps="0,8")),
                    f"--device cpu: {tmp_path / 'o'} was measured with --device cuda (loss:val)")


def test_a_local_task_and_lm_evals_task_of_one_name_do_not_mix(tmp_path, monkeypatch):
    """A local task NAME=FILE.jsonl recorded its file's content; the same NAME as lm-eval's task
    recorded nothing to compare, so a resume took the local results as lm-eval's task's and
    measured lm-eval's task at the new steps beside them."""
    from scalefit.evals import downstream
    from scalefit.evals.evaluate import EvalOptions, plan
    from scalefit.sweep.engine import check_options
    from scalefit.sweep.parts import part_path

    task = tmp_path / "task.jsonl"
    task.write_text("".join(json.dumps({"context": f"x = {i}", "choices": [" +1", " -1"], "answer": i % 2}) + "\n"
                            for i in range(4)))
    out = tmp_path / "o"
    # the folder as a run of the local task at step 8 leaves it (its record, one result file), without lm-eval
    _, grid, (local,), *_ = plan(EvalOptions(suite=str(cached_tiny_suite()), out_dir=str(out), models=["tiny-a"],
                                             steps="8", device="cpu", task_limit=2,
                                             tasks=[f"lambada_openai={task}"]))
    out.mkdir()
    check_options([local], out)
    part_path(out, grid[0], local).parent.mkdir(parents=True)
    pd.DataFrame([{"model": "tiny-a", "step": 8, "task": "lambada_openai", "metric": "acc", "value": 0.5,
                   "se": 0.35, "se_by": "examples"}]).to_parquet(part_path(out, grid[0], local), index=False)
    monkeypatch.setattr(downstream, "check_task_names", lambda names: None)  # lm-eval knows it: no 10-30 s scan
    result = CliRunner().invoke(main, ["eval", "--suite", str(cached_tiny_suite()), "--models", "tiny-a", "--device",
                                       "cpu", "--threads", "1", "--no-progress", "--task-limit", "2", "--out",
                                       str(out), "--steps", "0,8", "--tasks", "lambada_openai"])
    one_line_exit_2(result, f"the content of --tasks lambada_openai changed since {out} was measured "
                            "(tasks:lambada_openai: blake2b:")
    assert "then, lm-eval's task lambada_openai now)" in result.stderr
    assert [p.parent.name for p in (out / "parts").rglob("*.parquet")] == ["step0000008"]  # nothing measured


def suite_copy(root, steps=(0, 8)):
    """tiny-a's checkpoints at `steps` and the suite spec, in a folder of their own."""
    suite = cached_tiny_suite()
    for step in steps:
        shutil.copytree(suite.parent / "tiny-a" / f"step{step}", root / "tiny-a" / f"step{step}")
    shutil.copy(suite, root / "suite.toml")
    return root / "suite.toml"


def retokenize(folder):
    """Another tokenizer of the same size (trained on other text) saved into a checkpoint folder."""
    from tinysuite import stdlib_documents, train_tokenizer

    train_tokenizer(stdlib_documents(30_000, skip_bytes=2_000_000), 512).save_pretrained(folder)


def test_a_resume_after_the_tokenizer_was_replaced_is_refused(tmp_path):
    """The checkpoints' tokenizer files replaced (same weights, same suite name and folder): the
    resume tokenized the dataset anew for the new steps and mixed the two tokenizations."""
    spec, out = suite_copy(tmp_path / "suite"), tmp_path / "o"
    args = eval_args(out)
    args[args.index("--suite") + 1] = str(spec)
    assert CliRunner().invoke(main, args).exit_code == 0
    for step in (0, 8):
        retokenize(spec.parent / "tiny-a" / f"step{step}")
    args[args.index("--steps") + 1] = "0,8"
    one_line_exit_2(CliRunner().invoke(main, args),
                    f"the tokenizer of tiny-a changed since {out} was measured (loss:val: blake2b:")
    assert set(pd.read_parquet(out / "evals.parquet")["step"]) == {8}


def test_one_model_with_two_tokenizers_is_refused_up_front(tmp_path):
    spec = suite_copy(tmp_path / "suite")
    retokenize(spec.parent / "tiny-a" / "step8")
    args = eval_args(tmp_path / "o", steps="0,8")
    args[args.index("--suite") + 1] = str(spec)
    one_line_exit_2(CliRunner().invoke(main, args), "tiny-a: the tokenizer of step 8 differs from that of step 0 (")
    assert not (tmp_path / "o").exists()


def weights_args(out, *extra):
    return ["eval", "--suite", str(cached_tiny_suite()), "--device", "cpu", "--models", "tiny-a", "--weights",
            "--no-families", "--no-spectra", "--threads", "1", "--no-progress", "--out", str(out), *extra]


def test_weight_statistics_on_another_device_are_refused(tmp_path):
    """`eval --weights` records the device its statistics are summed on (cpu and cuda sum in other
    orders); the dtype the model is loaded in no longer matters: the stored tensors are measured."""
    out = tmp_path / "w"
    assert CliRunner().invoke(main, weights_args(out, "--steps", "8")).exit_code == 0
    result = CliRunner().invoke(main, weights_args(out, "--steps", "0,8", "--dtype", "bfloat16"))
    assert result.exit_code == 0, result.output
    as_if_measured_on(out, "cuda")
    one_line_exit_2(CliRunner().invoke(main, weights_args(out, "--steps", "0,8")),
                    f"--device cpu: {out} was measured with --device cuda (weights)")
    # `scalefit weights` (statistics of the stored tensors, on the CPU here) still resumes an eval's
    weights = ["weights", "--suite", str(cached_tiny_suite()), "--models", "tiny-a", "--steps", "0,8", "--device",
               "cpu", "--no-families", "--no-spectra", "--no-progress", "--out", str(tmp_path / "w2")]
    assert CliRunner().invoke(main, weights_args(tmp_path / "w2", "--steps", "8")).exit_code == 0
    result = CliRunner().invoke(main, weights)
    assert result.exit_code == 0, result.output
    assert set(pd.read_parquet(tmp_path / "w2" / "weights.parquet")["step"]) == {0, 8}


def test_eval_weights_in_bfloat16_are_the_stored_tensors_statistics(tmp_path):
    """`eval --weights --dtype bfloat16` (the GPU default) measured the model as loaded, its float32
    weights rounded to bfloat16 first, under the part name `scalefit weights` writes for the stored
    tensors: it now reads the checkpoint's files, and both commands give the same rows."""
    result = CliRunner().invoke(main, weights_args(tmp_path / "eval", "--steps", "0,8", "--dtype", "bfloat16"))
    assert result.exit_code == 0, result.output
    result = CliRunner().invoke(main, ["weights", "--suite", str(cached_tiny_suite()), "--models", "tiny-a",
                                       "--steps", "0,8", "--device", "cpu", "--no-families", "--no-spectra",
                                       "--no-progress", "--out", str(tmp_path / "files")])
    assert result.exit_code == 0, result.output
    keys = ["model", "step", "tensor", "stat"]
    rows = [pd.read_parquet(tmp_path / name / "weights.parquet").sort_values(keys, ignore_index=True)
            for name in ("eval", "files")]
    assert len(rows[0]) > 100 and set(rows[0]["step"]) == {0, 8}
    pd.testing.assert_frame_equal(rows[0], rows[1], check_exact=True)


def test_pickle_weights_are_measured_as_loaded_only_where_the_load_holds_them_exactly(tmp_path):
    """A checkpoint without safetensors (--allow-bin) has no files weight statistics read: its
    loaded model is measured in float32 (which holds fp16/bf16/fp32 values exactly), refused in bfloat16."""
    from types import SimpleNamespace

    import torch

    from scalefit.errors import InputError
    from scalefit.sweep.weights import stored_weights
    from scalefit.weightstats.measure import weight_stats_table

    (tmp_path / "pytorch_model.bin").write_bytes(b"")
    info = SimpleNamespace(folder=str(tmp_path), location=str(tmp_path), model="m", step=0)
    model = torch.nn.Sequential(torch.nn.Linear(8, 8))
    measure = stored_weights(fit_families=False, spectra=False)
    expected = weight_stats_table(model, model="m", step=0, fit_families=False, spectra=False)
    pd.testing.assert_frame_equal(measure(model, info), expected, check_exact=True)
    with pytest.raises(InputError, match="the model loaded in bfloat16 rounds them; measure --weights with "
                                         "--dtype float32"):
        measure(model.to(torch.bfloat16), info)


def test_a_dataset_moved_with_its_content_resumes(measured, tmp_path):
    """A resume compared the --dataset path, so the same file moved elsewhere was refused (eval merge
    compared its content and accepted it): what the losses depend on is recorded, its bytes and how
    they are read."""
    moved = tmp_path / "elsewhere" / "val.txt"
    moved.parent.mkdir()
    shutil.copy(cached_tiny_suite().parent / "data" / "val.txt", moved)
    out = tmp_path / "o"
    shutil.copytree(measured, out)
    args = eval_args(out, steps="0,8")
    args[args.index("--dataset") + 1] = f"val={moved}"
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    assert set(pd.read_parquet(out / "evals.parquet")["step"]) == {0, 8}
    moved.write_text(moved.read_text() + " more")  # other bytes: still refused
    one_line_exit_2(CliRunner().invoke(main, args), "the content of --dataset val changed since")


def test_how_a_dataset_is_read_is_recorded_beside_its_bytes(tmp_path):
    """The content digest hashes the bytes, not the file's name, which says how they are read: the
    same bytes as .npy or raw .bin, as JSONL or text, give other tokens, so the record differs."""
    import numpy as np

    from scalefit.evals.recorded_facts import dataset_reading
    from scalefit.evals.measures import parse_dataset

    np.save(tmp_path / "ids.npy", np.arange(10, dtype=np.uint16))
    shutil.copy(tmp_path / "ids.npy", tmp_path / "ids.bin")
    (tmp_path / "a.jsonl").write_text('{"text": "x"}\n')
    shutil.copy(tmp_path / "a.jsonl", tmp_path / "a.txt")
    read = {name: dataset_reading(parse_dataset(f"d={tmp_path / name}"))
            for name in ("ids.npy", "ids.bin", "a.jsonl", "a.txt")}
    assert read == {"ids.npy": "token ids (uint16, .npy)", "ids.bin": "token ids (uint16)",
                    "a.jsonl": "JSONL rows", "a.txt": "one text document"}
    assert dataset_reading(parse_dataset(f"d={tmp_path / 'ids.bin'}@uint32")) == "token ids (uint32)"


def test_cross_entropy_heads_are_compared_as_resolved(measured, tmp_path):
    """`--cross-entropy auto` on a CPU scores with the chunked head, yet a resume with `chunked` was
    refused (the flag's spelling was recorded): the head used is recorded, so equal heads resume
    each other and another head is still refused."""
    out = tmp_path / "o"
    shutil.copytree(measured, out)  # measured with the default, auto
    result = CliRunner().invoke(main, eval_args(out, "--cross-entropy", "chunked", steps="0,8"))
    assert result.exit_code == 0, result.output
    assert json.loads((out / "measurements.json").read_text())["loss:val"]["the head of --cross-entropy"] == "chunked"
    assert set(pd.read_parquet(out / "evals.parquet")["step"]) == {0, 8}
    if importlib.util.find_spec("cut_cross_entropy") is not None:  # the fused head is another head
        one_line_exit_2(CliRunner().invoke(main, eval_args(out, "--cross-entropy", "cce", steps="0,8")),
                        f"the head of --cross-entropy changed since {out} was measured (loss:val: chunked then, "
                        "cce now)")


def test_auto_resolves_to_chunked_where_it_never_fuses(monkeypatch):
    import torch

    from scalefit.evals import loss

    monkeypatch.setattr(loss, "_cce_missing", lambda: None)  # as where cut-cross-entropy is installed
    assert loss.resolved_cross_entropy("auto", "cuda", torch.bfloat16) == "auto"  # per model, checked
    assert loss.resolved_cross_entropy("auto", "cuda", torch.float16) == "auto"
    assert loss.resolved_cross_entropy("auto", "cuda", torch.float32) == "chunked"
    assert loss.resolved_cross_entropy("auto", "cpu", torch.bfloat16) == "chunked"
    assert loss.resolved_cross_entropy("cce", "cpu", torch.float32) == "cce"
    monkeypatch.setattr(loss, "_cce_missing", lambda: "not installed")
    assert loss.resolved_cross_entropy("auto", "cuda", torch.bfloat16) == "chunked"


@pytest.mark.parametrize("recorded, device, given, refused", [
    ("auto", "cpu", "chunked", False),   # auto was chunked on the CPU: the same head
    ("cce", "cpu", "auto", True),        # the fused head, then chunked
    ("auto", None, "chunked", True),     # no device recorded: what auto chose is not known
])
def test_a_folder_that_recorded_the_flag_compares_it_as_a_head(measured, tmp_path, recorded, device, given, refused):
    """A folder written before the head was recorded holds --cross-entropy as given: it is compared
    as the head it resolved to on the folder's recorded device, not dropped."""
    out = tmp_path / "o"
    shutil.copytree(measured, out)
    path = out / "measurements.json"
    known = json.loads(path.read_text())
    old = {k: v for k, v in known["loss:val"].items() if k not in ("the head of --cross-entropy", "--device")}
    path.write_text(json.dumps({**known, "loss:val": {**old, "--cross-entropy": recorded,
                                                      **({"--device": device} if device else {})}}))
    result = CliRunner().invoke(main, eval_args(out, "--cross-entropy", given, steps="0,8"))
    if refused:
        one_line_exit_2(result, f"--cross-entropy {given}: {out} was measured with --cross-entropy {recorded} "
                                "(loss:val)")
    else:
        assert result.exit_code == 0, result.output
        assert set(pd.read_parquet(out / "evals.parquet")["step"]) == {0, 8}


def test_eval_merge_compares_cross_entropy_heads(measured, tmp_path):
    """eval merge compares the head each folder's losses were scored by, a folder recorded with the
    flag only (before the head was) included: its flag resolved on its recorded device."""
    shard = tmp_path / "shard"
    result = CliRunner().invoke(main, eval_args(shard, "--cross-entropy", "chunked", steps="0"))
    assert result.exit_code == 0, result.output
    path = shard / "measurements.json"
    known = json.loads(path.read_text())
    old = {k: v for k, v in known["loss:val"].items() if k != "the head of --cross-entropy"}
    for flag, refused in (("auto", False), ("cce", True)):
        path.write_text(json.dumps({**known, "loss:val": {**old, "--cross-entropy": flag}}))
        result = CliRunner().invoke(main, ["eval", "merge", str(measured), str(shard), "--out", str(tmp_path / flag)])
        if refused:
            one_line_exit_2(result, f"eval merge: loss:val was scored by the cross-entropy head chunked in {measured} "
                                    f"and cce in {shard}")
        else:
            assert result.exit_code == 0, result.output
            assert set(pd.read_parquet(tmp_path / flag / "evals.parquet")["step"]) == {0, 8}


def test_weight_statistics_of_a_half_precision_load_are_not_mixed_with_stored_ones(tmp_path):
    """A folder whose `eval --weights` rows were of the model loaded in bfloat16 (recorded with
    --dtype by an earlier scalefit) is neither resumed nor merged with statistics of the stored
    tensors; one recorded in float32 (stored values held exactly) is."""
    def recorded_as_loaded(folder, dtype):
        path = folder / "measurements.json"
        known = json.loads(path.read_text())
        path.write_text(json.dumps({**known, "weights": {**known["weights"], "--dtype": dtype}}))

    stored, old = tmp_path / "stored", tmp_path / "old"
    assert CliRunner().invoke(main, weights_args(stored, "--steps", "0")).exit_code == 0
    assert CliRunner().invoke(main, weights_args(old, "--steps", "8")).exit_code == 0
    recorded_as_loaded(old, "bfloat16")
    one_line_exit_2(CliRunner().invoke(main, weights_args(old, "--steps", "0,8")),
                    f"--out {old}: its weight statistics are of the model as loaded in bfloat16 (an earlier scalefit)")
    one_line_exit_2(CliRunner().invoke(main, ["weights", "--suite", str(cached_tiny_suite()), "--models", "tiny-a",
                                              "--steps", "0,8", "--device", "cpu", "--no-families", "--no-spectra",
                                              "--no-progress", "--out", str(old)]),
                    f"--out {old}: its weight statistics are of the model as loaded in bfloat16")
    one_line_exit_2(CliRunner().invoke(main, ["eval", "merge", str(stored), str(old), "--out", str(tmp_path / "m")]),
                    f"eval merge: the weight statistics in {stored} are of the stored tensors and those in {old} "
                    "of the model as loaded in bfloat16")
    recorded_as_loaded(old, "float32")
    result = CliRunner().invoke(main, ["eval", "merge", str(stored), str(old), "--out", str(tmp_path / "m")])
    assert result.exit_code == 0, result.output
    result = CliRunner().invoke(main, weights_args(old, "--steps", "0,8"))
    assert result.exit_code == 0, result.output
    assert set(pd.read_parquet(old / "weights.parquet")["step"]) == {0, 8}
