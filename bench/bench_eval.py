"""Loss throughput: scalefit's windowed loss vs lm-eval's loglikelihood_rolling vs a bare forward pass.

Same model, same tokens, same windows, same batch, one process, interleaved repeats (median):
- scalefit: `scalefit.evals.loss.measure_loss` (what `scalefit eval` runs per dataset), once per
  cross-entropy head asked for (`--heads`: `chunked`, the fp32 cross-entropy in chunks, and `cce`,
  cut-cross-entropy's fused kernel, and `auto`; by default `auto`, as `scalefit eval` runs it, first-batch
  check of a fused choice included, and on a GPU with cut-cross-entropy both heads beside it);
- lm-eval 0.4: `HFLM(pretrained=model).loglikelihood_rolling` on the same text as one document
  (the engine of its perplexity tasks, called directly so no task-building time is counted);
- bare forward: `model(input_ids, use_cache=False).logits` over the same windows and batch, with
  no loss at all (the limit).
With non-overlapping windows of the model's length both score every token of the document once
from the same inputs (lm-eval's prefix token is scalefit's end-of-text token before a document),
so the two losses must agree. Each head's loss is also compared with an fp32 reference: the same
hidden states, the output layer and the softmax in fp32 (the issue's 1e-4 relative target).

The model is Pythia-14m-shaped (6 layers, width 128, 4 heads, padded vocab 50304, untied) with a
BPE tokenizer trained on Python standard-library source; the text is more of that source. Weights
are random (seeded): throughput does not depend on training. On a CUDA machine it also reports
model FLOP utilization for a Pythia-160m-shaped model.

    python bench/bench_eval.py [--tokens 16384] [--context 512] [--batch 16] [--threads 1] [--repeats 3]
                               [--heads chunked,cce]
"""
from __future__ import annotations

import argparse
import math
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from tinysuite import stdlib_documents, train_tokenizer  # noqa: E402

from scalefit.evals.loss import CROSS_ENTROPY_CHOICES, head_plan, measure_loss, window_plan  # noqa: E402


def pythia_shaped(vocab: int, context: int, layers: int, width: int, heads: int):
    """A GPT-NeoX causal LM of Pythia's design (rotary 0.25, parallel residual, untied)."""
    from transformers import GPTNeoXConfig, GPTNeoXForCausalLM

    cfg = GPTNeoXConfig(vocab_size=vocab, hidden_size=width, num_hidden_layers=layers,
                        num_attention_heads=heads, intermediate_size=4 * width,
                        max_position_embeddings=context, rotary_pct=0.25, use_parallel_residual=True,
                        tie_word_embeddings=False, eos_token_id=0, bos_token_id=0)
    torch.manual_seed(0)
    return GPTNeoXForCausalLM(cfg).eval()


def text_of_tokens(tokenizer, n_tokens: int) -> str:
    """Standard-library source (skipping the tokenizer's training part) cut to about n_tokens."""
    docs = stdlib_documents(12 * n_tokens, skip_bytes=400_000)
    text = "\n".join(docs)
    ids = tokenizer(text, add_special_tokens=False)["input_ids"]
    if len(ids) < n_tokens:
        raise SystemExit(f"only {len(ids)} tokens of text available")
    return tokenizer.decode(ids[:n_tokens])


def bare_forward(model, tokens: np.ndarray, context: int, batch: int, device) -> None:
    """model(input_ids) over the same windows as the loss, logits produced and dropped."""
    plan = window_plan(tokens.size, context)
    with torch.inference_mode():
        for length in sorted({e - b for b, e, _ in plan}):
            windows = [w for w in plan if w[1] - w[0] == length]
            for i in range(0, len(windows), batch):
                rows = np.stack([tokens[b:e] for b, e, _ in windows[i:i + batch]]).astype(np.int64)
                model(input_ids=torch.from_numpy(rows).to(device), use_cache=False).logits


