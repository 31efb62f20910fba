"""reinit joins a source's per-expert matrices into a fused expert tensor only where it copies
them (`source`): the law modes and `permuted` draw matrix by matrix and join only their draws.
And its two exact-mode refusals (a plain tensor, a fused expert parameter) each say, in one line
through the CLI with exit status 2, what is wrong with that input and what the mode accepts."""
from __future__ import annotations

import os

import pytest

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")

from test_reinit import MICRO, train_micro  # noqa: E402
from test_weights_moe_fused import _configs  # noqa: E402

from scalefit.weightstats import reinit as reinit_module  # noqa: E402
from scalefit.weightstats.reinit import LAW_MODES, reinit  # noqa: E402

os.environ.setdefault("HF_HUB_OFFLINE", "1")
torch.set_num_threads(1)
transformers.utils.logging.disable_progress_bar()


@pytest.fixture(scope="module")
def mixtral(tmp_path_factory):
    """(model class, config, a saved source of the same shapes, a saved source with narrower experts)."""
    configs = _configs()
    if "mixtral" not in configs:
        pytest.skip("this transformers has no Mixtral")
    cls, config = configs["mixtral"]
    root = tmp_path_factory.mktemp("s40_reinit")
    torch.manual_seed(0)
    cls(config).save_pretrained(root / "same")
    narrow = cls.config_class(**{**config.to_dict(), "intermediate_size": config.intermediate_size // 2})
    cls(narrow).save_pretrained(root / "narrow")
    return cls, config, root / "same", root / "narrow"


def _joins(monkeypatch, mixtral, mode):
    """The dtypes of the matrices of each join_experts call while `mode` re-initializes a Mixtral,
    and its number of fused expert parameters."""
    cls, config, source, _ = mixtral
    calls, join = [], reinit_module.join_experts

    def recording(name, matrices, *args, **kwargs):
        calls.append({m.dtype for m in matrices.values()})
        return join(name, matrices, *args, **kwargs)

    torch.manual_seed(1)
    model = cls(config)
    with monkeypatch.context() as patch:
        patch.setattr(reinit_module, "join_experts", recording)
        reinit(model, source, mode, seed=3)
    return calls, sum(p.ndim == 3 for p in model.parameters())


@pytest.mark.parametrize("mode", [*LAW_MODES, "permuted"])
def test_drawing_modes_join_only_their_draws(monkeypatch, mixtral, mode):
    """One join per fused parameter, of its float64 draws; none of the source's float32 matrices."""
    calls, fused = _joins(monkeypatch, mixtral, mode)
    assert fused and calls == [{torch.float64}] * fused


def test_source_mode_joins_the_source_matrices_once_each(monkeypatch, mixtral):
    calls, fused = _joins(monkeypatch, mixtral, "source")
    assert fused and calls == [{torch.float32}] * fused


def test_a_plain_tensor_of_another_shape_is_named_with_what_is_accepted(tmp_path):
    """GPT-NeoX micro runs (d_model 16) from a source of width 32."""
    from test_reinit import tiny_model

    tiny_model().save_pretrained(tmp_path / "wide")
    result = train_micro(tmp_path, MICRO, "--part", "code", "--init", f"permuted:{tmp_path / 'wide'}")
    assert result.exit_code == 2, result.output
    line = result.stderr.strip()
    assert len(line.splitlines()) == 1 and "Traceback" not in result.output
    assert ("re-init permuted: tensor gpt_neox.embed_in.weight has shape (256, 32) in "
            f"{tmp_path / 'wide'}, the model's is (64, 16); permuted takes it from a source tensor of "
            "that name and shape") in line
    assert ("; a law mode (gauss-matched, family, empirical) draws it from the source's embed_in group "
            "instead") in line
    assert "expert" not in line


def test_a_fused_expert_parameter_names_its_expert_matrix(tmp_path, monkeypatch, mixtral):
    """No shipped command trains an MoE model, so `suite train` builds the Mixtral here."""
    from scalefit.trainer import train

    cls, config, _, narrow = mixtral
    monkeypatch.setattr(train, "build_model", lambda *args: cls(config))
    result = train_micro(tmp_path, MICRO, "--part", "code", "--init", f"source:{narrow}")
    assert result.exit_code == 2, result.output
    line = result.stderr.strip()
    assert len(line.splitlines()) == 1 and "Traceback" not in result.output
    assert ("re-init source: tensor model.layers.0.mlp.experts.gate_up_proj is a fused expert parameter; "
            "its model.layers.0.block_sparse_moe.experts.0.w1.weight has shape (32, 32) (the model's expert "
            f"matrix is (64, 32)) in {narrow}; source takes each of its 8 expert matrices from the source's "
            "matrix of that name at the model's shape") in line
    assert ("; a law mode (gauss-matched, family, empirical) draws it from the source's expert_in group "
            "instead") in line
    assert "a source tensor of that name and shape" not in line


def test_a_refusal_advises_a_law_mode_only_where_the_source_has_the_group():
    """A source without the tensor's group: the refusal says no law mode can draw it either (before,
    it advised a law mode, which then refused)."""
    from test_reinit import tiny_model

    from scalefit.errors import InputError

    source = {k: v for k, v in tiny_model().state_dict().items() if ".attention.dense." not in k}
    with pytest.raises(InputError) as err:
        reinit(tiny_model(), source, "permuted")
    line = str(err.value)
    assert line.startswith("re-init permuted: tensor gpt_neox.layers.0.attention.dense.weight is missing in the source")
    assert line.endswith("; nor can a law mode (gauss-matched, family, empirical) draw it: the source has no "
                         "tensor of group attn_out")
    assert "draws it from" not in line
    with pytest.raises(InputError, match="the source has no tensor of group attn_out"):
        reinit(tiny_model(), source, "gauss-matched")
