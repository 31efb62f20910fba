"""Benchmark of the weight-statistics layer against its peers, side by side in one run.

1. Student-t fit: scalefit's binned MLE on 10 million weights vs `scipy.stats.t.fit` (exact MLE)
   on 1 million of them. Prints both times, the ratio, and nu from each; also the binned fit on
   the same 1 million, so the nu difference is measured on identical data.
   Targets: binned fit of 10M under 1 s; nu within 1% of scipy's.
2. The whole statistics pass on a Pythia-70M-shaped GPT-NeoX (random Pythia init, no download)
   vs WeightWatcher's `analyze()` on the same model: times, ratio, and agreement of alpha and of
   the top singular value on the matrices both measure. Target: at least 3x faster.

Run:  python bench/bench_weightstats.py [--threads 1] [--skip-scipy] [--skip-ww]
Threads are pinned (torch and BLAS) for both sides alike; the numbers depend on the machine's load.
"""
from __future__ import annotations

import argparse
import json
import os
import time
import warnings

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")


def _threads_from_argv(default: int = 1) -> str:
    """--threads N, read before numpy/scipy load: BLAS libraries loaded later (scipy's own
    OpenBLAS, which WeightWatcher's SVD uses) ignore threadpoolctl limits set before them."""
    import sys
    argv = sys.argv[1:]
    for i, arg in enumerate(argv):
        if arg == "--threads" and i + 1 < len(argv):
            return argv[i + 1]
        if arg.startswith("--threads="):
            return arg.split("=", 1)[1]
    return str(default)


for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_var] = _threads_from_argv()

import numpy as np  # noqa: E402
import torch  # noqa: E402


def timed(fn, *args, **kwargs):
    t0 = time.perf_counter()
    out = fn(*args, **kwargs)
    return out, time.perf_counter() - t0


def _sync(device) -> None:
    if device is not None and torch.device(device).type == "cuda":
        torch.cuda.synchronize()


def bench_student_t(n_binned: int, n_scipy: int, nu_true: float, skip_scipy: bool, device=None) -> dict:
    from scipy import stats

    from scalefit.weightstats.binned_fit import fit_family, standardized_histogram

    rng = np.random.default_rng(0)
    weights = torch.from_numpy((0.02 * rng.standard_t(nu_true, n_binned)).astype(np.float32))
    fit_family("student_t", standardized_histogram(weights[:10_000]))  # warm imports
    on_device = weights.to(device) if device is not None else weights
    if device is not None:  # warm the device's kernels on the full size once
        standardized_histogram(on_device)
        _sync(device)
    hist, t_hist = timed(lambda: (standardized_histogram(on_device), _sync(device))[0])
    fit, t_fit = timed(fit_family, "student_t", hist)
    sub = weights[:n_scipy]
    fit_sub = fit_family("student_t", standardized_histogram(sub))
    out = {"n_binned": n_binned, "binned_hist_s": t_hist, "binned_fit_s": t_fit, "binned_total_s": t_hist + t_fit,
           "nu_binned_10M": fit.params["nu"], "nu_binned_1M": fit_sub.params["nu"], "nu_true": nu_true}
    if not skip_scipy:
        (nu, loc, scale), t_scipy = timed(stats.t.fit, sub.double().numpy())
        out.update({"n_scipy": n_scipy, "scipy_fit_s": t_scipy, "nu_scipy_1M": nu,
                    "time_ratio_scipy_1M_over_binned_10M": t_scipy / (t_hist + t_fit),
                    "nu_rel_diff_same_1M": abs(fit_sub.params["nu"] - nu) / nu,
                    "scale_rel_diff_same_1M": abs(fit_sub.params["scale"] - scale) / scale})
    return out


def pythia_70m_shaped():
    from transformers import GPTNeoXConfig, GPTNeoXForCausalLM

    from scalefit.weightstats.init import init_like_pythia

    config = GPTNeoXConfig(vocab_size=50304, hidden_size=512, num_hidden_layers=6, num_attention_heads=8,
                           intermediate_size=2048, max_position_embeddings=2048, rotary_pct=0.25,
                           use_parallel_residual=True, tie_word_embeddings=False)
    return init_like_pythia(GPTNeoXForCausalLM(config).eval())


