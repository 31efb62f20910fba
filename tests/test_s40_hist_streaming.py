"""The default weights histogram (`weights plot --checkpoint`, the sweep report's) in bounded memory:
the group is read one tensor at a time in three passes (binned_fit.pooled_histogram over
measure.group_tensors), with the same bits as the histogram of the group's list; the group names
in `weights plot --help` without torch (group_names); a group the checkpoint lacks named with the
groups it holds."""
from __future__ import annotations

import os
import subprocess
import sys
import weakref

import numpy as np
import pytest

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")

from click.testing import CliRunner  # noqa: E402

from scalefit.cli import main  # noqa: E402
from scalefit.errors import InputError  # noqa: E402
from scalefit.weightstats import measure  # noqa: E402
from scalefit.weightstats.binned_fit import fit_families, pooled_histogram, standardized_histogram  # noqa: E402

os.environ.setdefault("HF_HUB_OFFLINE", "1")
torch.set_num_threads(1)


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    """A tiny GPT-NeoX of 3 layers (3 mlp_in matrices) saved as safetensors."""
    config = transformers.GPTNeoXConfig(vocab_size=64, hidden_size=16, num_hidden_layers=3, num_attention_heads=2,
                                        intermediate_size=48, tie_word_embeddings=False)
    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("neox") / "step5"
    transformers.GPTNeoXForCausalLM(config).save_pretrained(path)
    return path


def _same(a, b):
    assert np.array_equal(a.edges, b.edges) and np.array_equal(a.counts, b.counts)
    assert (a.mean, a.std, a.n, a.beyond) == (b.mean, b.std, b.n, b.beyond)


def test_the_plotted_histogram_is_the_lists_to_the_bit(folder, tmp_path, monkeypatch):
    """What histogram_plot draws (counts, edges, every family's fit) equals the histogram of the
    group's tensors as one list, as the plot drew it before."""
    from scalefit.weightstats import plots
    from scalefit.weightstats.report import histogram_plot

    drawn = {}

    def capture(hist, fits, **kwargs):
        drawn["hist"], drawn["fits"] = hist, fits
        return real(hist, fits, **kwargs)

    real = plots.histogram_figure
    monkeypatch.setattr(plots, "histogram_figure", capture)
    histogram_plot(folder, None, tmp_path)
    tensors = [t for _, t in measure.select_tensors(folder, "mlp_in")]
    assert len(tensors) == 3
    listed = standardized_histogram(tensors, name="mlp_in")
    _same(drawn["hist"], listed)
    assert drawn["fits"].to_dict() == fit_families(listed).to_dict()


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16, torch.float64])
def test_pooled_histogram_equals_the_lists(dtype):
    """Mean, two-pass std, z_max and counts as standardized_histogram of the list, without a copy
    of the weights changed (float64's .double() is the tensor itself)."""
    torch.manual_seed(1)
    tensors = [(torch.randn(n) * 0.02 + 0.003 * i).to(dtype) for i, n in enumerate((300, 5000, 77))]
    tensors[1][7] = 0.4  # a far tail
    kept = [t.clone() for t in tensors]
    _same(pooled_histogram(lambda: iter(tensors), name="g"), standardized_histogram(tensors, name="g"))
    assert all(torch.equal(t, k) for t, k in zip(tensors, kept))


def _one_at_a_time(tensors):
    """A maker of generators over `tensors()` that fails if an earlier tensor is still held anywhere
    when the next is read."""
    def fresh():
        alive = []
        for t in tensors():
            assert all(ref() is None for ref in alive), "an earlier tensor of the group is still held"
            alive.append(weakref.ref(t))
            yield t
            del t
    return fresh


def test_pooled_histogram_holds_one_tensor_at_a_time():
    """Each pass drops a tensor before reading the next (a list held the whole group: 38 GB for a
    30B MoE's expert_in)."""
    hist = pooled_histogram(_one_at_a_time(lambda: (torch.randn(64, 16) for _ in range(4))), name="g")
    assert hist.n == 4 * 64 * 16


