"""The s8 audit of the sweep commands' records: eval into a weights folder, merge coverage of
shards beside a whole sweep, a local task's per-continuation perplexity, family parameters at a
bound in both reports, an interrupted sweep's counts and files, the windowing in report.md."""
from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

torch = pytest.importorskip("torch")
torch.set_num_threads(1)

from click.testing import CliRunner  # noqa: E402

from scalefit.cli import main  # noqa: E402


def run_cli(args):
    return CliRunner().invoke(main, args, catch_exceptions=False)


def eval_args(suite_file, out, *extra, steps="0,8"):
    data = suite_file.parent / "data"
    return ["eval", "--suite", str(suite_file), "--device", "cpu", "--dataset", f"val={data / 'val.txt'}",
            "--max-tokens", "100", "--steps", steps, "--threads", "1", "--no-progress", "--out", str(out), *extra]


def snapshot(folder):
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def test_eval_refuses_a_folder_holding_a_weights_sweep(suite_file, tmp_path):
    """eval --out w (a scalefit weights folder) replaced its run.json and report.md, after which
    scalefit weights refused the folder as an eval's."""
    out = tmp_path / "w"
    done = run_cli(["weights", "--suite", str(suite_file), "--models", "tiny-a", "--steps", "8", "--no-families",
                    "--no-spectra", "--no-progress", "--out", str(out)])
    assert done.exit_code == 0, done.output
    before = snapshot(out)
    said = run_cli(eval_args(suite_file, out))
    assert said.exit_code == 2
    line = said.stderr.strip()
    assert "\n" not in line and "Traceback" not in said.output
    assert f"--out {out}" in line and "scalefit weights sweep" in line and "another --out" in line
    assert snapshot(out) == before  # nothing written
    # eval --weights measures what the folder holds: it carries it on, as before
    again = run_cli(["eval", "--suite", str(suite_file), "--weights", "--models", "tiny-a", "--steps", "8",
                     "--no-families", "--no-spectra", "--device", "cpu", "--no-progress", "--out", str(out)])
    assert again.exit_code == 0, again.output


def test_merge_of_a_shard_and_a_whole_sweep_covers_the_grid(suite_file, tmp_path):
    """merge sh1 e (shard 1/3 and a whole sweep, the latter with a dataset added at one step)
    warned 'shard(s) 0/3, 2/3 missing' and counted 'measured 2, incomplete 8' of a table holding
    every checkpoint."""
    steps = "0,1,2,8"  # 8 checkpoints of the two models
    whole, shard = tmp_path / "e", tmp_path / "sh1"
    assert run_cli(eval_args(suite_file, whole, steps=steps)).exit_code == 0
    extra = ["--dataset", f"extra={suite_file.parent / 'data' / 'test.jsonl'}"]
    assert run_cli(eval_args(suite_file, whole, *extra, "--models", "tiny-a", steps="8")).exit_code == 0
    assert run_cli(eval_args(suite_file, shard, "--shard", "1/3", steps=steps)).exit_code == 0
    said = run_cli(["eval", "merge", str(shard), str(whole), "--out", str(tmp_path / "m"), "--json"])
    assert said.exit_code == 0, said.output
    meta = json.loads(said.stdout)["meta"]
    assert meta["warnings"] == [] and "warning" not in said.stderr
    assert (meta["measured"], meta["incomplete"]) == (8, 0)
    assert meta["partly_measured"] == {"loss_extra": 1}
    report = (tmp_path / "m" / "report.md").read_text()
    assert "- checkpoints measured 8, already done 0" in report
    assert "loss_extra at 1 of 8" in report
    # two of the three shards: the checkpoints of the third are named
    other = tmp_path / "sh0"
    assert run_cli(eval_args(suite_file, other, "--shard", "0/3", steps=steps)).exit_code == 0
    said = run_cli(["eval", "merge", str(shard), str(other), "--out", str(tmp_path / "m2"), "--json"])
    (warning,) = json.loads(said.stdout)["meta"]["warnings"]
    assert "2 of the 8 checkpoints of the 3 shards' grid are in none of the folders (tiny-a step 2, tiny-b step 1)" \
        in warning  # grid[2::3]
    held = pd.read_parquet(tmp_path / "m2" / "evals.parquet")[["model", "step"]].drop_duplicates()
    assert len(held) == 6 and not ((held["model"] == "tiny-b") & (held["step"] == 1)).any()


def test_a_local_completion_task_reports_no_per_continuation_perplexity(tmp_path):
    """lm-eval's perplexity of a local completion task is exp(mean summed NLL per continuation):
    6e+66 beside a per-token gold_ce of 6.2, with no unit."""
    from scalefit.evals.downstream import jsonl_task

    path = tmp_path / "cont.jsonl"
    path.write_text("\n".join(json.dumps({"context": f"a {i}", "continuation": "b c d e"}) for i in range(3)))
    metrics = [m["metric"] for m in jsonl_task("cont", path).config["metric_list"]]
    assert "perplexity" not in metrics and "acc" in metrics


