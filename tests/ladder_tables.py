"""The OLMo ladder's published runs (../shared/anchors/ladder) as tables: its tasks, the 7B/13B
targets' token counts and each task's checkpoints; read by the anchor tests and by
bench/calibration_table.py (so the benchmark reads them exactly as the tests do)."""
from __future__ import annotations

import json

import numpy as np
import pandas as pd

LADDER_TASKS = ["hellaswag_val", "arc_challenge_test", "arc_easy_test", "piqa_val", "csqa_val",
                "socialiqa_val", "openbookqa_test"]
LADDER_TARGETS = {"7B-4T": 3945065873408, "13B-5T": 5000088518656}


def ladder_checkpoints(anchors, key: str) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The OLMo ladder's checkpoints (after the first 10% of each run; task bpb a 5-checkpoint
    moving average, as tests/test_accuracy_anchors.py reads them) and the 7B/13B targets' final
    checkpoints."""
    root = anchors / "ladder"
    configs = json.loads((root / "configs" / "final.json").read_text())
    bpb = f"eval/downstream_bpb/{key}_rc_5shot_bpb"
    acc = f"eval/downstream/{key}_rc_5shot_len_norm"
    train, targets = [], []
    for name, c in configs.items():
        for p in c["paths"]:
            run = pd.read_csv(root / "ladder-runs" / p.split("/")[-1])
            step = run["_step"] if "_step" in run else np.arange(len(run))
            frame = pd.DataFrame({"model": p.split("/")[-1], "step": step,
                                  "params": c["n"], "bpb": run[bpb].rolling(5, min_periods=1)
                                  .mean(), "acc": run[acc]})
            if c["mode"] == "train":
                frame["tokens"] = run["throughput/total_tokens"]
                train.append(frame.iloc[int(0.1 * len(frame)):])
            else:
                targets.append(frame.iloc[[-1]].assign(tokens=LADDER_TARGETS[name]))
    return pd.concat(train, ignore_index=True), pd.concat(targets, ignore_index=True)
