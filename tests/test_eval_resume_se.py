"""Resuming (or merging) an eval folder written before loss and task rows carried `se`: the result
files without it are measured again, so a table never has an uncertainty on half its rows."""
from __future__ import annotations

import json
import shutil

import pandas as pd
import pytest

pytest.importorskip("torch")
from click.testing import CliRunner  # noqa: E402
from tinysuite import cached_tiny_suite  # noqa: E402

from scalefit.cli import main  # noqa: E402

# the columns of a loss result file as scalefit wrote them before cfe96d0 (no n_docs, se_by, se)
OLD_LOSS_COLUMNS = ["model", "step", "tokens", "lr", "params", "params_nonembed", "dataset", "task",
                    "is_train", "n_tokens", "context", "stride", "metric", "value"]


def documents(folder):
    """A JSONL of 20 short documents (lines of the tiny suite's val.txt): a loss's se is over them."""
    lines = (cached_tiny_suite().parent / "data" / "val.txt").read_text().splitlines()
    path = folder / "docs.jsonl"
    path.write_text("".join(json.dumps({"text": "\n".join(lines[i::20])[:200]}) + "\n" for i in range(20)))
    return path


def eval_args(out, steps):
    """tiny-a at `steps` on the documents of the folder beside `out` (one file: the path is recorded)."""
    suite = cached_tiny_suite()
    return ["eval", "--suite", str(suite), "--device", "cpu", "--dataset", f"test={out.parent / 'docs.jsonl'}",
            "--max-tokens", "400", "--models", "tiny-a", "--steps", steps, "--threads", "1", "--no-progress",
            "--out", str(out)]


def make_old(folder, steps):
    """Rewrite the loss result files of `steps` as the old code wrote them (no se columns)."""
    for step in steps:
        path = folder / "parts" / "tiny-a" / f"step{step:07d}" / "evals--loss_test.parquet"
        new = pd.read_parquet(path)
        new[OLD_LOSS_COLUMNS].to_parquet(path, index=False)


@pytest.fixture(scope="module")
def measured(tmp_path_factory):
    """A sweep of tiny-a at steps 0 and 2, with its table (a JSONL of documents: each loss has an se)."""
    out = tmp_path_factory.mktemp("se") / "new"
    documents(out.parent)
    result = CliRunner().invoke(main, eval_args(out, "0,2"))
    assert result.exit_code == 0, result.output
    return out, pd.read_parquet(out / "evals.parquet")


def test_resume_measures_the_results_without_se_again(measured, tmp_path):
    new, table = measured
    old = new.parent / f"old-{tmp_path.name}"
    shutil.copytree(new, old)
    make_old(old, [0, 2])
    result = CliRunner().invoke(main, eval_args(old, "0,2,8"))
    assert result.exit_code == 0, result.output
    assert (f"{old}: 2 result file(s) hold no se, se_by, se_rule (measured by an earlier scalefit); this run measures "
            "2 of them again\n") in result.stderr
    evals = pd.read_parquet(old / "evals.parquet")
    assert sorted(set(evals["step"])) == [0, 2, 8]
    assert evals["se"].notna().all() and (evals["se"] > 0).all() and set(evals["se_by"]) == {"documents"}
    again = evals[evals["step"].isin([0, 2])].reset_index(drop=True)
    pd.testing.assert_frame_equal(again[table.columns], table)  # the same numbers, now with their se
    second = CliRunner().invoke(main, eval_args(old, "0,2,8"))  # nothing left to measure, nothing said
    assert second.exit_code == 0 and "earlier scalefit" not in second.stderr


def test_results_without_se_outside_the_run_are_named(measured, tmp_path):
    new, _ = measured
    old = new.parent / f"old-{tmp_path.name}"
    shutil.copytree(new, old)
    make_old(old, [2])
    result = CliRunner().invoke(main, eval_args(old, "0"))
    assert result.exit_code == 0, result.output
    assert ("1 result file(s) hold no se, se_by, se_rule (measured by an earlier scalefit); this run measures 0 of them "
            "again; 1 belong to checkpoints outside it (e.g. tiny-a step 2) and keep none until a run that includes "
            "them (their --models/--steps) measures them again") in result.stderr


