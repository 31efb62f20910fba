"""init-study says what its inits are and backs the shape claim with a contrast (task s46/s10).

A small constructed study (size 'tiny', 5 checkpoints, known final losses and start kurtoses):
- the head names the checkpoint the learned laws come from, the run that wrote it (its data,
  steps and compute) and whether the embeddings follow the mode, read from runs.csv and
  provenance.json beside the table, and says what the seeds vary;
- `source`'s outcome says its prior training;
- each init carrying the source's law is tested against gauss-matched (Welch's t, the exact
  permutation p), equal to a hand computation;
- an init whose start lies far from the source's on the weight statistic is flagged.
"""
from __future__ import annotations

import itertools
import json
import math

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner
from scipy import stats

from scalefit.cli import main
from scalefit.scaling.trajectories.init_study import init_study

STEPS = (0, 10, 30, 60, 100)
FINALS = {"pythia": (4.00, 4.02, 4.01), "gauss-matched": (4.20, 4.25, 4.22), "empirical": (4.21, 4.27, 4.20),
          "family": (4.30, 4.33, 4.35), "source": (3.80,)}
START_LOSS = {"pythia": 8.5, "gauss-matched": 14.0, "empirical": 14.2, "family": 25.0, "source": 7.0}
# the start's excess kurtosis per group: family's embed_out far above the source's
KURTOSIS = {"pythia": {"embed_out": 0.0, "attn_qkv": 0.0, "mlp_in": 0.01},
            "gauss-matched": {"embed_out": 0.0, "attn_qkv": 0.01, "mlp_in": 0.0},
            "empirical": {"embed_out": 2.6, "attn_qkv": 1.5, "mlp_in": 0.02},
            "family": {"embed_out": 150.0, "attn_qkv": 1.4, "mlp_in": -0.02},
            "source": {"embed_out": 2.7, "attn_qkv": 1.6, "mlp_in": 0.005}}
SOURCE = "runs/other/code/tiny-D99/step500"


def loss_at(step, start, final):
    """Falls from start at step 0 to exactly final at step 100."""
    e = (math.exp(-step / 20) - math.exp(-5)) / (1 - math.exp(-5))
    return final + (start - final) * e


def checkpoint_table() -> pd.DataFrame:
    rows = []
    for init, finals in FINALS.items():
        for seed, final in enumerate(finals, start=1):
            model = f"tiny-init-{init}-s{seed}"
            common = {"model": model, "run": f"init/tiny-D99-{init}-s{seed}", "init": init, "init_seed": seed,
                      "warmup_steps": 5, "size": "tiny"}
            for step in STEPS:
                rows.append({**common, "step": step, "dataset": "prose-val", "metric": "loss",
                             "value": loss_at(step, START_LOSS[init] + 0.01 * seed, final), "is_train": True})
                for group, start in KURTOSIS[init].items():
                    rows.append({**common, "step": step, "tensor": "*", "group": group, "layer": -1,
                                 "stat": "excess_kurtosis", "value": start * (1 - 0.2 * step / 100) + 0.001 * seed})
    return pd.DataFrame(rows)


def write_records(folder):
    """runs.csv (the source run and every init run, data seed 4321) and provenance.json (its spec
    says embeddings follow the mode) beside the checkpoint table."""
    table = checkpoint_table()
    table.to_csv(folder / "checkpoints.csv", index=False)
    runs = [{"model": "tiny", "run": "code/tiny-D99", "part": "code", "distribution": "code", "steps": 500,
             "flops": 5e9, "seed": 4321, "init": "", "init_seed": "", "init_source": "", "init_data_check": ""}]
    for run, g in table.drop_duplicates("run").groupby("run"):
        init = g["init"].iloc[0]
        runs.append({"model": "tiny", "run": run, "part": "init", "distribution": "prose", "steps": 100,
                     "flops": 1e9, "seed": 4321, "init": init, "init_seed": g["init_seed"].iloc[0],
                     "init_source": "" if init == "pythia" else SOURCE,
                     "init_data_check": "" if init == "pythia" else "disjoint (code train vs prose train)"})
    pd.DataFrame(runs).to_csv(folder / "runs.csv", index=False)
    spec = ('[recipe]\nseed = 4321\n\n[[init]]\nsizes = ["tiny"]\nmodes = ["pythia"]\n'
            'embeddings = "same"\n')
    (folder / "provenance.json").write_text(json.dumps({"spec": spec, "seed": 4321}))
    return folder / "checkpoints.csv"


@pytest.fixture(scope="module")
def shipped_like(tmp_path_factory):
    path = write_records(tmp_path_factory.mktemp("tiny"))
    return path, init_study(path)


