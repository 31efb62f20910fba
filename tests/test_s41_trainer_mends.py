"""Mends of audit A2 in the suite trainer: a spec whose runs never decay (a warmup as long as the
run) or that names two [[sizes]] alike trained without a word; `suite precision --target-se`
counted the corpus with its duplicate files; finals.parquet's `part` of the grid run that is also
the long run was said nowhere."""
from __future__ import annotations

import json
import re
from pathlib import Path

import pandas as pd
import pytest
from click.testing import CliRunner

from scalefit.cli import main
from scalefit.errors import InputError
from scalefit.schedule import lr_at_step
from scalefit.trainer.spec import load_spec, run_schedule, run_warmup_steps
from tinyspec import MICRO_RECIPE, S1, S2, micro_spec

ROOT = Path(__file__).resolve().parents[1]
GRID = ("[grid]", {"tokens": [320]})  # 10 steps of 32 tokens


def spec_file(tmp_path, text: str) -> Path:
    path = tmp_path / "spec.toml"
    path.write_text(text)
    return path


def decays(spec) -> list[bool]:
    """Per run: whether an update after the warmup runs below the peak (update s runs at lr_at_step(s))."""
    out = []
    for run in spec.runs:
        last = run.steps - 1
        out.append(last > run_warmup_steps(spec.recipe, run)
                   and lr_at_step(run_schedule(spec.recipe, run), last) < run.size.lr)
    return out


# ---------------------------------------------------------------- a schedule that never decays

NEVER_DECAYS = [
    ("warmup_frac 1", micro_spec(GRID, recipe={**MICRO_RECIPE, "warmup_frac": 1.0}),
     "[recipe] warmup_frac = 1 / warmup_min_steps = 2: a warmup of 10 steps leaves no update of grid/s1-D320, "
     "grid/s2-D320 (10 steps) past it, so the LR never decays; give a warmup of at most 8 steps"),
    ("warmup_min_steps past the run", micro_spec(GRID, recipe={**MICRO_RECIPE, "warmup_min_steps": 50}),
     "[recipe] warmup_frac = 0.1 / warmup_min_steps = 50: a warmup of 50 steps leaves no update of grid/s1-D320"),
    ("last update at the peak", micro_spec(GRID, recipe={**MICRO_RECIPE, "warmup_min_steps": 9}),
     "[recipe] warmup_frac = 0.1 / warmup_min_steps = 9: a warmup of 9 steps leaves no update of grid/s1-D320, "
     "grid/s2-D320 (10 steps)"),
    ("warmup variant", micro_spec(("[warmup]", {"sizes": ["s1"], "tokens": [320], "warmup_fracs": [0.5, 0.95]})),
     "[warmup] warmup_fracs item 0.95 / warmup_min_steps = 1: a warmup of 10 steps leaves no update of "
     "warmup/s1-D320-W0.95 (10 steps)"),
    ("wsd length under the shared warmup", micro_spec(("[wsd]", {"sizes": ["s1"], "tokens": [320, 12800]})),
     "[recipe] warmup_frac = 0.1 / warmup_min_steps = 2 (the [wsd] runs share the longest length's warmup): "
     "a warmup of 40 steps leaves no update of "
     "wsd/s1-D320-cool0.2 (10 steps)"),
    ("wsd cooldown of the last update", micro_spec(("[wsd]", {"sizes": ["s1"], "tokens": [640, 1280],
                                                             "cooldown_frac": 0.05})),
     "[wsd] cooldown_frac = 0.05: the cooldown of wsd/s1-D640-cool0.05 (20 steps) starts at its last update"),
    ("one step", micro_spec(("[grid]", {"tokens": [32]}), sizes=(S1,)),
     "[grid] tokens: grid/s1-D32: one step each, whose one update runs before any decay; give at least 2 "
     "batches (64 tokens)"),
    ("floor at the peak", micro_spec(GRID, recipe={**MICRO_RECIPE, "min_lr_ratio": 1.0}),
     "[recipe] min_lr_ratio = 1: the LR of grid/s1-D320, grid/s2-D320 never decays below its peak"),
]


@pytest.mark.parametrize("text, message", [c[1:] for c in NEVER_DECAYS], ids=[c[0] for c in NEVER_DECAYS])
def test_a_spec_whose_runs_never_decay_is_refused_naming_runs_and_key(tmp_path, text, message):
    """warmup_frac = 1.0 (or a warmup_min_steps past a short run) trained runs.csv rows 'warmup_steps 10,
    steps 10, schedule cosine' whose LR rose to its peak at the last step; the eval suite spec refused it."""
    path = spec_file(tmp_path, text)
    with pytest.raises(InputError, match=re.escape(f"{path}: {message}")):
        load_spec(path)


def test_suite_train_refuses_it_in_one_line_before_anything_trains(tmp_path):
    path = spec_file(tmp_path, micro_spec(GRID, recipe={**MICRO_RECIPE, "warmup_frac": 1.0}))
    out = tmp_path / "suite"
    result = CliRunner().invoke(main, ["suite", "train", "--spec", str(path), "--corpus", str(tmp_path / "corpus"),
                                       "--out", str(out)])
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert result.exit_code == 2 and len(lines) == 1, result.output
    assert lines[0].startswith("error: ") and "warmup_frac = 1" in lines[0] and "grid/s1-D320" in lines[0]
    assert not out.exists()