def fp32_head_loss(model, tokens: np.ndarray, context: int, batch: int, device) -> float:
    """The reference loss: hidden states as measure_loss computes them, then the output layer and
    the softmax in fp32 (no bf16 logits), over the same windows."""
    plan = window_plan(tokens.size, context)
    weight = model.get_output_embeddings().weight.float()
    autocast = torch.autocast("cuda", dtype=torch.bfloat16) if device.type == "cuda" and \
        next(model.parameters()).dtype == torch.bfloat16 else None
    total, count = 0.0, 0
    with torch.inference_mode():
        for length in sorted({e - b for b, e, _ in plan}):
            windows = [w for w in plan if w[1] - w[0] == length]
            for i in range(0, len(windows), batch):
                ids = torch.from_numpy(np.stack([tokens[b:e + 1] for b, e, _ in windows[i:i + batch]])
                                       .astype(np.int64)).to(device)
                if autocast is not None:
                    with autocast:
                        hidden = model.base_model(input_ids=ids[:, :-1], use_cache=False).last_hidden_state
                else:
                    hidden = model.base_model(input_ids=ids[:, :-1], use_cache=False).last_hidden_state
                hidden, y = hidden.reshape(-1, hidden.shape[-1]).float(), ids[:, 1:].reshape(-1)
                for j in range(0, y.numel(), 1024):
                    logits = hidden[j:j + 1024] @ weight.T
                    total += float(torch.nn.functional.cross_entropy(logits, y[j:j + 1024], reduction="sum"))
                count += y.numel()
    return total / count


def parse_count(text: str) -> int:
    """A count written as a number or a power: "16777216" or "2**24"."""
    base, _, exponent = text.strip().partition("**")
    return int(base) ** int(exponent) if exponent else int(base)