def weights_rows(values: dict[str, list[float]]) -> pd.DataFrame:
    """Group rows (tensor '*') of one model at steps 0, 1, ..., one stat per key."""
    rows = [{"model": "m", "step": step, "tensor": "*", "group": "mlp_in", "layer": -1, "stat": stat, "value": v}
            for stat, vs in values.items() for step, v in enumerate(vs)]
    return pd.DataFrame(rows)


def test_every_family_parameter_at_its_bound_is_flagged_in_both_reports(tmp_path):
    """Only t_nu at its cap was flagged (and only in scalefit weights' report); quartic_g at its
    lower bound 0 in 114 of 215 rows was not, and eval --weights' report had no note at all."""
    from scalefit.shapes import bounds_of
    from scalefit.sweep.report import write_report
    from scalefit.weightstats.report import shape_bound_notes

    low = bounds_of("quartic_g")[0]
    table = weights_rows({"quartic_g": [low, low, 0.5], "t_nu": [bounds_of("t_nu")[1], 5.0, 6.0],
                          "gennorm_beta": [1.5, 1.6, 1.7]})
    notes = shape_bound_notes(table)
    assert any(n.startswith(f"`quartic_g` = {low:g} is the fit's lower bound") and "in 2 of 3 group rows" in n
               for n in notes)
    assert any(n.startswith("`t_nu`") and "upper bound" in n and "1 of 3" in n for n in notes)
    assert not any("gennorm_beta" in n for n in notes)
    evals = pd.DataFrame([{"model": "m", "step": 0, "dataset": "val", "task": None, "metric": "loss",
                           "value": 5.0, "n_tokens": 10, "tokens": 0, "lr": 0.0}])
    text = write_report(tmp_path, evals, pd.DataFrame(), {"suite": "s", "measured": 1},
                        extra_tables={"weights": table}).read_text()
    assert notes[0] in text and "mean over its matrices for the spectral statistics" in text


def test_the_weights_report_states_the_group_rule(tmp_path):
    from scalefit.weightstats.report import write_weights_report

    table = weights_rows({"mean": [0.0, 0.1], "std": [1.0, 1.1]})
    write_weights_report(table, tmp_path, stats=[])
    text = (tmp_path / "report.md").read_text()
    statistics = text[text.index("## Statistics"):]
    assert "pools the weights of its tensors" in statistics and "mean over its matrices" in statistics


def test_an_interrupted_sweep_counts_whole_and_partial_checkpoints_and_lists_files_it_has(tmp_path):
    """After Ctrl-C report.md said 'the table holds the 1 checkpoints measured so far' of a
    checkpoint whose loss was measured and its task and weights not, and listed measurements.json
    and parts/, which did not exist."""
    from scalefit.sweep.checkpoints import CheckpointInfo
    from scalefit.sweep.engine import Measurement, interrupted_counts
    from scalefit.sweep.parts import part_path
    from scalefit.sweep.report import write_report

    grid = [CheckpointInfo(model="a", step=s, tokens=None, lr=None) for s in (0, 1, 2, 3, 4)]
    ms = [Measurement(name=n, table=t, fn=None, columns=c) for n, t, c in (
        ("loss:val", "evals", ("value", "se")), ("tasks:mc", "evals", ()), ("weights", "weights", ()))]
    for info, done in ((grid[0], ms), (grid[1], ms[:1]), (grid[2], ms), (grid[3], ms)):
        for m in done:
            path = part_path(tmp_path / "out", info, m)
            path.parent.mkdir(parents=True, exist_ok=True)
            pd.DataFrame({"model": ["a"], "step": [info.step], "value": [1.0], "se": [0.1]}).to_parquet(path)
    # a truncated result (a disk that filled up) and one without `se` (an earlier scalefit's) are
    # not measured: the re-run measures them again, as pending_measurements says
    cut = part_path(tmp_path / "out", grid[2], ms[2])
    cut.write_bytes(cut.read_bytes()[:-20])
    old = part_path(tmp_path / "out", grid[3], ms[0])
    pd.DataFrame({"model": ["a"], "step": [3], "value": [1.0]}).to_parquet(old)
    counts = interrupted_counts(grid, ms, tmp_path / "out")
    assert counts == {"whole": 1, "partly": {"a step 1": ["tasks:mc", "weights"], "a step 2": ["weights"],
                                             "a step 3": ["loss:val"]}}
    assert cut.exists()  # counted, not set aside: the re-run does that
    counts = {"whole": 1, "partly": {"a step 1": ["tasks:mc", "weights"]}}  # the report of the first two
    evals = pd.DataFrame([{"model": "a", "step": s, "dataset": "val", "task": None, "metric": "loss",
                           "value": 5.0, "n_tokens": 10, "tokens": 0, "lr": 0.0} for s in (0, 1)])
    text = write_report(tmp_path / "out", evals, pd.DataFrame(), {"suite": "s", "interrupted": True, **counts},
                        ).read_text()
    assert ("interrupted: the table holds 1 checkpoint measured in full and 1 in part "
            "(a step 1: no tasks:mc, weights)") in text
    assert "`parts/`" in text and "`measurements.json`" not in text
    bare = write_report(tmp_path / "bare", evals, pd.DataFrame(), {"suite": "s", "measured": 2}).read_text()
    assert "`parts/`" not in bare and "`measurements.json`" not in bare and "`run.json`" in bare