def test_every_accepted_run_decays_and_the_shipped_specs_pass(tmp_path):
    """The boundary (a warmup 2 steps short of the run: its last update decays) and every run of the
    shipped specs load, and each of their runs has an update below the peak after its warmup."""
    edge = load_spec(spec_file(tmp_path, micro_spec(GRID, recipe={**MICRO_RECIPE, "warmup_min_steps": 8})))
    assert [run_warmup_steps(edge.recipe, r) for r in edge.runs] == [8, 8] and all(decays(edge))
    for name in ("mini", "init_study"):
        spec = load_spec(ROOT / "data/suites" / f"{name}.toml")
        cosine = [ok for r, ok in zip(spec.runs, decays(spec)) if r.style != "constant"]
        assert len(cosine) > 20 and all(cosine), name


# ---------------------------------------------------------------- two sizes of one name

def test_two_sizes_of_one_name_are_refused(tmp_path):
    """The last [[sizes]] replaced the first: runs.csv had one row 's1 ... d_model 32', the d_model-16
    size never trained."""
    path = spec_file(tmp_path, micro_spec(GRID, sizes=(S1, {**S2, "name": "s1"})))
    with pytest.raises(InputError, match=re.escape(f"{path}: two [[sizes]] are named 's1'; name each size once")):
        load_spec(path)
    result = CliRunner().invoke(main, ["suite", "train", "--spec", str(path), "--out", str(tmp_path / "suite")])
    assert result.exit_code == 2 and result.output.strip().splitlines() == [
        f"error: {path}: two [[sizes]] are named 's1'; name each size once"]
    assert len(load_spec(spec_file(tmp_path, micro_spec(GRID, sizes=(S1, S2)))).sizes) == 2


# ---------------------------------------------------------------- precision: documents, not files

def summary(tmp_path, distributions: dict, dataset: str) -> str:
    from scalefit.trainer.precision import target_summary

    corpus = tmp_path / "corpus"
    corpus.mkdir(exist_ok=True)
    (corpus / "manifest.json").write_text(json.dumps({"distributions": distributions}))
    table = pd.DataFrame({"target_se": [0.005], "dataset": [dataset], "n_docs": [3], "docs_needed": [40.0],
                          "paired_se": [0.01]})
    return target_summary(table, corpus)


def test_target_se_summary_counts_the_corpus_without_its_duplicates(tmp_path):
    """The micro corpus (31 files, one an exact copy: 30 documents, split 24 + 3 + 3) was 'the whole
    prose corpus 31'; the shipped code corpus (1,762 files, 19 duplicates) was overstated by 19."""
    micro = {"prose": {"n_files": 31, "n_duplicates": 1, "train": {"n_docs": 24}, "val": {"n_docs": 3},
                       "test": {"n_docs": 3}}}
    assert summary(tmp_path, micro, "prose-val").endswith(
        "the eval set has 3, the split 3, the whole prose corpus 30. The paired SE of a difference is already "
        "within 0.005 for 0 of 1 pairs.")
    shipped = json.loads((ROOT / "data/suites/mini/provenance.json").read_text())["corpus"]["distributions"]
    for dataset, dist in (("prose-val", "prose"), ("code-test", "code")):  # the README's 3,680 stays
        facts = shipped[dist]
        docs = sum(facts[split]["n_docs"] for split in ("train", "val", "test"))
        assert f"the whole {dist} corpus {docs:,}." in summary(tmp_path, shipped, dataset)
    assert "the whole prose corpus 3,680." in summary(tmp_path, shipped, "prose-val")
    assert "the whole code corpus 1,743." in summary(tmp_path, shipped, "code-test")


# ---------------------------------------------------------------- finals' part of the grid run that is the long run

def test_the_sweep_help_says_which_part_the_grid_run_that_is_the_long_run_has():
    """finals[part == 'grid'] gave 15 runs against runs.csv's 20 (the grid run that is also the long run
    is part 'long' there, as the long-run analyses select it); no help said so. The help now says it,
    and the selection it gives is the grid of runs.csv."""
    result = CliRunner().invoke(main, ["suite", "sweep", "--help"], terminal_width=200)
    text = " ".join(result.output.split())
    assert "the grid run that is also the long run has part 'long'" in text
    assert "select the grid's finals by run id (run starting 'grid/')" in text
    finals = pd.read_parquet(ROOT / "data/suites/mini/finals.parquet", columns=["model", "run", "part"])
    finals = finals.drop_duplicates("model").astype(str)
    runs = pd.read_csv(ROOT / "data/suites/mini/runs.csv")
    grid = runs[runs["part"] == "grid"]
    assert sorted(finals.loc[finals["run"].str.startswith("grid/"), "run"]) == sorted(grid["run"])
    assert sorted(finals.loc[finals["part"] == "long", "run"]) == sorted(grid.loc[grid["also"] == "long", "run"])


def test_a_spec_without_init_blocks_is_read_without_torch():
    """_init_runs imported weightstats.reinit (and so torch, seconds) for every spec, [[init]] or not."""
    import subprocess
    import sys
    code = ("import sys; from scalefit.trainer.spec import load_spec; "
            f"load_spec({str(ROOT / 'data' / 'suites' / 'mini.toml')!r}); print('torch' in sys.modules)")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "False"
