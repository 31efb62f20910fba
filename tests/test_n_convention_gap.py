"""The Kaplan/Chinchilla allocation gap split into the N convention (non-embedding vs total
parameters, Pearce & Song 2024) and the functional form, each part with a paired interval."""
from __future__ import annotations

import numpy as np
import pytest

from scalefit.scaling.laws.compare import compare_laws
from scalefit.scaling.laws.fit import fit_law
from scalefit.scaling.laws.n_convention_gap import gap_sentence, n_convention_gap
from tests.test_projection import shipped_grid


def test_the_parts_add_up_to_the_gap_in_every_resample():
    cmp = compare_laws(shipped_grid(), n_bootstrap=200, seed=0)
    gap = cmp.to_dict()["n_convention_gap"]
    parts = gap["parts"]
    a = {n: f.extra["allocation"]["a"] for n, f in cmp.fits.items()}
    assert parts["total"]["value"] == pytest.approx(a["kaplan"] - a["chinchilla"])
    assert parts["total"]["value"] == pytest.approx(parts["n_convention"]["value"]
                                                    + parts["functional_form"]["value"])
    assert parts["total"]["ci95"] == pytest.approx(cmp.allocation_difference["ci95"])  # the same draws
    # the refit is the total-N law on non-embedding N: what fit_law gives with that column as N
    runs = shipped_grid()
    alone = fit_law(runs.drop(columns=["params"]).rename(columns={"params_nonembed": "params"}),
                    "chinchilla", n_bootstrap=0)
    assert gap["a_refit"] == pytest.approx(alone.extra["allocation"]["a"], rel=1e-9)
    assert "the N convention moves a by" in cmp.explanation[0]


def test_no_convention_part_when_n_counts_the_same():
    """A table whose two columns are equal: the refit is the original fit, the convention
    explains nothing in any resample, and the form carries the whole gap, in either order (the
    interaction is 0 and the sentence says the order does not matter)."""
    runs = shipped_grid().copy()
    runs["params_nonembed"] = runs["params"]
    gap = compare_laws(runs, n_bootstrap=120, seed=0).n_convention_gap
    assert gap["parts"]["n_convention"]["value"] == 0.0
    assert gap["parts"]["n_convention"]["ci95"] == [0.0, 0.0]
    assert gap["parts"]["functional_form"] == gap["parts"]["total"]
    for path in gap["paths"].values():
        assert path["n_convention"]["value"] == 0.0 and path["n_convention"]["ci95"] == [0.0, 0.0]
        assert path["functional_form"] == gap["total"]
    assert gap["interaction"]["value"] == 0.0
    assert "in either order" in gap_sentence(gap) and "depends on the order" not in gap_sentence(gap)


def test_not_split_without_both_columns_or_both_laws():
    runs = shipped_grid().drop(columns=["params_nonembed"])
    assert compare_laws(runs, n_bootstrap=0).n_convention_gap is None
    one = compare_laws(shipped_grid(), ("chinchilla",), n_bootstrap=0)
    assert one.n_convention_gap is None
    fits = compare_laws(shipped_grid(), n_bootstrap=0).fits
    gap = n_convention_gap(shipped_grid(), fits, delta=1e-3, n_bootstrap=0, seed=0)
    assert "ci95" not in gap["parts"]["total"] and np.isfinite(gap["parts"]["n_convention"]["value"])