def test_report_states_the_windowing(suite_file, tmp_path):
    """Two folders scored at different --context had report.md headers alike."""
    heads = []
    for context in (16, 32):
        out = tmp_path / f"c{context}"
        done = run_cli(eval_args(suite_file, out, "--context", str(context), "--models", "tiny-a", steps="8"))
        assert done.exit_code == 0, done.output
        heads.append((out / "report.md").read_text().split("\n## ")[0])
    assert "context `16` tokens, stride `16` tokens, max tokens `100`" in heads[0]
    assert "context `32` tokens, stride `32` tokens, max tokens `100`" in heads[1]
    assert np.all([h.count("dtype `float32`") == 1 for h in heads])


def write_part(folder, key, name):
    """A real (small) Parquet result file parts/<key>/<name> under `folder`."""
    path = folder / "parts" / key / name
    path.parent.mkdir(parents=True, exist_ok=True)
    model, _, step = key.rpartition("/step")
    pd.DataFrame({"model": [model], "step": [int(step)], "value": [1.0]}).to_parquet(path)
    return path


def test_a_stopped_folder_is_judged_against_its_own_measurements_only(tmp_path):
    """merge a b (a finished and measured loss:val and weights, b was interrupted and asked
    loss:val and loss:test): every checkpoint of b was reported incomplete ('no weights'), judged
    against a's measurements; only b's checkpoint that lacks b's own loss:test is incomplete."""
    from scalefit.evals.merge import stopped_parts
    from scalefit.sweep.parts import found_parts, incomplete_checkpoints

    a, b = tmp_path / "a", tmp_path / "b"
    for name in ("evals--loss_val.parquet", "weights--weights.parquet"):
        write_part(a, "x/step0000000", name)
    for key in ("y/step0000000", "y/step0000001", "y/step0000002"):
        write_part(b, key, "evals--loss_val.parquet")
    for key in ("y/step0000000", "y/step0000001"):
        write_part(b, key, "evals--loss_test.parquet")
    runs = [{"folder": str(a), "file": "run.json"}, {"folder": str(b), "file": "run.json", "interrupted": True}]
    judged = stopped_parts(runs, [str(a), str(b)])
    assert set(judged) == {"y/step0000000", "y/step0000001", "y/step0000002"}
    found = found_parts([str(a), str(b)])
    assert incomplete_checkpoints(found, None, judged=judged) == (3, {"y step 2": ["loss_test"]})
    # a folder without any run*.json is judged so too; a finished one is not judged at all
    assert incomplete_checkpoints(found, None, judged=stopped_parts(runs[:1], [str(a), str(b)])) \
        == (3, {"y step 2": ["loss_test"]})
    assert incomplete_checkpoints(found, None, judged=stopped_parts([*runs[:1], {**runs[1], "interrupted": None}],
                                                                    [str(a), str(b)])) == (4, {})
    # a measurement b's measurements.json records (asked by its run) is judged there, held elsewhere
    (b / "measurements.json").write_text(json.dumps({"loss:val": {}, "weights": {}}))
    assert incomplete_checkpoints(found, None, judged=stopped_parts(runs, [str(a), str(b)]))[1] \
        == {"y step 0": ["weights"], "y step 1": ["weights"], "y step 2": ["loss_test", "weights"]}


def test_a_runs_grid_is_rebuilt_from_spaced_model_names_once_for_all_its_shards(suite_file, tmp_path, monkeypatch):
    """run_grid split --models by commas without stripping: ' tiny-a' named no model and the grid
    was None (coverage not judged); it was rebuilt once per shard of the same run."""
    from scalefit.evals import merge

    options = {"suite": str(suite_file), "models": ["tiny-b, tiny-a "], "steps": "0,8"}
    run = {"folder": str(tmp_path / "sh0"), "file": "run.shard-0-of-2.json", "shard": "0/2", "options": options}
    assert merge.run_grid(run) == ["tiny-b/step0000000", "tiny-b/step0000008",
                                   "tiny-a/step0000000", "tiny-a/step0000008"]
    calls = []
    rebuild = merge.run_grid
    monkeypatch.setattr(merge, "run_grid", lambda *a, **k: calls.append(a[0]["shard"]) or rebuild(*a, **k))
    shard1 = {**run, "folder": str(tmp_path / "sh1"), "file": "run.shard-1-of-2.json", "shard": "1/2",
              "options": {**options, "shard": "1/2", "out_dir": str(tmp_path / "sh1")}}
    said = merge.coverage_warnings([run, shard1], [run["folder"], shard1["folder"]],
                                   held={"tiny-b/step0000000", "tiny-a/step0000008"})
    assert len(calls) == 1
    assert len(said) == 1 and "2 of the 4 checkpoints of the 2 shards' grid are in none of the folders " \
        "(tiny-a step 0, tiny-b step 8)" in said[0]