def test_merge_refuses_results_with_and_without_se(measured, tmp_path):
    new, _ = measured
    old = new.parent / f"old-{tmp_path.name}"
    shutil.copytree(new, old)
    make_old(old, [0])
    shutil.rmtree(old / "parts" / "tiny-a" / "step0000002")
    only2 = new.parent / "only2"
    shutil.copytree(new, only2)
    shutil.rmtree(only2 / "parts" / "tiny-a" / "step0000000")
    result = CliRunner().invoke(main, ["eval", "merge", str(old), str(only2), "--out", str(tmp_path / "m")])
    assert result.exit_code == 2, result.output
    stale = old / "parts" / "tiny-a" / "step0000000" / "evals--loss_test.parquet"
    assert (f"eval merge: 1 result file(s) evals--loss_test.parquet in {old} hold no se/se_by/se_rule (measured by an "
            f"earlier scalefit; {stale}), those in {only2} do; re-run the sweep of {old}") in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1 and "Traceback" not in result.output
    assert not (tmp_path / "m" / "evals.parquet").exists()
    assert CliRunner().invoke(main, eval_args(old, "0")).exit_code == 0  # the fix the message gives
    merged = CliRunner().invoke(main, ["eval", "merge", str(old), str(only2), "--out", str(tmp_path / "m")])
    assert merged.exit_code == 0, merged.output
    assert pd.read_parquet(tmp_path / "m" / "evals.parquet")["se"].notna().all()


@pytest.mark.parametrize("dataset", ["pile val", "ppl:x/y", "tasks:arc_easy"])
def test_merge_names_the_result_files_without_se_as_on_disk(tmp_path, dataset):
    """The refusal named the measurement by undoing the file name's escaping (loss_pile_val read back
    as loss:pile_val, a name no --dataset gave); it names the files as they are on disk, from the
    command and from the API, each folder once."""
    from scalefit.errors import InputError
    from scalefit.evals.merge import merge
    from scalefit.sweep.engine import Measurement
    from scalefit.sweep.parts import part_path
    from scalefit.sweep.checkpoints import CheckpointInfo

    name = dataset if ":" in dataset else f"loss:{dataset}"
    measurement = Measurement(name, None)
    files = {}
    for folder, steps, se in (("a", (1, 2), False), ("b", (1,), True)):
        for step in steps:
            path = part_path(tmp_path / folder, CheckpointInfo(model="m", step=step, tokens=0, lr=None), measurement)
            path.parent.mkdir(parents=True, exist_ok=True)
            pd.DataFrame([{"model": "m", "step": step, "metric": "loss", "value": 1.0,
                           **({"se": 0.1, "se_by": "documents", "se_rule": 2} if se else {})}]).to_parquet(path, index=False)
            files.setdefault(folder, []).append(path)
    a, b = tmp_path / "a", tmp_path / "b"
    on_disk = files["a"][0].name
    assert on_disk.startswith("evals--") and all(f.name == on_disk for f in files["a"] + files["b"])
    want = (f"eval merge: 2 result file(s) {on_disk} in {a} hold no se/se_by/se_rule (measured by an earlier scalefit; "
            f"e.g. {files['a'][0]}), those in {b} do; re-run the sweep of {a} (its results without se are "
            "measured again), then merge")
    result = CliRunner().invoke(main, ["eval", "merge", str(a), str(b), "--out", str(tmp_path / "m")])
    assert result.exit_code == 2 and result.stderr == f"error: {want}\n", result.output
    with pytest.raises(InputError) as refused:
        merge([b, a], tmp_path / "m")
    assert str(refused.value) == want
