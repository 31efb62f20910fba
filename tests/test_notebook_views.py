"""What a notebook sees of the objects the API returns: a one-line repr saying what each is and
how to get a table (SuiteSpec, FamilyFits, LossCurves), a table and a dict from FamilyFits, and a
'did you mean' for a suite's misspelt name."""
from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from scalefit.errors import InputError
from scalefit.schedule import LRSchedule


def test_load_suite_offers_the_shipped_name_for_a_typo():
    from scalefit.sweep.suites import load_suite
    with pytest.raises(InputError, match=r"pytia: no such suite .*; did you mean 'pythia'\?$"):
        load_suite("pytia")
    with pytest.raises(InputError) as info:  # a path is not offered a suite's name
        load_suite("runs/my_suite.toml")
    assert "did you mean" not in str(info.value)


def test_a_suite_spec_prints_in_one_short_line():
    from scalefit.sweep.suites import load_suite
    suite = load_suite("pythia")
    text = repr(suite)
    assert "\n" not in text and len(text) < 200
    assert text.startswith("SuiteSpec 'pythia': ") and f"{len(suite.members)} members" in text
    assert f"{len(suite.steps)} steps" in text and ".table()" in text
    assert len(suite.table()) == len(suite.members)


@pytest.fixture(scope="module")
def family_fits():
    pytest.importorskip("torch")
    from scalefit.weightstats.binned_fit import fit_families, histogram_from_samples
    samples = np.random.default_rng(7).standard_t(4, size=20_000)
    return fit_families(histogram_from_samples(samples), ["gaussian", "student_t"])


def test_family_fits_print_short_and_give_a_frame_and_a_dict(family_fits):
    text = repr(family_fits)
    assert "\n" not in text and len(text) < 200
    assert "2 families (gaussian, student_t)" in text and "20,000 weights" in text
    assert f"best by BIC {family_fits.best}" in text and ".to_frame()" in text
    frame = family_fits.to_frame()
    assert list(frame.index) == ["gaussian", "student_t"]
    for name, fit in family_fits.fits.items():
        row = frame.loc[name]
        assert row["bic"] == fit.bic and row["aic"] == fit.aic and row["n"] == fit.n == 20_000
        assert all(row[p] == v for p, v in fit.params.items())
        assert bool(row["best"]) == (name == family_fits.best)
    assert np.isnan(frame.loc["gaussian", "nu"])  # a parameter the family does not have
    out = json.loads(json.dumps(family_fits.to_dict()))
    assert out["best"] == family_fits.best
    assert out["fits"]["student_t"]["params"] == family_fits.fits["student_t"].params
    assert out["fits"]["gaussian"]["bic"] == family_fits.fits["gaussian"].bic


def test_loss_curves_print_short_and_give_their_points():
    from scalefit.scaling.laws.curves import curves_from_schedules
    schedules = {f"run{i}": LRSchedule(peak=1e-3 * (i + 1), warmup_steps=10, decay_steps=2000)
                 for i in range(5)}
    steps = {name: [100, 500, 2000] for name in schedules}
    losses = {name: [4.0, 3.5, 3.2] for name in schedules}
    curves = curves_from_schedules(schedules, steps, {n: 1e6 * (i + 1) for i, n in enumerate(schedules)},
                                   losses)
    text = repr(curves)
    assert "\n" not in text and len(text) < 200
    assert text.startswith("LossCurves of 5 runs (run0, run1, run2, ...): 15 points") and ".to_frame()" in text
    frame = curves.to_frame()
    assert list(frame.columns) == ["model", "step", "lr", "loss", "params"] and len(frame) == 15
    row = frame[(frame["model"] == "run1") & (frame["step"] == 2000)].iloc[0]
    assert row["loss"] == 3.2 and row["params"] == 2e6
    from scalefit.schedule import lr_at_step
    assert row["lr"] == pytest.approx(float(lr_at_step(schedules["run1"], 2000)), rel=1e-12)
    assert isinstance(frame, pd.DataFrame)


def test_fit_families_reads_names_separated_by_commas(family_fits):
    from scalefit.weightstats.binned_fit import fit_families, histogram_from_samples
    hist = histogram_from_samples(np.random.default_rng(7).standard_t(4, size=20_000))
    fits = fit_families(hist, "gaussian, student_t")
    assert list(fits.fits) == ["gaussian", "student_t"]
    assert json.dumps(fits.to_dict()) == json.dumps(family_fits.to_dict())
    assert list(fit_families(hist, "laplace").fits) == ["laplace"]  # one name is one family
    with pytest.raises(InputError, match="families is empty"):
        fit_families(hist, " , ")


def test_compare_laws_reads_names_separated_by_commas():
    from scalefit import read_table
    from scalefit.data import data_path
    from scalefit.scaling.laws.compare import compare_laws
    runs = read_table(data_path("suites", "mini", "runs.csv"))
    grid = runs[runs["part"] == "grid"]
    given = compare_laws(grid, "kaplan, chinchilla", n_bootstrap=0)
    listed = compare_laws(grid, ["kaplan", "chinchilla"], n_bootstrap=0)
    assert given.laws == ["kaplan", "chinchilla"]
    assert json.dumps(given.to_dict(), default=str) == json.dumps(listed.to_dict(), default=str)
    with pytest.raises(InputError, match="named twice"):
        compare_laws(grid, "kaplan,kaplan", n_bootstrap=0)


def test_a_reinit_prints_in_one_line_and_gives_a_frame():
    """Reinit's default repr printed the whole model and every tensor's entry (4.5k characters,
    26 lines for a 2-layer toy)."""
    pytest.importorskip("torch")
    transformers = pytest.importorskip("transformers")
    from scalefit.weightstats.reinit import reinit

    config = transformers.GPTNeoXConfig(vocab_size=96, hidden_size=32, num_hidden_layers=2, num_attention_heads=4,
                                        intermediate_size=64)
    result = reinit(transformers.GPTNeoXForCausalLM(config), mode="pythia", seed=3)
    text = repr(result)
    assert "\n" not in text and len(text) < 200
    n = len(result.tensors)
    assert text.startswith("Reinit of GPTNeoXForCausalLM: mode pythia, seed 3;") and f"{n} tensors ({n} pythia)" in text
    frame = result.to_frame()
    assert list(frame.columns) == ["name", "group", "shape", "how", "family"] and len(frame) == n
    assert frame.to_dict("records") == result.to_dict()["tensors"]