def test_the_head_names_the_source_and_what_the_seeds_vary(shipped_like, tmp_path):
    """The text, report.md and JSON never said which model the learned laws come from, what it was
    trained on, that the embeddings follow the mode, or that the seeds vary the init draw only."""
    path, study = shipped_like
    head = study.sentences[:study.sentences.index("## tiny, with warmup (5 steps)")]
    said = " ".join(head)
    assert SOURCE in said and "run code/tiny-D99 after 500 steps on code" in said
    assert "disjoint (code train vs prose train)" in said and "embeddings follow the mode" in said
    assert "same order (data seed 4321)" in said and "init-draw variance, not data-order variance" in said
    assert study.origin["sources"][0]["source_run"] == "code/tiny-D99"
    assert study.origin["sources"][0]["prior_compute_ratio"] == pytest.approx((5e9 + 1e9) / 1e9)
    # source's outcome: its 500 prior steps on code, 6x the others' compute
    late = next(s for s in study.sentences if s.startswith("late: source"))
    assert "continues training code/tiny-D99 after its 500 steps on code, about 6.0x the training compute" in late
    # the command: text head (after its first line), report.md head, JSON origin
    out = tmp_path / "out"
    text = CliRunner().invoke(main, ["init-study", "--data", str(path)])
    assert text.exit_code == 0, text.output
    assert text.output.splitlines()[1:1 + len(head)] == head
    doc = CliRunner().invoke(main, ["init-study", "--data", str(path), "--json", "--out", str(out)])
    assert doc.exit_code == 0, doc.output
    assert json.loads(doc.stdout)["origin"]["sources"][0]["init_source"] == SOURCE
    md = (out / "report.md").read_text()
    assert md.index(f"- {head[1]}") < md.index("## What the data support")


def test_without_records_the_head_says_what_is_not_known():
    """A table with no init_source and no runs.csv beside it: not known, and the trainer's rule."""
    study = init_study(checkpoint_table())
    said = " ".join(study.sentences[:4])
    assert "records no source checkpoint" in said and "is not known here" in said
    assert "varies only the init draw with init_seed" in said


def hand_welch(a, b):
    a, b = np.asarray(a, float), np.asarray(b, float)
    va, vb = a.var(ddof=1) / a.size, b.var(ddof=1) / b.size
    se = math.sqrt(va + vb)
    df = (va + vb) ** 2 / (va ** 2 / (a.size - 1) + vb ** 2 / (b.size - 1))
    diff = a.mean() - b.mean()
    t = diff / se
    half = stats.t.ppf(0.975, df) * se
    pooled = np.concatenate([a, b])
    splits = [np.isin(np.arange(pooled.size), idx) for idx in itertools.combinations(range(pooled.size), a.size)]
    perm = np.mean([abs(pooled[m].mean() - pooled[~m].mean()) >= abs(diff) - 1e-12 for m in splits])
    return diff, diff - half, diff + half, 2 * stats.t.sf(abs(t), df), perm


@pytest.mark.parametrize("init", ["empirical", "family"])
def test_shape_contrasts_are_welch_against_gauss_matched(shipped_like, init):
    """No command compared two non-Pythia inits, yet the README said the shape adds nothing: each
    init that carries the source's law is now tested against gauss-matched, as by hand."""
    _, study = shipped_like
    c = study.shape_contrasts
    row = c[(c["init"] == init) & (c["measure"] == "final_loss")].iloc[0]
    diff, lo, hi, p, perm = hand_welch(FINALS[init], FINALS["gauss-matched"])
    assert row["control"] == "gauss-matched"
    assert (row["diff"], row["ci_lo"], row["ci_hi"], row["p"]) == pytest.approx((diff, lo, hi, p), rel=1e-9)
    assert row["p_perm"] == pytest.approx(perm)
    assert set(c["init"]) == {"empirical", "family"}  # not pythia, source or gauss-matched itself
    line = next(s for s in study.sentences if s.startswith(f"shape, late: {init}:"))
    assert "vs gauss-matched" in line and f"{diff:+.3f} [{lo:+.3f}, {hi:+.3f}]" in line
    assert f"exact permutation p = {perm:.2g}" in line and f"p = {p:.2g} (welch)" in line
    assert ("(the least 3 vs 3 can give)" in line) == (perm <= 0.1 + 1e-12)
    expected = "same" if p >= 0.05 else ("slower" if diff > 0 else "faster")
    assert row["outcome"] == expected


def test_shape_contrasts_reach_json_and_report(shipped_like, tmp_path):
    path, study = shipped_like
    out = tmp_path / "out"
    doc = CliRunner().invoke(main, ["init-study", "--data", str(path), "--json", "--out", str(out)])
    assert doc.exit_code == 0, doc.output
    rows = json.loads(doc.stdout)["shape_contrasts"]
    assert {(r["init"], r["measure"]) for r in rows} == set(
        map(tuple, study.shape_contrasts[["init", "measure"]].to_numpy()))
    assert len(pd.read_csv(out / "shape_contrasts.csv")) == len(rows)
    assert "## The shape: against gauss-matched" in (out / "report.md").read_text()


def test_a_start_far_from_the_sources_law_is_flagged(shipped_like):
    """family's embed_out starts at 150 against the source's 2.7 (the audit's 161 vs 2.69): the
    weights lines called it nothing; empirical (2.6) and the near-Gaussian mlp_in are not flagged."""
    _, study = shipped_like
    t = study.tails
    far = t[t["far"]]
    assert set(map(tuple, far[["init", "group"]].to_numpy())) == {("family", "embed_out")}
    assert "mlp_in" not in set(t["group"])  # the source is near Gaussian there: not judged
    assert set(t["init"]) == {"empirical", "family"}
    flags = [s for s in study.sentences if s.startswith("tails,")]
    assert len(flags) == 1 and flags[0].startswith("tails, tiny family warmup:")
    assert "embed_out 150 against 2.7" in flags[0] and "no faithful stand-in" in flags[0]
    # its step-0 loss against the unflagged learned-law inits'
    assert "at step 0 is 25.0-25.0 nats/token against 14.0-14.2 for empirical, gauss-matched" in flags[0]
    shape = next(s for s in study.sentences if s.startswith("shape, late, tiny"))
    assert "family does not start with the source's shape" in shape
