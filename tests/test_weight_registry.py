"""The family registry: a family is one record (maths, code, table prefix, figure label, scipy
equivalent) added by one `register_family` call, and every module reads it from there."""
from __future__ import annotations

import dataclasses
import re
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from scalefit.errors import InputError  # noqa: E402
from scalefit.weightstats import families, measure  # noqa: E402

torch.set_num_threads(1)
README = Path(__file__).resolve().parents[1] / "README.md"
BUILT_IN = ("gaussian", "student_t", "logistic", "laplace", "gennorm", "quartic")


def readme_family_recipe() -> str:
    """The Python block of the README's "Add a weight family" recipe."""
    if not README.exists():
        pytest.skip("no README.md beside the tests")
    text = README.read_text()
    section = text[text.index("**Add a weight family:**"):]
    return re.search(r"```python\n(.*?)```", section, re.S).group(1)


@pytest.fixture
def sech():
    """The README's example family, registered as the README says; unregistered afterwards."""
    before = dict(families.FAMILIES)
    try:
        exec(readme_family_recipe(), {})
        yield families.FAMILIES["sech"]
    finally:
        if "sech" in families.FAMILIES:
            families.unregister_family("sech")
        assert families.FAMILIES == before


def test_a_family_registered_as_the_readme_says_gets_its_rows_in_the_weights_table(sech):
    assert sech.code == 6 and sech.prefix == "sech"
    x = sech.sample(np.random.default_rng(0), (128, 128), 0.0, 0.02)
    table = measure.weight_stats_table({"gpt_neox.layers.0.mlp.dense_h_to_4h.weight": torch.from_numpy(x).float()},
                                       spectra=False)
    rows = table[table["stat"].str.startswith("sech_")]
    assert set(rows["stat"]) == {f"sech_{k}" for k in ("loc", "scale", "loglik", "aic", "bic", "ks")}
    assert set(rows["tensor"]) == {"gpt_neox.layers.0.mlp.dense_h_to_4h.weight", "*"}  # the tensor and its group
    scale = rows.loc[(rows["stat"] == "sech_scale") & (rows["tensor"] != "*"), "value"].item()
    assert scale == pytest.approx(0.02, rel=0.02)
    best = table[table["stat"] == "best_family"]
    assert list(best["label"]) == ["sech", "sech"] and list(best["value"]) == [6.0, 6.0]
    assert measure.family_name(6) == "sech"


def test_the_sweep_measurement_reports_a_registered_family(sech):
    import scalefit.sweep.weights  # noqa: F401 - registers the `weights` measurement
    from scalefit.sweep.measurements import build_measurements

    (weights,) = build_measurements({"weights": {"spectra": False}})
    x = torch.from_numpy(sech.sample(np.random.default_rng(1), (64, 64), 0.0, 1.0)).float()
    table = weights.fn({"w.weight": x}, SimpleNamespace(model="m", step=3))
    assert {"sech_loc", "sech_scale", "sech_bic"} <= set(table["stat"])


def test_the_older_per_fact_maps_are_live_views_of_the_records(sech):
    assert measure.FAMILY_CODES["sech"] == 6 and measure.FAMILY_PREFIX["student_t"] == "t"
    assert "sech" not in families.SCIPY_EQUIVALENT and "quartic" not in families.SCIPY_EQUIVALENT
    with pytest.raises(TypeError, match="register_family"):
        measure.FAMILY_CODES["other"] = 7  # the old recipe's second step says what to do instead
    families.unregister_family("sech")
    assert list(measure.FAMILY_CODES) == list(BUILT_IN)


def test_a_name_code_or_prefix_is_registered_once(sech):
    assert families.register_family(sech) is sech  # the same record again: nothing happens
    with pytest.raises(InputError, match="'sech' is already registered.*unregister_family"):
        families.register_family(dataclasses.replace(sech))
    with pytest.raises(InputError, match="code 2 is family 'logistic'.*next free code is 7"):
        families.register_family(dataclasses.replace(families.LOGISTIC, name="logistic2"))
    with pytest.raises(InputError, match="prefix 't' is family 'student_t'"):
        families.register_family(dataclasses.replace(families.STUDENT_T, name="t", code=7))
    with pytest.raises(InputError, match="takes a Family"):
        families.register_family("sech")
    assert list(families.FAMILIES) == [*BUILT_IN, "sech"]