def bench_family_fits(model, device=None, repeats: int = 5) -> dict:
    """The six family fits alone (no histogram) of every matrix's histogram: the fitter's own cost,
    which the full pass's time hides under its noise. Best of `repeats` passes."""
    from scalefit.weightstats.binned_fit import fit_families, standardized_histogram

    hists = [standardized_histogram(p.detach()) for p in model.parameters() if p.dim() >= 2]
    _sync(device)
    best = min(timed(lambda: [fit_families(h) for h in hists])[1] for _ in range(repeats))
    return {"scalefit_family_fits_s": best, "family_fit_histograms": len(hists)}


def bench_model(skip_ww: bool, device=None) -> dict:
    from scalefit.weightstats.measure import weight_stats_table

    model = pythia_70m_shaped()
    if device is not None:
        model = model.to(device)
        weight_stats_table(model, model="warm-up", device=device)  # CUDA context and kernels
        _sync(device)
    n_params = sum(p.numel() for p in model.parameters())
    table, t_full = timed(lambda: (weight_stats_table(model, model="pythia-70m-shaped", device=device),
                                   _sync(device))[0])
    spectra_only, t_spectra = timed(lambda: (weight_stats_table(model, fit_families=False, groups=False,
                                                                split=False, device=device), _sync(device))[0])
    out = {"params": n_params, "device": str(device or "cpu"), "scalefit_full_pass_s": t_full,
           "scalefit_rows": len(table),
           "scalefit_tensors": int(table["tensor"].nunique()), "scalefit_spectra_moments_only_s": t_spectra,
           **bench_family_fits(model, device)}
    if skip_ww:
        return out
    import logging

    import weightwatcher as ww

    logging.getLogger("weightwatcher").setLevel(logging.ERROR)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        details, t_ww = timed(ww.WeightWatcher(model=model).analyze)
    ours = table[table["tensor"] != "*"].pivot_table(index="tensor", columns="stat", values="value")
    names = details["longname"].astype(str).map(lambda n: "embed_out.weight" if n == "lm_head" else n + ".weight")
    both = details.assign(tensor=names).merge(ours[["alpha", "sv_max"]], left_on="tensor", right_index=True,
                                              suffixes=("_ww", "_ours"))
    rel = (both["alpha_ours"] - both["alpha_ww"]).abs() / both["alpha_ww"]
    # the metrics both compute, on the same matrices: scalefit's spectrum statistics of each layer
    # that WeightWatcher analyzed (it skips matrices with more than 50k rows, e.g. Pythia's embeddings)
    from scalefit.weightstats.groups import checkpoint_name
    from scalefit.weightstats.spectra import spectrum_stats

    params = {checkpoint_name(k, "gpt_neox"): v.detach() for k, v in model.named_parameters()}
    t0 = time.perf_counter()
    for name in both["tensor"]:
        spectrum_stats(params[name])
    _sync(device)
    t_same = time.perf_counter() - t0
    out.update({"weightwatcher_analyze_s": t_ww, "weightwatcher_layers": len(details), "matched_layers": len(both),
                "time_ratio_ww_over_full_pass": t_ww / t_full,
                "time_ratio_ww_over_spectra_pass": t_ww / t_spectra,
                "scalefit_spectra_same_layers_s": t_same, "time_ratio_ww_over_same_layers": t_ww / t_same,
                "alpha_rel_diff_median": float(rel.median()), "alpha_rel_diff_max": float(rel.max()),
                "alpha_within_5pct": int((rel < 0.05).sum()),
                "alpha_corr": float(np.corrcoef(both["alpha_ours"], both["alpha_ww"])[0, 1]),
                "sv_max_rel_diff_max": float(((both["sv_max_ours"] - both["sv_max_ww"]).abs() / both["sv_max_ww"]).max()),
                "per_layer": both[["tensor", "alpha_ww", "alpha_ours", "xmin", "sv_max_ww", "sv_max_ours"]]
                .round(4).to_dict("records")})
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=1, help="torch and BLAS threads for both sides")
    parser.add_argument("--n-binned", type=int, default=10_000_000)
    parser.add_argument("--n-scipy", type=int, default=1_000_000)
    parser.add_argument("--nu", type=float, default=4.0, help="true nu of the synthetic weights")
    parser.add_argument("--skip-scipy", action="store_true", help="skip scipy.stats.t.fit (tens of seconds)")
    parser.add_argument("--skip-ww", action="store_true", help="skip WeightWatcher")
    parser.add_argument("--device", default=None,
                        help="run scalefit's side on this device (e.g. cuda); WeightWatcher picks its own")
    parser.add_argument("--json", action="store_true", help="print one JSON document instead of text")
    args = parser.parse_args()

    from threadpoolctl import threadpool_info, threadpool_limits

    import scipy.linalg  # noqa: F401  (load every BLAS before the limit is applied)
    import scipy.stats  # noqa: F401
    if not args.skip_ww:
        import weightwatcher  # noqa: F401
    torch.set_num_threads(args.threads)
    with threadpool_limits(args.threads):
        pools = {(p["internal_api"], p["num_threads"]) for p in threadpool_info()}
        print(f"thread pools: {sorted(pools)}")
        t = bench_student_t(args.n_binned, args.n_scipy, args.nu, args.skip_scipy, args.device)
        m = bench_model(args.skip_ww, args.device)
    result = {"threads": args.threads, "load_avg_1m": os.getloadavg()[0], "student_t": t, "model": m}
    if args.json:
        print(json.dumps(result, indent=2, default=float))
        return
    print(f"threads {args.threads}, machine load (1 min avg) {result['load_avg_1m']:.1f}")
    print(f"\n[1] Student-t fit, weights ~ 0.02 * t(nu={args.nu:g}); scalefit's histogram on {args.device or 'cpu'}")
    print(f"  scalefit binned MLE, {t['n_binned']:,} weights: {t['binned_total_s']:.3f} s "
          f"(histogram {t['binned_hist_s']:.3f} s + fit {t['binned_fit_s']:.4f} s), nu = {t['nu_binned_10M']:.4f}")
    if "scipy_fit_s" in t:
        print(f"  scipy.stats.t.fit, {t['n_scipy']:,} weights: {t['scipy_fit_s']:.2f} s, nu = {t['nu_scipy_1M']:.4f}")
        print(f"  ratio scipy(1M) / scalefit(10M): {t['time_ratio_scipy_1M_over_binned_10M']:.1f}x")
        print(f"  same 1M weights: binned nu = {t['nu_binned_1M']:.4f} vs exact {t['nu_scipy_1M']:.4f} "
              f"(relative difference {100 * t['nu_rel_diff_same_1M']:.3f}%, scale {100 * t['scale_rel_diff_same_1M']:.4f}%)")
    print(f"\n[2] Pythia-70M-shaped GPT-NeoX, random Pythia init ({m['params']:,} parameters), "
          f"scalefit on {m['device']}")
    print(f"  scalefit full pass (moments, quantiles, spectra, 6 families; {m['scalefit_tensors']} tensors incl. "
          f"Q/K/V parts and groups; {m['scalefit_rows']:,} rows): {m['scalefit_full_pass_s']:.2f} s")
    print(f"  scalefit moments + spectra only (no families, groups, QKV split): {m['scalefit_spectra_moments_only_s']:.2f} s")
    print(f"  scalefit's 6 family fits alone on the {m['family_fit_histograms']} matrices' histograms "
          f"(best of 5): {m['scalefit_family_fits_s']:.3f} s")
    if "weightwatcher_analyze_s" in m:
        print(f"  WeightWatcher analyze(): {m['weightwatcher_analyze_s']:.2f} s ({m['weightwatcher_layers']} layers)")
        print(f"  scalefit spectrum statistics of the same {m['matched_layers']} layers (what both compute): "
              f"{m['scalefit_spectra_same_layers_s']:.2f} s")
        print(f"  ratio WW / scalefit full pass: {m['time_ratio_ww_over_full_pass']:.1f}x; "
              f"WW / scalefit moments+spectra: {m['time_ratio_ww_over_spectra_pass']:.1f}x; "
              f"WW / scalefit same layers: {m['time_ratio_ww_over_same_layers']:.1f}x")
        print(f"  alpha on {m['matched_layers']} matched layers: median relative difference "
              f"{100 * m['alpha_rel_diff_median']:.2f}%, max {100 * m['alpha_rel_diff_max']:.2f}%, "
              f"{m['alpha_within_5pct']} within 5%, correlation {m['alpha_corr']:.3f}; "
              f"sv_max max relative difference {m['sv_max_rel_diff_max']:.2e}")
        for row in m["per_layer"]:
            print(f"    {row['tensor']:<52} alpha ww {row['alpha_ww']:8.3f}  ours {row['alpha_ours']:8.3f}")


if __name__ == "__main__":
    main()