def test_the_plot_reads_the_checkpoint_one_tensor_at_a_time(folder, tmp_path, monkeypatch):
    """histogram_plot of a folder: no tensor read from it outlives the reading of the next."""
    from scalefit.weightstats.report import histogram_plot

    alive, reads = [], [0]
    real = measure._parts

    def parts(name, tensor, src, split):
        assert all(ref() is None for ref in alive), f"a tensor read before {name} is still held"
        alive.append(weakref.ref(tensor))
        reads[0] += 1
        return real(name, tensor, src, split)

    monkeypatch.setattr(measure, "_parts", parts)
    histogram_plot(folder, "mlp_in", tmp_path)
    assert reads[0] == 3 * 3  # three passes over three matrices


def test_pooled_histogram_refuses_as_the_list_does():
    """Non-finite, empty and constant groups get the list path's messages."""
    bad = torch.randn(10, 10)
    bad[0, :2] = torch.tensor([float("inf"), -float("inf")])
    with pytest.raises(InputError, match=r"^mlp_in: 2 of 200 values are not finite.*tensor_stats"):
        pooled_histogram(lambda: iter([torch.randn(100), bad]), name="mlp_in")
    with pytest.raises(InputError, match=r"^g: cannot standardize an empty tensor$"):
        pooled_histogram(lambda: iter([]), name="g")
    with pytest.raises(InputError, match="zero spread"):
        pooled_histogram(lambda: iter([torch.ones(5), torch.ones(3)]), name="g")


def test_a_group_the_checkpoint_lacks_names_the_groups_it_holds(folder, tmp_path, monkeypatch):
    """`--hist attn_gate` on a model without one said only "no tensor or group 'attn_gate'"; it is
    refused from names, before any tensor is read."""
    table = measure.weight_stats_table(folder, fit_families=False, spectra=False)
    from scalefit.weightstats.group_names import GROUPS

    held = [g for g in GROUPS if g in set(table["group"])]
    reads, real = [], measure._parts
    monkeypatch.setattr(measure, "_parts", lambda name, *args: reads.append(name) or real(name, *args))
    result = CliRunner().invoke(main, ["weights", "plot", "--checkpoint", str(folder), "--hist", "attn_gate",
                                       "--out", str(tmp_path)], catch_exceptions=False)
    assert result.exit_code == 2
    line = result.output.strip()
    assert "\n" not in line and "Traceback" not in line
    assert line.endswith(f"no tensor or group 'attn_gate' (its groups: {', '.join(held)})")
    assert {"attn_qkv", "attn_q", "mlp_in"} <= set(held) and "attn_gate" not in held
    assert reads == []


BLOCK = ("import sys\n"
         "class NoExtra:\n"
         "    def find_spec(self, name, path=None, target=None):\n"
         "        if name.split('.')[0] in ('torch', 'transformers', 'safetensors'):\n"
         "            raise ModuleNotFoundError(f'No module named {name!r}', name=name)\n"
         "sys.meta_path.insert(0, NoExtra())\n")


def test_plot_help_names_the_groups_without_torch():
    """--group and --hist list the groups (group_names.GROUPS, which groups.py re-exports) on an
    install without torch; they could not, as GROUPS lived beside torch in groups.py."""
    from scalefit.weightstats import group_names, groups

    assert groups.GROUPS is group_names.GROUPS
    code = BLOCK + ("from click.testing import CliRunner\nfrom scalefit.cli import main\n"
                    "print(CliRunner().invoke(main, ['weights', 'plot', '--help'], terminal_width=1000).output)")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    listed = f"the groups: {', '.join(group_names.GROUPS)}"
    lines = {line.split()[0]: line for line in done.stdout.splitlines() if line.strip().startswith("--")}
    assert listed in lines["--group"] and listed in lines["--hist"]