def test_a_record_checks_its_shapes():
    spec = dict(name="toy", code=9, logpdf_std=families.gaussian_logpdf, start=lambda k: (1.0, 1.0),
                sample_std=None, score_std=None, cdf_std=None)
    toy = families.Family(shapes=("a",), shape_bounds=((0.0, 1.0),), **spec)
    assert toy.shape_axes == ("linear",) and toy.label == "toy" and toy.prefix == "toy"
    with pytest.raises(InputError, match="1 shape_bounds for 2 shapes"):
        families.Family(shapes=("a", "b"), shape_bounds=((0.0, 1.0),), **spec)
    with pytest.raises(InputError, match="shape axis 'sqrt'"):
        families.Family(shapes=("a",), shape_bounds=((0.0, 1.0),), shape_axes=("sqrt",), **spec)


def test_the_built_in_records_carry_the_facts_of_the_shipped_tables():
    facts = {f.name: (f.code, f.prefix, f.label) for f in families.FAMILIES.values()}
    assert facts == {"gaussian": (0, "gaussian", "Gaussian"), "student_t": (1, "t", "Student-t"),
                     "logistic": (2, "logistic", "logistic"), "laplace": (3, "laplace", "Laplace"),
                     "gennorm": (4, "gennorm", "generalized normal"), "quartic": (5, "quartic", "quartic")}
    with pytest.raises(InputError, match="no registered family has code 6"):
        measure.family_name(6)


# ---- unknown family names ---------------------------------------------------------------------

def test_an_unknown_family_name_is_an_input_error_naming_the_known_ones():
    from scalefit.weightstats.binned_fit import fit_families, fit_family, histogram_from_samples

    hist = histogram_from_samples(np.random.default_rng(0).standard_normal(2000))
    with pytest.raises(InputError, match=r"unknown family 't'; did you mean 'student_t'\? \('t' is the prefix"):
        fit_families(hist, families=["gaussian", "t"])  # the table prefix of t_nu
    with pytest.raises(InputError, match=r"unknown family 'cauchy' \(known: gaussian, student_t, logistic, "
                                         r"laplace, gennorm, quartic\)"):
        fit_family("cauchy", hist)
    with pytest.raises(InputError, match="did you mean 'laplace'"):
        families.get_family("laplac")
    assert list(fit_families(hist, "laplace").fits) == ["laplace"]  # one name, not its letters
    assert list(fit_families(hist, [families.GAUSSIAN]).fits) == ["gaussian"]


def test_shape_statistics_follow_the_registry():
    """Reports and figures learn which columns are family shapes, and their fit bounds, from the
    registry: a registered family's shape is known as <prefix>_<shape> with its declared bounds,
    and is gone when it is unregistered."""
    from scalefit.report import shape_bound
    from scalefit.shapes import SHAPE_BOUNDS, at_shape_bound
    from scalefit.weightstats.families import FAMILIES, Family, register_family, unregister_family

    def shape_statistics():  # what the registry's records declare: <prefix>_<shape> -> bounds
        return {f"{f.prefix}_{shape}": (f, shape, tuple(bounds)) for f in FAMILIES.values()
                for shape, bounds in zip(f.shapes, f.shape_bounds)}

    assert shape_statistics()["t_nu"][1:] == ("nu", FAMILIES["student_t"].shape_bounds[0])
    base = FAMILIES["gennorm"]
    extra = Family(**{**{k: getattr(base, k) for k in base.__dataclass_fields__}, "name": "shapey",
                      "code": 99, "prefix": "sy", "shape_bounds": ((0.5, 7.0),)})
    register_family(extra)
    try:
        assert shape_statistics()["sy_beta"] == (extra, "beta", (0.5, 7.0))
        assert shape_bound("sy_beta") == {"family": "shapey", "shape": "beta", "bounds": (0.5, 7.0)}
    finally:
        unregister_family("shapey")
    assert "sy_beta" not in shape_statistics() and shape_bound("sy_beta") is None
    # the core's copy (below the layers, for scaling/'s figures) is the registry's, built-ins included
    assert {k: v for k, v in SHAPE_BOUNDS.items()} == {
        k: (f.name, shape, bounds) for k, (f, shape, bounds) in shape_statistics().items()}
    assert at_shape_bound([1e4, 9980.0, 9995.0, 5.0], 1e4).tolist() == [True, False, True, False]
