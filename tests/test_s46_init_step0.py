"""README's step-0 losses of the init study are the shipped init table's (the passage allow-lists
them as not printed by init-study, so nothing else checks them: it quoted 26.8, which no dataset had)."""
import re
from pathlib import Path

import pandas as pd

from scalefit.data import INIT_STUDY_CHECKPOINTS, data_path

ROOT = Path(__file__).resolve().parents[1]
TABLE = data_path(*INIT_STUDY_CHECKPOINTS)  # tracked: shipped with the package


def test_readme_step0_losses_are_the_init_tables():
    ck = pd.read_parquet(TABLE, columns=["step", "metric", "dataset", "init", "value"])
    step0 = ck[(ck.step == 0) & (ck.metric == "loss") & (ck.dataset == "prose-val")]
    by = step0.groupby("init")["value"]
    learned = step0[step0.init.isin(["empirical", "gauss-matched", "permuted"])]["value"]
    family = by.get_group("family")
    pythia = by.get_group("pythia")
    readme = (ROOT / "README.md").read_text()
    m = re.search(r"a step-0 prose-val loss of ([\d.]+)-([\d.]+) nats, the fitted family's ([\d.]+)-([\d.]+) "
                  r"aside, against ([\d.]+) at Pythia's init", readme)
    assert m, "README's step-0 sentence is gone or reworded"
    quoted = [float(x) for x in m.groups()]
    assert quoted == [round(learned.min(), 1), round(learned.max(), 1), round(family.min(), 1),
                      round(family.max(), 1), round(pythia.mean(), 1)]
