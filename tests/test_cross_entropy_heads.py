"""The cross-entropy heads of scalefit.evals.loss: which one `auto` takes, why a named one is
refused, and that the fused head (cut-cross-entropy) scores what the chunked head scores."""
from __future__ import annotations

import warnings
import dataclasses
import importlib.util
import math

import numpy as np
import pytest

torch = pytest.importorskip("torch")
torch.set_num_threads(1)

from click.testing import CliRunner  # noqa: E402
from tinysuite import plain_window_nll, tiny_checkpoint  # noqa: E402

from scalefit.errors import ScalefitWarning  # noqa: E402
from scalefit.cli import main  # noqa: E402
from scalefit.errors import InputError  # noqa: E402
from scalefit.evals.evalset import window_nll  # noqa: E402
from scalefit.evals import loss as loss_module  # noqa: E402
from scalefit.evals.loss import CROSS_ENTROPY, FUSED_RTOL, _scored_nll, head_plan, measure_loss  # noqa: E402
from scalefit.evals.tokens import tokenize_dataset  # noqa: E402
from scalefit.sweep.checkpoints import load_checkpoint  # noqa: E402

HAVE_CCE = importlib.util.find_spec("cut_cross_entropy") is not None
needs_cce = pytest.mark.skipif(not HAVE_CCE, reason='cut-cross-entropy not installed (pip install "scalefit[gpu]")')
needs_cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="no GPU")


@pytest.fixture(scope="module")
def info(suite_file):
    return tiny_checkpoint(suite_file)


@pytest.fixture(scope="module")
def loaded(suite_file, info):
    model, tok = load_checkpoint(info, "cpu", "float32")
    tokens = tokenize_dataset(suite_file.parent / "data" / "val.txt", tok, suite_file.parent / "token-cache")
    return model, np.asarray(tokens.tokens()[:1200], dtype=np.int64)


@pytest.fixture
def without_cce(monkeypatch):
    """As if cut-cross-entropy were not installed."""
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a, **k: None if name == "cut_cross_entropy" else real(name, *a, **k))


def test_auto_takes_the_chunked_head_on_a_cpu(loaded):
    plan = head_plan(loaded[0])
    assert plan.cross_entropy == "chunked" and plan.split_head and plan.chunk_rows >= 1
    assert set(CROSS_ENTROPY) == {"chunked", "cce"}


def test_a_named_cce_head_without_the_package_says_how_to_install(loaded, without_cce):
    with pytest.raises(InputError, match=r'--cross-entropy cce: cut-cross-entropy is not installed \(pip install'):
        head_plan(loaded[0], "cce")
    assert head_plan(loaded[0], "auto").cross_entropy == "chunked"
    with pytest.raises(InputError, match="use one of auto, chunked, cce"):
        head_plan(loaded[0], "fused")


@needs_cce
def test_an_output_layer_with_a_bias_is_refused_by_the_fused_head(loaded):
    model = loaded[0]
    head = model.get_output_embeddings()
    biased = torch.nn.Linear(head.in_features, head.out_features, bias=True)
    model.set_output_embeddings(biased)
    try:
        with pytest.raises(InputError, match="has a bias"):
            head_plan(model, "cce")
        assert head_plan(model, "auto").cross_entropy == "chunked"
    finally:
        model.set_output_embeddings(head)


def test_eval_refuses_cce_without_the_package_in_one_line(suite_file, tmp_path, without_cce):
    result = CliRunner().invoke(main, ["eval", "--suite", str(suite_file), "--models", "tiny-b", "--steps", "8",
                                       "--dataset", f"val={suite_file.parent / 'data' / 'val.txt'}",
                                       "--cross-entropy", "cce", "--out", str(tmp_path / "sweep")])
    lines = result.stderr.strip().splitlines()
    assert result.exit_code == 2 and len(lines) == 1, result.output
    assert 'pip install "scalefit[gpu]"' in lines[0] and "--cross-entropy chunked" in lines[0]
    assert not (tmp_path / "sweep" / "parts").exists()


