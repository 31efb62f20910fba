"""Rows of a sweep over checkpoints whose suite spec gives no parameter count carry the count read
from the checkpoint's own files (total and non-embedding, Pythia's convention); where none can be
read, the sweep says so once. Before, `params` and `params_nonembed` were left empty."""
from __future__ import annotations

import re
from pathlib import Path
import warnings

import pandas as pd
import pytest

from scalefit.errors import ScalefitWarning
from scalefit.sweep.params import checkpoint_shapes, count_parameters

pytest.importorskip("torch")


@pytest.fixture(scope="module")
def bare_spec(suite_file, tmp_path_factory):
    """The tiny suite's spec without its params lines (same folders); and the counts it gave."""
    text = suite_file.read_text()
    given = {name: (int(total), int(nonembed)) for name, total, nonembed in re.findall(
        r'name = "(.+)"\nparams = (\d+)\nparams_nonembed = (\d+)', text)}
    assert len(given) == 2
    bare = re.sub(r"params(_nonembed)? = \d+\n", "", text).replace('local = "."', f'local = "{suite_file.parent}"')
    path = tmp_path_factory.mktemp("bare") / "suite.toml"
    path.write_text(bare)
    return path, given


def counts_in(table: pd.DataFrame) -> dict:
    rows = table[["model", "params", "params_nonembed"]].drop_duplicates()
    assert len(rows) == rows["model"].nunique()  # one count per model, in every row
    return {r.model: (int(r.params), int(r.params_nonembed)) for r in rows.itertuples()}


def test_weights_and_eval_rows_of_a_local_suite_carry_the_counted_params(bare_spec, suite_file, tmp_path):
    """The counts equal those the tiny suite wrote from model.parameters() (total) minus the
    input and output embeddings (non-embedding)."""
    from click.testing import CliRunner

    from scalefit.cli import main

    spec, given = bare_spec
    r = CliRunner().invoke(main, ["weights", "--suite", str(spec), "--steps", "8", "--no-families", "--no-spectra",
                                  "--out", str(tmp_path / "w")], catch_exceptions=False)
    assert r.exit_code == 0, r.output
    assert counts_in(pd.read_parquet(tmp_path / "w" / "weights.parquet")) == given
    assert "no parameter count" not in r.output
    text = tmp_path / "one.txt"
    text.write_text("def f(x):\n    return x + 1\n" * 20)
    r = CliRunner().invoke(main, ["eval", "--suite", str(spec), "--models", "tiny-b", "--steps", "8",
                                  "--dataset", f"v={text}", "--max-tokens", "200", "--out", str(tmp_path / "e")],
                           catch_exceptions=False)
    assert r.exit_code == 0, r.output
    assert counts_in(pd.read_parquet(tmp_path / "e" / "evals.parquet")) == {"tiny-b": given["tiny-b"]}


def test_a_tied_output_embedding_is_counted_once(tmp_path):
    """A Llama with tied embeddings stores lm_head once (as embed_tokens): the counts are
    transformers' own num_parameters() with and without the embeddings, from the files and from
    a loaded model (a pickle .bin checkpoint, which has no safetensors header)."""
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(0)
    model = LlamaForCausalLM(LlamaConfig(vocab_size=97, hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                                         num_attention_heads=2, num_key_value_heads=2, tie_word_embeddings=True))
    model.save_pretrained(tmp_path, safe_serialization=True)
    expected = (model.num_parameters(), model.num_parameters(exclude_embeddings=True))
    assert count_parameters(checkpoint_shapes(tmp_path)) == expected
    assert count_parameters(checkpoint_shapes(None, model)) == expected


def test_position_embeddings_are_embeddings_and_gpt2_biases_are_weights(tmp_path):
    """GPT-2 (tied lm_head, learned positions wpe): transformers' own counts."""
    import torch
    from transformers import GPT2Config, GPT2LMHeadModel

    torch.manual_seed(0)
    model = GPT2LMHeadModel(GPT2Config(vocab_size=97, n_positions=16, n_embd=24, n_layer=2, n_head=2,
                                       bos_token_id=0, eos_token_id=0))
    model.save_pretrained(tmp_path, safe_serialization=True)
    expected = (model.num_parameters(), model.num_parameters(exclude_embeddings=True))
    assert count_parameters(checkpoint_shapes(tmp_path)) == expected


def test_checkpoints_with_no_countable_weights_are_said_once(tmp_path):
    """A loader that gives no model and folders without safetensors: one warning naming both
    checkpoints, and the rows keep an empty count rather than a made-up one."""
    from scalefit.sweep.checkpoints import CheckpointInfo
    from scalefit.sweep.engine import Measurement, sweep_checkpoints

    grid = []
    for step in (0, 8):
        (tmp_path / f"step{step}").mkdir()
        grid.append(CheckpointInfo(model="m", step=step, tokens=None, lr=None, path=str(tmp_path / f"step{step}")))
    measure = Measurement("one", lambda model, info: pd.DataFrame([{"metric": "x", "value": 1.0}]))
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        result = sweep_checkpoints(grid, [measure], tmp_path / "out", load=lambda info: ("no model", None),
                                   progress=False)
    said = [str(w.message) for w in seen if issubclass(w.category, ScalefitWarning)
            and "no parameter count" in str(w.message)]
    assert len(said) == 1 and "m step 0, m step 8" in said[0], said
    assert result.tables["evals"]["params"].isna().all()


def test_each_shard_is_opened_once_for_a_tied_count(tmp_path, monkeypatch):
    """A sharded Llama with tied embeddings: the count read each shard's header, then opened every
    shard again to list its names for the tie check, then once more per embedding compared (14
    opens of these 6 shards). Each is opened once now, and the counts are transformers' own."""
    import safetensors
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    from scalefit.sweep import integrity

    torch.manual_seed(0)
    model = LlamaForCausalLM(LlamaConfig(vocab_size=97, hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                                         num_attention_heads=2, num_key_value_heads=2, tie_word_embeddings=True))
    model.save_pretrained(tmp_path, safe_serialization=True, max_shard_size="20KB")
    shards = sorted(p.name for p in tmp_path.glob("*.safetensors"))
    assert len(shards) >= 2
    opened = []
    safe_open = safetensors.safe_open
    monkeypatch.setattr(safetensors, "safe_open", lambda path, *a, **k: opened.append(Path(path).name)
                        or safe_open(path, *a, **k))
    monkeypatch.setattr(integrity, "open", lambda path, *a, **k: opened.append(Path(path).name) or open(path, *a, **k),
                        raising=False)
    expected = (model.num_parameters(), model.num_parameters(exclude_embeddings=True))
    assert count_parameters(checkpoint_shapes(tmp_path)) == expected
    assert sorted(opened) == shards
