"""Re-initialization from a trained model's weight law (weightstats.reinit) and its use by the
trainer (`scalefit suite train --init`, the [[init]] part): each mode reproduces its marginal
(KS tests against the source tensor), keeps shapes and dtypes, is seeded; bad sources exit 2."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from click.testing import CliRunner
from scipy import stats
from threadpoolctl import threadpool_limits
from transformers.utils import logging as hf_logging

from scalefit.cli import main
from scalefit.errors import InputError
from scalefit.weightstats.init import init_like_pythia
from scalefit.weightstats.reinit import LAW_MODES, MODES, load_source, parse_init, reinit
from tinyspec import S1, micro_spec

torch.set_num_threads(1)
threadpool_limits(1)
hf_logging.disable_progress_bar()  # "Writing model shards" bars would share stderr with the error line

ROOT = Path(__file__).resolve().parents[1]
DRAWN = ("gauss-matched", "family", "empirical", "permuted")


def tiny_model(hidden=32, layers=2, vocab=256):
    from transformers import GPTNeoXConfig, GPTNeoXForCausalLM

    cfg = GPTNeoXConfig(vocab_size=vocab, hidden_size=hidden, num_hidden_layers=layers,
                        num_attention_heads=2, intermediate_size=4 * hidden, max_position_embeddings=32,
                        rotary_pct=0.25, use_parallel_residual=True, tie_word_embeddings=False)
    torch.manual_seed(0)
    return GPTNeoXForCausalLM(cfg)


@torch.no_grad()
def trained_like(model, seed=0):
    """'Trained' weights: heavy-tailed (Student-t, nu 4) matrices with a per-group scale, norm gains
    around 1 with spread, small nonzero biases: a law far from the Gaussian init."""
    gen = torch.Generator().manual_seed(seed)
    t = torch.distributions.StudentT(4.0)
    for i, (name, p) in enumerate(model.named_parameters()):
        torch.manual_seed(seed * 1000 + i)
        draws = t.sample(p.shape)
        if name.endswith(".bias"):
            p.copy_(0.01 * draws)
        elif "layernorm" in name or "layer_norm" in name:
            p.copy_(1.0 + 0.1 * torch.randn(p.shape, generator=gen))
        else:
            p.copy_((0.01 + 0.002 * (i % 5)) * draws)
    return model


@pytest.fixture(scope="module")
def source_dir(tmp_path_factory):
    folder = tmp_path_factory.mktemp("reinit") / "source"
    trained_like(tiny_model()).save_pretrained(folder, safe_serialization=True)
    return folder


@pytest.fixture(scope="module")
def source_tensors(source_dir):
    return load_source(source_dir)[0]


def own(tensors, name):
    return tensors.get(name, tensors.get(name.replace("lm_head.", "embed_out.")))


def big_tensors(model, at_least=2000):
    return [(n, p) for n, p in model.named_parameters() if p.numel() >= at_least]


# ---------------------------------------------------------------- modes and marginals


@pytest.mark.parametrize("mode", MODES)
def test_every_mode_keeps_shapes_and_dtypes_and_changes_every_weight(mode, source_dir):
    model = tiny_model()
    before = {n: (p.shape, p.dtype, p.detach().clone()) for n, p in model.named_parameters()}
    result = reinit(model, None if mode == "pythia" else source_dir, mode, seed=1)
    assert result.model is model and result.mode == mode
    assert len(result.tensors) == len(before)
    for name, p in model.named_parameters():
        assert (p.shape, p.dtype) == before[name][:2], name
        assert torch.isfinite(p).all(), name
    changed = [n for n, p in big_tensors(model) if not torch.equal(p, before[n][2])]
    assert len(changed) == len(big_tensors(model))


def test_dtype_of_a_bfloat16_model_is_kept(source_dir):
    model = tiny_model().to(torch.bfloat16)
    reinit(model, source_dir, "empirical", seed=2)
    assert {p.dtype for p in model.parameters()} == {torch.bfloat16}


def test_source_is_an_exact_copy(source_dir, source_tensors):
    model = reinit(tiny_model(), source_dir, "source", seed=1).model
    for name, p in model.named_parameters():
        assert torch.equal(p, own(source_tensors, name)), name


def test_permuted_is_a_permutation_of_the_source_tensor(source_dir, source_tensors):
    model = reinit(tiny_model(), source_dir, "permuted", seed=1).model
    for name, p in model.named_parameters():
        src = own(source_tensors, name)
        assert torch.equal(torch.sort(p.reshape(-1)).values, torch.sort(src.reshape(-1)).values), name
        if p.numel() > 100:
            assert not torch.equal(p, src), name


def test_empirical_reproduces_each_tensor_marginal(source_dir, source_tensors):
    model = reinit(tiny_model(), source_dir, "empirical", seed=3).model
    for name, p in big_tensors(model):
        src = own(source_tensors, name)
        ks = stats.ks_2samp(p.detach().numpy().ravel(), src.numpy().ravel())
        assert ks.pvalue > 1e-4, (name, ks)
        assert float(p.detach().min()) >= float(src.min()) and float(p.detach().max()) <= float(src.max())


def test_family_draws_from_a_close_fitted_law(source_dir, source_tensors):
    result = reinit(tiny_model(), source_dir, "family", seed=4)
    families = {t.name: t.family for t in result.tensors}
    for name, p in big_tensors(result.model):
        src = own(source_tensors, name).numpy().ravel()
        ks = stats.ks_2samp(p.detach().numpy().ravel(), src)
        assert ks.statistic < 0.04, (name, families[name], ks)
        # heavy tails, never the Gaussian (a fused QKV names its parts' families, q/k/v)
        assert set(families[name].split("/")) <= {"student_t", "gennorm", "logistic", "laplace", "quartic"}


def test_gauss_matched_matches_mean_and_std_only(source_dir, source_tensors):
    model = reinit(tiny_model(), source_dir, "gauss-matched", seed=5).model
    rejected = 0
    for name, p in big_tensors(model):
        src = own(source_tensors, name).double()
        new = p.detach().double()
        assert float(new.mean()) == pytest.approx(float(src.mean()), abs=0.05 * float(src.std()))
        assert float(new.std()) == pytest.approx(float(src.std()), rel=0.06)
        assert abs(float(stats.kurtosis(new.numpy().ravel()))) < 0.5  # Gaussian, not the t's tails
        rejected += stats.ks_2samp(new.numpy().ravel(), src.numpy().ravel()).pvalue < 1e-3
    assert rejected >= len(big_tensors(model)) - 1  # the shape is not the source's


@pytest.mark.parametrize("mode", ("empirical", "gauss-matched", "permuted"))
def test_fused_qkv_is_drawn_part_by_part(mode, tmp_path):
    from scalefit.weightstats.groups import split_qkv

    source = trained_like(tiny_model())
    name = "gpt_neox.layers.0.attention.query_key_value.weight"
    with torch.no_grad():  # v four times the scale of q and k, as trained models often have
        w = dict(source.named_parameters())[name]
        parts = split_qkv(w.detach().clone(), 2)
        parts["v"] *= 4.0
        from scalefit.weightstats.reinit import join_qkv
        assert torch.equal(join_qkv(split_qkv(w.detach(), 2), 2), w.detach())  # the exact inverse
        w.copy_(join_qkv(parts, 2))
    model = reinit(tiny_model(), source, mode, seed=3).model
    new = split_qkv(dict(model.named_parameters())[name].detach(), 2)
    old = split_qkv(dict(source.named_parameters())[name].detach(), 2)
    for part in "qkv":
        assert float(new[part].std()) == pytest.approx(float(old[part].std()), rel=0.1), part
    if mode == "permuted":
        for part in "qkv":
            assert torch.equal(torch.sort(new[part].reshape(-1)).values, torch.sort(old[part].reshape(-1)).values)


def test_norm_gains_and_biases_follow_the_mode(source_dir, source_tensors):
    model = reinit(tiny_model(), source_dir, "empirical", seed=6).model
    gain = model.gpt_neox.layers[0].input_layernorm.weight.detach()
    src = own(source_tensors, "gpt_neox.layers.0.input_layernorm.weight")
    assert float(gain.mean()) == pytest.approx(float(src.mean()), abs=0.05)
    assert float(gain.std()) > 0.05  # a law with spread, not Pythia's constant 1
    bias = model.gpt_neox.layers[0].mlp.dense_h_to_4h.bias.detach()
    assert float(bias.abs().max()) > 0 and not torch.equal(bias, torch.zeros_like(bias))


def test_pythia_mode_is_the_standard_init():
    a, b = tiny_model(), tiny_model()
    reinit(a, None, "pythia", seed=9)
    init_like_pythia(b, seed=9)
    for (n, p), (_, q) in zip(a.named_parameters(), b.named_parameters()):
        assert torch.equal(p, q), n


def test_embeddings_can_stay_at_pythias_init(source_dir, source_tensors):
    model = reinit(tiny_model(), source_dir, "permuted", seed=1, embeddings="pythia").model
    ref = init_like_pythia(tiny_model(), seed=1)
    assert torch.equal(model.gpt_neox.embed_in.weight, ref.gpt_neox.embed_in.weight)
    mlp = "gpt_neox.layers.0.mlp.dense_h_to_4h.weight"
    assert torch.equal(torch.sort(dict(model.named_parameters())[mlp].reshape(-1)).values,
                       torch.sort(own(source_tensors, mlp).reshape(-1)).values)


# ---------------------------------------------------------------- seeds


@pytest.mark.parametrize("mode", DRAWN)
def test_draws_are_seeded(mode, source_dir):
    a = reinit(tiny_model(), source_dir, mode, seed=11).model
    b = reinit(tiny_model(), source_dir, mode, seed=11).model
    c = reinit(tiny_model(), source_dir, mode, seed=12).model
    for (n, p), (_, q), (_, r) in zip(a.named_parameters(), b.named_parameters(), c.named_parameters()):
        assert torch.equal(p, q), n
        if p.numel() > 100:
            assert not torch.equal(p, r), n


# ---------------------------------------------------------------- shapes and sources


def test_shape_mismatch_is_refused_for_exact_modes(source_dir):
    wider = tiny_model(hidden=48)
    for mode in ("permuted", "source"):
        with pytest.raises(InputError, match=r"gpt_neox\.embed_in\.weight has shape \(256, 32\).*"
                                             r"the model's is \(256, 48\)"):
            reinit(wider, source_dir, mode, seed=1)


@pytest.mark.parametrize("mode", LAW_MODES)
def test_law_modes_map_a_different_shape_by_group(mode, source_dir, source_tensors):
    deeper = tiny_model(hidden=48, layers=3)
    result = reinit(deeper, source_dir, mode, seed=1)
    how = {t.name: t.how for t in result.tensors}
    assert how["gpt_neox.layers.2.mlp.dense_h_to_4h.weight"] == "group"
    if mode == "empirical":  # the pooled law of the source's mlp_in matrices
        pooled = torch.cat([own(source_tensors, f"gpt_neox.layers.{i}.mlp.dense_h_to_4h.weight").reshape(-1)
                            for i in range(2)])
        new = dict(deeper.named_parameters())["gpt_neox.layers.2.mlp.dense_h_to_4h.weight"]
        assert stats.ks_2samp(new.detach().numpy().ravel(), pooled.numpy()).pvalue > 1e-4


def test_a_state_dict_and_a_pytorch_bin_are_sources_too(tmp_path, source_tensors):
    model = reinit(tiny_model(), dict(source_tensors), "source", seed=0).model
    name = "gpt_neox.layers.1.attention.dense.weight"
    assert torch.equal(dict(model.named_parameters())[name], source_tensors[name])
    (tmp_path / "bin").mkdir()
    torch.save(dict(source_tensors), tmp_path / "bin" / "pytorch_model.bin")
    loaded, _ = load_source(tmp_path / "bin")
    assert torch.equal(loaded[name], source_tensors[name])


def test_parse_init():
    assert (parse_init("pythia").mode, parse_init("pythia").source) == ("pythia", None)
    choice = parse_init("gauss-matched:runs/x/step10")
    assert (choice.mode, choice.source, str(choice)) == ("gauss-matched", "runs/x/step10",
                                                        "gauss-matched:runs/x/step10")
    for bad, message in (("xavier", "unknown mode 'xavier'"), ("empirical", "needs a SOURCE"),
                         ("pythia:/x", "takes no SOURCE")):
        with pytest.raises(InputError, match=message):
            parse_init(bad)


@pytest.fixture
def bad_folders(tmp_path):
    (tmp_path / "empty").mkdir()
    (tmp_path / "garbage").mkdir()
    (tmp_path / "garbage" / "model.safetensors").write_bytes(b"not a safetensors file")
    return tmp_path


@pytest.mark.parametrize("folder, message", [
    ("missing", "no such checkpoint folder"),
    ("empty", "no model.safetensors"),
    ("garbage", "cannot read as safetensors"),
])
def test_bad_source_folders_are_one_line_errors(bad_folders, folder, message):
    with pytest.raises(InputError, match=message):
        reinit(tiny_model(), bad_folders / folder, "empirical", seed=0)
    result = CliRunner().invoke(main, ["suite", "train", "--spec", str(ROOT / "data/suites/init_study.toml"),
                                       "--out", str(bad_folders / "out"),
                                       "--init", f"permuted:{bad_folders / folder}"])
    assert result.exit_code == 2, result.output
    assert message in result.stderr and len(result.stderr.strip().splitlines()) == 1


@pytest.mark.parametrize("value, message", [("xavier", "unknown mode"), ("family", "needs a SOURCE")])
def test_bad_init_option_exits_2(tmp_path, value, message):
    result = CliRunner().invoke(main, ["suite", "train", "--spec", str(ROOT / "data/suites/init_study.toml"),
                                       "--out", str(tmp_path), "--init", value])
    assert result.exit_code == 2 and message in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


# ---------------------------------------------------------------- the trainer's init runs

MICRO = micro_spec(
    ("[code]", {"tokens": [96]}),
    ("[[init]]", {"tokens": [96], "modes": ["pythia", "empirical", "permuted", "source"], "no_warmup_modes": ["pythia"],
                  "seeds": [1, 2], "source": "code/{size}-D96", "n_log_checkpoints": 3, "n_even_checkpoints": 2}),
    name="micro-init", vocab_size=64, sizes=(S1,),
    recipe={"seq_len": 8, "batch_seqs": 2, "seed": 7, "warmup_frac": 0.2, "warmup_min_steps": 1, "eval_tokens": 64,
            "resume_every": 100})


def fake_corpus(root: Path, vocab: int = 64) -> Path:
    """Token files and a manifest as build-corpus writes them (random tokens: only shapes matter)."""
    rng = np.random.default_rng(0)
    manifest = {"seed": 1, "vocab_size": vocab, "vocab_size_actual": vocab, "separator_id": 0,
                "distributions": {}}
    for dist in ("prose", "code"):
        (root / dist).mkdir(parents=True)
        manifest["distributions"][dist] = {"source_dirs": [dist], "n_files": 3}
        for split in ("train", "val", "test"):
            tokens = rng.integers(0, vocab, 4000).astype(np.uint16)
            tokens.tofile(root / dist / f"{split}.bin")
            manifest["distributions"][dist][split] = {"n_tokens": len(tokens)}
    (root / "manifest.json").write_text(json.dumps(manifest))
    return root


def train_micro(root: Path, text: str, *args):
    """`suite train` of the spec `text` on a fake corpus, both written under `root`, into root/suite."""
    corpus = fake_corpus(root / "corpus")
    spec = root / "spec.toml"
    spec.write_text(text)
    return CliRunner().invoke(main, ["suite", "train", "--spec", str(spec), "--corpus", str(corpus),
                                     "--out", str(root / "suite"), *args, "--json"])


@pytest.fixture(scope="module")
def init_suite(tmp_path_factory):
    root = tmp_path_factory.mktemp("initsuite")
    result = train_micro(root, MICRO, "--part", "code", "--part", "init")
    assert result.exit_code == 0, result.output
    return root, root / "spec.toml", {r["run"]: r for r in json.loads(result.stdout)}


def weights(folder):
    from safetensors.torch import load_file

    return load_file(str(Path(folder) / "model.safetensors"))


def test_init_part_runs_and_rows(init_suite):
    root, spec, rows = init_suite
    from scalefit.trainer.spec import load_spec, run_warmup_steps

    runs = {r.run: r for r in load_spec(spec).runs}
    inits = sorted(r for r in rows if r.startswith("init/"))
    assert inits == sorted(["init/s1-D96-pythia-s1", "init/s1-D96-pythia-s2", "init/s1-D96-pythia-nowarmup-s1",
                            "init/s1-D96-pythia-nowarmup-s2", "init/s1-D96-empirical-s1",
                            "init/s1-D96-empirical-s2", "init/s1-D96-permuted-s1", "init/s1-D96-permuted-s2",
                            "init/s1-D96-source-s1"])  # source: a copy, one seed
    assert run_warmup_steps(load_spec(spec).recipe, runs["init/s1-D96-pythia-nowarmup-s1"]) == 0
    row = rows["init/s1-D96-permuted-s2"]
    assert (row["init"], row["init_seed"], row["warmup_steps"]) == ("permuted", 2, 1)
    assert row["init_data_check"] == "disjoint (code train vs prose train)"
    assert row["init_source"].endswith("code/s1-D96/step6")
    assert rows["init/s1-D96-pythia-nowarmup-s1"]["warmup_steps"] == 0
    record = json.loads((root / "suite" / "code/s1-D96/step6/training_data.json").read_text())
    assert (record["distribution"], record["split"]) == ("code", "train")


def test_init_runs_start_from_their_init(init_suite):
    root, _, _ = init_suite
    suite = root / "suite"
    src = weights(suite / "code/s1-D96/step6")
    name = "gpt_neox.layers.0.mlp.dense_h_to_4h.weight"
    start = {r: weights(suite / "init" / r / "step0") for r in
             ("s1-D96-source-s1", "s1-D96-permuted-s1", "s1-D96-empirical-s1", "s1-D96-empirical-s2",
              "s1-D96-pythia-s1", "s1-D96-pythia-s2")}
    assert all(torch.equal(start["s1-D96-source-s1"][k], src[k]) for k in src)
    assert torch.equal(torch.sort(start["s1-D96-permuted-s1"][name].reshape(-1)).values,
                       torch.sort(src[name].reshape(-1)).values)
    assert not torch.equal(start["s1-D96-empirical-s1"][name], start["s1-D96-empirical-s2"][name])
    assert not torch.equal(start["s1-D96-pythia-s1"][name], start["s1-D96-pythia-s2"][name])
    std = float(start["s1-D96-pythia-s1"][name].std())
    assert std == pytest.approx((2 / (5 * 16)) ** 0.5, rel=0.15)  # Pythia's small_init


def test_cli_init_makes_runs_of_their_own(init_suite):
    root, spec, _ = init_suite
    source = root / "suite" / "code/s1-D96/step6"
    result = CliRunner().invoke(main, ["suite", "train", "--spec", str(spec), "--corpus", str(root / "corpus"),
                                       "--out", str(root / "suite"), "--part", "code",
                                       "--init", f"gauss-matched:{source}", "--init-seed", "5", "--json"])
    assert result.exit_code == 2 and "own data" in result.stderr  # a code run from a code source
    result = CliRunner().invoke(main, ["suite", "train", "--spec", str(spec), "--corpus", str(root / "corpus"),
                                       "--out", str(root / "suite"), "--part", "code", "--allow-same-data",
                                       "--init", f"gauss-matched:{source}", "--init-seed", "5", "--json"])
    assert result.exit_code == 0, result.output
    [row] = json.loads(result.stdout)
    assert row["run"] == "code/s1-D96-init-gauss-matched-s5"
    assert (row["init"], row["init_seed"], row["init_data_check"]) == ("gauss-matched", 5,
                                                                       "same data allowed (code train)")


def test_a_source_on_the_runs_own_data_is_refused(tmp_path):
    text = MICRO.replace('modes = ["pythia", "empirical", "permuted", "source"]',
                         'modes = ["empirical"]\ndistribution = "code"').replace('no_warmup_modes = ["pythia"]', "")
    result = train_micro(tmp_path, text, "--part", "code", "--part", "init")
    assert result.exit_code == 2, result.output
    assert "own data (code train split" in result.stderr and len(result.stderr.strip().splitlines()) == 1


def test_init_source_not_trained_yet_is_one_line(tmp_path):
    result = train_micro(tmp_path, MICRO, "--part", "init", "--only", "empirical")
    assert result.exit_code == 2, result.output
    assert "is not trained yet" in result.stderr and "--part code" in result.stderr


@pytest.mark.parametrize("mode", ["permuted", "source"])
def test_a_source_of_another_shape_exits_2(mode, source_dir, tmp_path):
    result = train_micro(tmp_path, MICRO, "--part", "code", "--init", f"{mode}:{source_dir}")
    assert result.exit_code == 2, result.output
    assert f"re-init {mode}: tensor gpt_neox.embed_in.weight has shape (256, 32)" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_an_unknown_init_source_is_one_line(tmp_path):
    result = train_micro(tmp_path, MICRO.replace('source = "code/{size}-D96"', 'source = "code/{size}-D9"'),
                         "--part", "init", "--only", "permuted")
    assert result.exit_code == 2
    assert "init source 'code/s1-D9' is neither a run of this spec nor a checkpoint folder" in result.stderr


def test_the_shipped_init_study_spec():
    from scalefit.trainer.spec import load_spec, run_warmup_steps

    spec = load_spec(ROOT / "data/suites/init_study.toml")
    init = [r for r in spec.runs if r.part == "init"]
    mini3 = [r for r in init if r.size.name == "mini-3"]
    assert {r.init for r in mini3} == set(MODES)
    for mode in MODES:
        warm = [r for r in mini3 if r.init == mode and run_warmup_steps(spec.recipe, r) == 11]
        assert len(warm) == (1 if mode == "source" else 3), mode
    cold = {(r.init, r.init_seed) for r in mini3 if run_warmup_steps(spec.recipe, r) == 0}
    assert cold == {(m, s) for m in ("pythia", "empirical", "permuted") for s in (1, 2, 3)}
    bigger = {r.init for r in init if r.size.name != "mini-3"}
    assert bigger == {"pythia", "empirical", "source"}
    assert [r.run for r in spec.runs if r.part == "code"] == ["code/mini-3-D1146880", "code/mini-4-D1146880"]
    assert all(r.steps == 1120 and r.distribution == "prose" for r in init)