@needs_cce
@pytest.mark.parametrize("stride", [None, 17])
def test_fused_head_scores_what_the_hand_computation_scores(loaded, stride, monkeypatch):
    """cut-cross-entropy (its torch.compile form on a CPU) through measure_loss: the token
    windows, the scored rows and the sum are scalefit's; the loss is the hand computation's."""
    import cut_cross_entropy

    model, tokens = loaded
    calls = []
    real = cut_cross_entropy.linear_cross_entropy
    monkeypatch.setattr(cut_cross_entropy, "linear_cross_entropy",
                        lambda *a, **k: calls.append(k["impl"]) or real(*a, **k))
    want_sum, want_n = plain_window_nll(model, tokens, 64, stride)
    fused = measure_loss(model, tokens, context=64, stride=stride, batch_size=5, cross_entropy="cce")
    assert calls and set(calls) == {"torch_compile"}  # the fused head did the scoring
    chunked = measure_loss(model, tokens, context=64, stride=stride, batch_size=5, cross_entropy="chunked")
    assert fused.n_tokens == chunked.n_tokens == want_n
    assert fused.loss == pytest.approx(want_sum / want_n, rel=1e-5)
    assert fused.loss == pytest.approx(chunked.loss, rel=1e-5)


@needs_cce
def test_fused_head_gives_the_same_per_window_sums(loaded):
    """The eval-set path (one NLL sum per window) through the fused head."""
    model, tokens = loaded
    rows = np.stack([tokens[i:i + 65] for i in range(0, 65 * 12, 65)])
    fused = window_nll(model, rows, batch_size=4, cross_entropy="cce")
    chunked = window_nll(model, rows, batch_size=4, cross_entropy="chunked")
    np.testing.assert_allclose(fused, chunked, rtol=1e-5)
    assert np.all(fused > 0)


@pytest.fixture
def auto_fuses(monkeypatch):
    """As if on a GPU with half-precision weights, where `auto` takes the fused head; counts how
    often the fp32 reference runs."""
    monkeypatch.setattr(loss_module, "_auto_fuses", lambda device, head: True)
    calls = []
    real = loss_module._fp32_nll
    monkeypatch.setattr(loss_module, "_fp32_nll", lambda *a: calls.append(1) or real(*a))
    return calls


@needs_cce
def test_auto_checks_the_fused_head_once_and_keeps_it_when_it_agrees(loaded, auto_fuses, capsys):
    model, tokens = loaded
    plan = head_plan(model)
    assert (plan.cross_entropy, plan.verify) == ("cce", True)
    fused_calls = []
    real = CROSS_ENTROPY["cce"]
    with pytest.MonkeyPatch.context() as mp, warnings.catch_warnings():
        warnings.simplefilter("error", ScalefitWarning)  # agreeing heads: no warning at all
        mp.setitem(CROSS_ENTROPY, "cce", dataclasses.replace(real, nll=lambda *a: fused_calls.append(1) or real.nll(*a)))
        auto = measure_loss(model, tokens, context=64, batch_size=5)
    chunked = measure_loss(model, tokens, context=64, batch_size=5, cross_entropy="chunked")
    assert auto.loss == pytest.approx(chunked.loss, rel=1e-5)
    assert len(auto_fuses) == 1 and len(fused_calls) == math.ceil((tokens.size - 1) / 64 / 5)  # every batch fused
    assert "warning" not in capsys.readouterr().err


