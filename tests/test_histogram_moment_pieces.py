"""The histogram's own moment pass (binned_fit._standardizing: the mean, the two-pass std, the
count of NaN and inf) reads float64 copies of one cache-sized piece at a time
(moments.float64_pieces), as moments.central_moments does: it held a float64 copy of each whole
tensor (512 MB for a 2^26-element one). A tensor of one piece gets the same histogram to the bit.
Above one piece the sums are added piece by piece, so the mean and std are central_moments' (the
weights table's) and may differ from the whole-tensor sums by an ulp (as those differed between
1 and 2 threads); the counts are the same."""
from __future__ import annotations

import math

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from scalefit.errors import InputError  # noqa: E402
from scalefit.weightstats import moments  # noqa: E402
from scalefit.weightstats.binned_fit import (_standardizing, pooled_histogram,  # noqa: E402
                                             standardized_histogram)

PIECE = moments.CPU_CHUNK
SIZES = (1000, PIECE - 1, PIECE, PIECE + 7, 3 * PIECE + 11)
DTYPES = (torch.float32, torch.float16, torch.bfloat16, torch.float64)


def whole_tensor_standardizing(f: torch.Tensor) -> tuple[float, float, float]:
    """The moment pass as it was: a float64 copy of the whole (flat) tensor for each sum."""
    n = f.numel()
    mean = float(f.double().sum()) / n
    std = math.sqrt(float(f.to(torch.float64, copy=True).sub_(mean).pow_(2).sum()) / n)
    reach = max(abs(float(f.max()) - mean), abs(float(f.min()) - mean))
    return mean, std, reach / std


def weights(n: int, dtype, seed: int) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    w = torch.randn(n, generator=g) * 0.02 + 0.001
    w[n // 3] = 0.5  # a far tail
    return w.to(dtype)


def largest_cpu_allocation(work) -> int:
    """Bytes of the largest single CPU allocation torch makes while `work()` runs."""
    from torch.profiler import ProfilerActivity, profile

    with profile(activities=[ProfilerActivity.CPU], profile_memory=True) as prof:
        work()
    return max((e.cpu_memory_usage for e in prof.events()), default=0)


@pytest.fixture(autouse=True)
def one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def test_the_moment_pass_holds_one_float64_piece_not_the_tensor():
    """A 2^21-element tensor: its float64 copy was one 16 MB allocation; now a 2 MB piece."""
    f = weights(1 << 21, torch.float32, 0)
    biggest = largest_cpu_allocation(lambda: _standardizing(lambda: [f], "w"))
    assert 0 < biggest <= PIECE * 8 < f.numel() * 8


@pytest.mark.parametrize("dtype", DTYPES, ids=str)
@pytest.mark.parametrize("n", SIZES)
def test_the_histogram_is_the_whole_tensor_pass(n, dtype):
    f = weights(n, dtype, n)
    kept = f.clone()
    before = whole_tensor_standardizing(f)
    hist = standardized_histogram(f, name="w")
    then = standardized_histogram(f, mean=before[0], std=before[1], z_max=before[2], name="w")
    assert torch.equal(f, kept)  # the weights themselves untouched
    assert hist.n == n
    assert np.array_equal(hist.counts, then.counts) and hist.beyond == then.beyond
    if n <= PIECE:  # one piece: the same sums, to the bit
        assert (hist.mean, hist.std) == before[:2] and np.array_equal(hist.edges, then.edges)
    else:  # the weights table's mean and std (central_moments), within an ulp of the old ones
        table = moments.central_moments(f)
        assert (hist.mean, hist.std) == (table.mean, table.std)
        assert abs(hist.mean - before[0]) <= 2 * math.ulp(before[0])
        assert abs(hist.std - before[1]) <= 2 * math.ulp(before[1])
        assert np.allclose(hist.edges, then.edges, rtol=1e-14, atol=0)


@pytest.mark.parametrize("dtype", (torch.float32, torch.bfloat16), ids=str)
def test_a_pooled_group_across_pieces_is_its_lists(dtype):
    tensors = [weights(n, dtype, i) for i, n in enumerate((PIECE + 7, 300, 2 * PIECE - 5))]
    a, b = pooled_histogram(lambda: iter(tensors), name="g"), standardized_histogram(tensors, name="g")
    assert np.array_equal(a.edges, b.edges) and np.array_equal(a.counts, b.counts)
    assert (a.mean, a.std, a.n, a.beyond) == (b.mean, b.std, b.n, b.beyond)


@pytest.mark.parametrize("dtype", (torch.float32, torch.float16), ids=str)
def test_nan_and_inf_in_several_pieces_are_counted(dtype):
    f = weights(3 * PIECE + 11, dtype, 5)
    f[[3, PIECE + 1, 3 * PIECE + 10]] = torch.tensor([float("nan"), float("inf"), -float("inf")],
                                                     dtype=dtype)
    with pytest.raises(InputError, match=rf"^w: 3 of {f.numel():,} values are not finite"):
        standardized_histogram(f, name="w")