def timed(fn):
    t0 = time.perf_counter()
    out = fn()
    return time.perf_counter() - t0, out


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--tokens", type=int, default=16384)
    ap.add_argument("--context", type=int, default=512)
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument("--shape", default="14m", choices=["14m", "160m"])
    ap.add_argument("--heads", default="",
                    help="cross-entropy heads to time, comma-separated (auto, chunked, cce); default: auto, "
                         "and on a GPU with cut-cross-entropy both heads beside it")
    ap.add_argument("--logit-budgets", default="",
                    help="also time scalefit with these cross-entropy chunk sizes (fp32 logit elements, "
                         "comma-separated, e.g. 2**22,2**24); the default is the module's")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    from transformers.utils import logging as hf_logging

    hf_logging.set_verbosity_error()
    try:
        from lm_eval.api.instance import Instance
        from lm_eval.models.huggingface import HFLM
    except ImportError as exc:  # e.g. a GPU box without the dataset stack: time the other two
        print(f"lm-eval not importable ({exc}); timing scalefit and the bare forward pass only")
        HFLM = None

    device = torch.device(args.device)
    tok = train_tokenizer(stdlib_documents(300_000), vocab_size=4096)
    layers, width, heads = (6, 128, 4) if args.shape == "14m" else (12, 768, 12)
    model = pythia_shaped(50304, args.context, layers, width, heads).to(device)
    if device.type == "cuda":  # what `scalefit eval` loads on a GPU
        model = model.to(torch.bfloat16)
    text = text_of_tokens(tok, args.tokens)
    tokens = np.asarray([tok.eos_token_id] + tok(text, add_special_tokens=False)["input_ids"], dtype=np.int64)
    n_scored = tokens.size - 1
    if HFLM is not None:
        lm = HFLM(pretrained=model, tokenizer=tok, batch_size=args.batch, max_length=args.context,
                  device=str(device))
        request = Instance(request_type="loglikelihood_rolling", doc={}, arguments=(text,), idx=0)

    auto = head_plan(model).cross_entropy  # what `auto` takes here (a fused choice is checked on batch 1)
    if args.heads:
        heads = [h.strip() for h in args.heads.split(",") if h.strip()]
    else:  # auto as `scalefit eval` runs it, first-batch check included, and the heads it chooses between
        heads = ["auto"] + (["cce", "chunked"] if auto != "chunked" else [])
    unknown = [h for h in heads if h not in CROSS_ENTROPY_CHOICES]
    if unknown:
        raise SystemExit(f"--heads: unknown {', '.join(unknown)}; use {', '.join(CROSS_ENTROPY_CHOICES)}")

    def run_head(head):
        return lambda: measure_loss(model, tokens, context=args.context, batch_size=args.batch,
                                    cross_entropy=head)

    def run_scalefit():  # the chunked head, whose chunk size --logit-budgets varies
        return measure_loss(model, tokens, context=args.context, batch_size=args.batch, cross_entropy="chunked")

    def run_lm_eval():
        return lm.loglikelihood_rolling([request], disable_tqdm=True)[0]

    def run_bare():
        return bare_forward(model, tokens, args.context, args.batch, device)

    def sync():
        if device.type == "cuda":
            torch.cuda.synchronize()

    names = {h: "scalefit" if i == 0 else f"scalefit {h}" for i, h in enumerate(heads)}
    paths = {names[h]: run_head(h) for h in heads}
    paths.update({"lm-eval": run_lm_eval, "bare forward": run_bare})
    if HFLM is None:
        del paths["lm-eval"]
    times = {name: [] for name in paths}
    results = {}
    short = tokens[: args.context * args.batch + 1]  # warm-up of every path on one batch
    for h in heads:
        measure_loss(model, short, context=args.context, batch_size=args.batch, cross_entropy=h)
    if HFLM is not None:
        lm.loglikelihood_rolling([Instance(request_type="loglikelihood_rolling", doc={},
                                           arguments=(tok.decode(short[1:].tolist()),), idx=0)], disable_tqdm=True)
    bare_forward(model, short, args.context, args.batch, device)
    for _ in range(args.repeats):
        for name, fn in paths.items():
            sync()
            seconds, out = timed(lambda: (fn(), sync())[0])
            times[name].append(seconds)
            results[name] = out
    rate = {k: n_scored / statistics.median(v) for k, v in times.items()}
    best = {k: n_scored / min(v) for k, v in times.items()}  # least disturbed by other processes
    sf = results["scalefit"]
    print(f"device {device}, threads {torch.get_num_threads()}, model pythia-{args.shape}-shaped "
          f"({sum(p.numel() for p in model.parameters()):,} params, vocab 50304), context {args.context}, "
          f"batch {args.batch}, {n_scored:,} scored tokens, median of {args.repeats} interleaved runs")
    for name in times:
        print(f"  {name:13s} {rate[name]:10,.0f} tokens/s median, {best[name]:10,.0f} best   "
              f"({', '.join(f'{t:.2f}' for t in times[name])} s)")
    print(f"  scalefit = the {heads[0]} cross-entropy head" + (f" (here: {auto})" if heads[0] == "auto" else ""))
    for h in heads:
        name = names[h]
        for peer, target in (("lm-eval", "2x"), ("bare forward", "0.90x" if "cce" in (h, auto if h == "auto" else None) else "0.80x")):
            if peer not in rate:
                continue
            print(f"  {name + ' / ' + peer:30s} = {rate[name] / rate[peer]:.2f}x median, "
                  f"{best[name] / best[peer]:.2f}x best   (target >= {target})")
    reference = fp32_head_loss(model, tokens, args.context, args.batch, device)
    for h in heads:
        got = results[names[h]].loss
        print(f"  loss, {h} head: {got:.6f} vs fp32-head reference {reference:.6f}: "
              f"relative difference {abs(got - reference) / reference:.1e} (target <= 1e-4)")
    if "lm-eval" in results:
        lm_loss = -results["lm-eval"] / n_scored
        print(f"  loss: scalefit {sf.loss:.6f} over {sf.n_tokens:,} tokens; lm-eval {lm_loss:.6f} "
              f"(|diff| {abs(sf.loss - lm_loss):.2e}); ln(vocab) {math.log(50304):.4f}")
    if args.logit_budgets:
        import scalefit.evals.loss as loss_module

        attribute = "LOGIT_BUDGET" if device.type == "cuda" else "CPU_LOGIT_BUDGET"
        default = getattr(loss_module, attribute)
        for budget in map(parse_count, args.logit_budgets.split(",")):
            setattr(loss_module, attribute, budget)
            run_scalefit()
            sync()
            secs = [timed(lambda: (run_scalefit(), sync()))[0] for _ in range(args.repeats)]
            print(f"  scalefit, logit chunk {budget:>11,} elements: {n_scored / statistics.median(secs):10,.0f} "
                  f"tokens/s median" + ("  (the default)" if budget == default else ""))
        setattr(loss_module, attribute, default)
    if device.type == "cuda":
        # Kaplan et al.'s forward count: 2 x non-embedding-lookup params (the unembedding is a
        # matmul) + 2 n_layer n_ctx d for attention scores and values
        flops_per_token = 2 * sum(p.numel() for n, p in model.named_parameters() if "embed_in" not in n) \
            + 2 * layers * args.context * width
        peak = {"H100": 989e12, "H200": 989e12, "A100": 312e12}
        name = torch.cuda.get_device_name(device)
        p = next((v for k, v in peak.items() if k in name), None)
        print(f"  {name}, {flops_per_token / 1e9:.2f} GFLOP per token forward; model FLOP utilization "
              f"against {'%.0f TFLOP/s bf16 dense (spec)' % (p / 1e12) if p else 'an unknown peak'}:")
        for k in rate:
            achieved = rate[k] * flops_per_token
            print(f"    {k:13s} {achieved / 1e12:7.1f} TFLOP/s" + (f", MFU {achieved / p:.1%}" if p else ""))


if __name__ == "__main__":
    main()
