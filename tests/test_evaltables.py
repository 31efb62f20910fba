"""Long evaluation tables read as they come (relations/evaltables.py): TASK:METRIC selection,
settings never averaged, scalefit eval's dataset/task rows, lm-eval's metric names."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from scalefit.errors import InputError
from scalefit.scaling.relations.evaltables import is_long_evals, wide_measurements
from scalefit.tables import subset_rows


def scalefit_eval_rows():
    """As `scalefit eval` writes them: loss rows name a dataset, benchmark rows a task."""
    rows = []
    for model in ("a", "b"):
        for step in (1, 2, 3):
            rows.append(dict(model=model, step=step, dataset="pile", task=None, metric="loss",
                             value=3.0 / step, params=1e6 if model == "a" else 4e6,
                             tokens=step * 1e6))
            rows.append(dict(model=model, step=step, dataset=None, task="piqa",
                             metric="acc,none", value=0.5 + 0.05 * step,
                             params=1e6 if model == "a" else 4e6, tokens=step * 1e6))
    return pd.DataFrame(rows)


def test_dataset_and_task_rows_and_lm_eval_metric_names():
    frame = scalefit_eval_rows()
    assert is_long_evals(frame)
    wide, names, notes = wide_measurements(frame, ["pile:loss", "piqa:acc"], "evals.csv")
    assert names == {"pile:loss": "pile:loss", "piqa:acc": "piqa:acc"} and not notes
    assert len(wide) == 6 and {"params", "tokens"} <= set(wide.columns)
    assert wide.loc[(wide["model"] == "a") & (wide["step"] == 2), "pile:loss"].item() == 1.5
    with pytest.raises(InputError, match="no rows of task 'wiki' \\(have: pile, piqa\\)"):
        wide_measurements(frame, ["wiki:loss"], "evals.csv")
    with pytest.raises(InputError, match="TASK:METRIC"):
        wide_measurements(frame, ["pile:"], "evals.csv")


def test_perplexity_becomes_its_loss_under_either_name():
    frame = pd.DataFrame({"model": ["m"] * 2, "step": [1, 2], "task": "lambada_openai",
                          "metric": "ppl", "value": [np.e ** 2, np.e]})
    for spec in ("lambada_openai:ppl", "lambada_openai:perplexity"):
        wide, names, notes = wide_measurements(frame, [spec], "p.csv")
        assert list(wide[names[spec]]) == pytest.approx([2.0, 1.0])
        assert names[spec].startswith("ln ") and "perplexity" in notes[0]


def test_settings_are_keys_not_averaged():
    frame = pd.DataFrame({"model": "m", "step": [1, 1], "task": "piqa", "metric": "acc",
                          "num_fewshot": [0, 5], "value": [0.6, 0.7]})
    with pytest.raises(InputError, match="piqa:acc@0shot or piqa:acc@5shot"):
        wide_measurements(frame, ["piqa:acc"], "p.csv")
    wide, names, _ = wide_measurements(frame, ["piqa:acc@5"], "p.csv")
    assert names["piqa:acc@5"] == "piqa:acc@5shot" and wide[names["piqa:acc@5"]].item() == 0.7
    only0, source = subset_rows(frame, ["num_fewshot=0"], "p.csv")
    assert source == "p.csv [num_fewshot=0]"
    assert wide_measurements(only0, ["piqa:acc"], source)[0]["piqa:acc"].item() == 0.6


def test_a_perplexity_below_1_names_its_row_of_the_file():
    """A perplexity of 0.5 (its ln -0.69) passed this check (> 0) and was refused later as a
    negative loss at 'row 149' of the pivoted table, not the file's row."""
    frame = pd.DataFrame({"model": ["a", "a", "b", "b"], "step": [1, 2, 1, 2], "task": "lambada_openai",
                          "metric": "ppl", "value": [np.e ** 2, np.e, 0.5, 1.0]})
    with pytest.raises(InputError, match=r"p.csv: 'lambada_openai:ppl', row with index 2 \(model b, step 1\): "
                                         r"a perplexity is at least 1 .* got 0.5"):
        wide_measurements(frame, ["lambada_openai:ppl"], "p.csv")
    wide, names, _ = wide_measurements(frame.assign(value=[np.e ** 2, np.e, 1.5, 1.0]),
                                       ["lambada_openai:ppl"], "p.csv")
    assert wide[names["lambada_openai:ppl"]].min() == 0.0  # perplexity 1: loss 0, allowed


def test_a_bad_value_names_its_row_of_the_file():
    """'oops' as an accuracy was coerced to a missing value and its checkpoint dropped without a
    word; a negative or infinite one was refused at a row of the pivoted table."""
    frame = pd.DataFrame({"model": ["a", "a", "b", "b"], "step": [1, 2, 1, 2], "task": "piqa",
                          "metric": "acc", "value": [0.5, 0.6, 0.55, 0.7]})
    for bad, said in (("oops", "'oops' is not a number"), (-0.2, "is at least 0, got -0.2"),
                      (np.inf, "value inf")):
        broken = frame.assign(value=frame["value"].astype(object))
        broken.loc[2, "value"] = bad
        with pytest.raises(InputError, match=rf"e.csv: 'piqa:acc', row with index 2 \(model b, step 1\): .*{said}"):
            wide_measurements(broken, ["piqa:acc"], "e.csv")
    missing = frame.assign(value=[0.5, 0.6, np.nan, 0.7])  # a missing value is still left out
    assert wide_measurements(missing, ["piqa:acc"], "e.csv")[0]["piqa:acc"].isna().sum() == 1
    # ... and so is a missing perplexity (it was refused as 'a perplexity is at least 1, got nan')
    ppl = frame.assign(metric="ppl", value=[20.0, 15.0, np.nan, 12.0])
    assert wide_measurements(ppl, ["piqa:ppl"], "e.csv")[0].iloc[:, -1].isna().sum() == 1


def test_subset_matches_a_number_as_the_laws_subset_does():
    """--subset tokens=1000000000 (or 1e9) on a CSV whose tokens read back as 1000000000.0 said
    'no row has tokens = ...' while listing the value; the laws' --subset matches numbers."""
    frame = pd.DataFrame({"tokens": [1e8, 1e9, 1e9], "loss": [3.0, 2.5, 2.4],
                          "name": ["a", "b", "c"]})
    for typed in ("1000000000", "1e9", "1000000000.0"):
        kept, source = subset_rows(frame, [f"tokens={typed}"], "r.csv")
        assert list(kept["name"]) == ["b", "c"] and source == f"r.csv [tokens={typed}]"
    assert list(subset_rows(frame, ["name=b"], "r.csv")[0]["loss"]) == [2.5]  # text as before
    with pytest.raises(InputError, match="no row has tokens = '5'"):
        subset_rows(frame, ["tokens=5"], "r.csv")
