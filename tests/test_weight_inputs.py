"""What the weight-statistics functions accept: a numpy array wherever a tensor goes (the same
numbers), a state dict of tensors or arrays, and one line naming what is accepted otherwise."""
from __future__ import annotations

import math

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from scalefit.errors import InputError  # noqa: E402
from scalefit.weightstats import groups, measure, moments, reinit, samplers, spectra  # noqa: E402

torch.set_num_threads(1)


@pytest.fixture(scope="module")
def weight():
    return torch.randn(48, 24, generator=torch.Generator().manual_seed(0)) * 0.02


def same(a: dict, b: dict):
    assert list(a) == list(b)
    for key in a:
        assert (math.isnan(a[key]) and math.isnan(b[key])) or a[key] == b[key], key


def test_a_numpy_array_gives_the_numbers_of_its_tensor(weight):
    array = weight.numpy()
    same(measure.tensor_stats(array), measure.tensor_stats(weight))
    same(moments.moments(array), moments.moments(weight))
    same(spectra.spectrum_stats(array), spectra.spectrum_stats(weight))
    assert moments.central_moments(array) == moments.central_moments(weight)
    np.testing.assert_array_equal(moments.quantiles(array), moments.quantiles(weight))
    assert moments.tail_fractions(array, 0.0, 0.02) == moments.tail_fractions(weight, 0.0, 0.02)
    # a read-only, reversed, big-endian copy: converted, not refused, and still the same numbers
    odd = np.ascontiguousarray(array[::-1], dtype=">f4")[::-1]
    odd.flags.writeable = False
    same(moments.moments(odd), moments.moments(weight))
    assert moments.moments([[1.0, 2.0], [3.0, 4.0]])["mean"] == 2.5  # a nested list of numbers


def test_the_samplers_and_the_qkv_split_take_arrays(weight):
    array = weight.numpy()
    assert torch.equal(samplers.sample_empirical(array, (5,), seed=1), samplers.sample_empirical(weight, (5,), seed=1))
    assert torch.equal(samplers.permuted(array, seed=1), samplers.permuted(weight, seed=1))
    split = groups.split_qkv(array, num_heads=2)
    assert all(torch.equal(split[p], groups.split_qkv(weight, num_heads=2)[p]) for p in "qkv")


def test_a_state_dict_of_arrays_gives_the_table_of_its_tensors(weight):
    name = "gpt_neox.layers.0.mlp.dense_h_to_4h.weight"
    from_arrays = measure.weight_stats_table({name: weight.numpy()}, spectra=False)
    assert len(from_arrays) > 100  # was an empty table: the arrays were dropped silently
    from_tensors = measure.weight_stats_table({name: weight}, spectra=False)
    assert from_arrays.drop(columns="label").equals(from_tensors.drop(columns="label"))
    assert reinit.load_source({name: weight.numpy()})[0][name].shape == (48, 24)


def test_what_a_table_cannot_read_is_one_line_saying_what_it_can(weight):
    for one in (weight, weight.numpy()):
        with pytest.raises(InputError, match=r"not one (Tensor|ndarray): for one tensor use tensor_stats"):
            measure.weight_stats_table(one)
    with pytest.raises(InputError, match="the dict is empty"):
        measure.weight_stats_table({})
    with pytest.raises(InputError, match=r"entry 'model' is a dict.*checkpoint\['model'\]"):
        measure.weight_stats_table({"model": {"w.weight": weight}, "step": 3})
    with pytest.raises(InputError, match="entry 'step' is an int"):
        measure.weight_stats_table({"w.weight": weight, "step": 3})
    with pytest.raises(InputError, match="init source: entry 'step'"):
        reinit.load_source({"w.weight": weight, "step": 3})
    with pytest.raises(InputError, match=r"tensor_stats: an ndarray of <U1 is not numbers"):
        measure.tensor_stats(np.array(["a", "b"]))
    with pytest.raises(InputError, match="cannot read a list as an array of numbers"):
        measure.tensor_stats([[1.0, 2.0], [3.0]])


def test_a_histogram_of_non_finite_weights_names_them_and_their_count():
    """NaN used to surface as 'cannot standardize: zero spread' (the NaN std failed std > 0)."""
    from scalefit.weightstats.binned_fit import histogram_from_samples, standardized_histogram

    with pytest.raises(InputError, match=r"^samples: 1 of 4 values are not finite \(NaN or inf\)"):
        histogram_from_samples(np.array([1.0, np.nan, 2.0, 3.0]))
    bad = torch.randn(10, 10)
    bad[0, :2] = torch.tensor([float("inf"), -float("inf")])
    with pytest.raises(InputError, match=r"^mlp_in: 2 of 200 values are not finite.*tensor_stats"):
        standardized_histogram([torch.randn(100), bad], name="mlp_in")  # a pooled group
    with pytest.raises(InputError, match="zero spread"):
        histogram_from_samples(np.ones(5))