@needs_cce
@pytest.mark.parametrize("path", ["measure_loss", "window_nll"])
def test_auto_falls_back_to_the_chunked_head_when_the_fused_one_disagrees(loaded, auto_fuses, capsys, path):
    """A fused kernel off by 10x the tolerance scores nothing: the first batch keeps the fp32
    reference, every later batch goes through the chunked head, and the run says so."""
    model, tokens = loaded
    fused_calls = []
    off = dataclasses.replace(CROSS_ENTROPY["cce"], nll=lambda h, y, head, rows: fused_calls.append(1) or
                              loss_module._chunked_nll(h, y, head, rows) * (1 + 10 * FUSED_RTOL))
    with pytest.MonkeyPatch.context() as mp, pytest.warns(ScalefitWarning) as said:
        mp.setitem(CROSS_ENTROPY, "cce", off)
        if path == "measure_loss":
            auto = measure_loss(model, tokens, context=64, batch_size=5).loss
            want = measure_loss(model, tokens, context=64, batch_size=5, cross_entropy="chunked").loss
        else:
            rows = np.stack([tokens[i:i + 65] for i in range(0, 65 * 12, 65)])
            auto = window_nll(model, rows, batch_size=4)
            want = window_nll(model, rows, batch_size=4, cross_entropy="chunked")
    np.testing.assert_allclose(auto, want, rtol=1e-6)
    assert len(fused_calls) == 1 and len(auto_fuses) == 1
    err = " ".join(str(w.message) for w in said)
    assert "differs from an fp32 head by 1.00e-03" in err and "scoring with the chunked head instead" in err


def test_a_diverged_batch_does_not_settle_the_check(capsys):
    """NaN in the reference (a diverged model) says nothing about the kernel: no switch, no
    warning, and the next batch is checked instead."""
    from scalefit.evals.loss import HeadPlan
    plan = HeadPlan(split_head=True, chunk_rows=8, cross_entropy="cce", verify=True)
    reference = torch.tensor([1.0, float("nan")])
    with warnings.catch_warnings():
        warnings.simplefilter("error", ScalefitWarning)
        kept = plan.settle(torch.tensor([1.0, 2.0]), reference)
    assert kept is reference and plan.verify and plan.cross_entropy == "cce" and plan.fused_rel_diff is None
    assert plan.settle(torch.tensor([1.0, 2.0]), torch.tensor([1.0, 2.0])).tolist() == [1.0, 2.0]
    assert not plan.verify and plan.fused_rel_diff == 0.0 and capsys.readouterr().err == ""


def test_a_named_head_is_not_checked(loaded, auto_fuses):
    """--cross-entropy chunked|cce is what the user asked for: no reference pass."""
    model, tokens = loaded
    assert not head_plan(model, "chunked").verify
    measure_loss(model, tokens[:300], context=64, cross_entropy="chunked")
    assert auto_fuses == []


@needs_cuda
@needs_cce
def test_cuda_auto_takes_the_fused_head_and_matches_an_fp32_head(info, loaded):  # pragma: no cover
    """On a GPU: auto keeps fp32 weights on the exact chunked head; with bf16 weights it is `cce`, and its NLL is the fp32 reference's (the same
    hidden states, logits and softmax in fp32) within 1e-4 relative."""
    model, tokens = loaded
    assert head_plan(load_checkpoint(info, "cuda", "float32")[0]).cross_entropy == "chunked"  # exact fp32
    gpu_model, _ = load_checkpoint(info, "cuda", "bfloat16")
    plan = head_plan(gpu_model)
    assert plan.cross_entropy == "cce" and plan.verify
    kernel = dataclasses.replace(plan, verify=False)  # the kernel alone, not auto's fallback
    ids = torch.from_numpy(np.stack([tokens[i:i + 65] for i in range(0, 65 * 8, 65)])).cuda()
    with torch.inference_mode(), torch.autocast("cuda", dtype=torch.bfloat16):
        fused = float(_scored_nll(gpu_model, ids[:, :-1], ids[:, 1:], [0] * 8, kernel))
        _scored_nll(gpu_model, ids[:, :-1], ids[:, 1:], [0] * 8, plan)  # auto's first-batch check
        hidden = gpu_model.base_model(input_ids=ids[:, :-1], use_cache=False).last_hidden_state
    assert plan.cross_entropy == "cce" and plan.fused_rel_diff <= FUSED_RTOL  # auto kept the kernel
    weight = gpu_model.get_output_embeddings().weight
    logits = hidden.reshape(-1, hidden.shape[-1]).float() @ weight.float().T
    reference = float(torch.nn.functional.cross_entropy(logits, ids[:, 1:].reshape(-1), reduction="sum"))
    assert math.isclose(fused, reference, rel_tol=1e-4)
