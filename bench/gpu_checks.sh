#!/usr/bin/env bash
# The GPU checks, in one go, on a machine with CUDA (scalefit and its dependencies importable):
# the CUDA tests, the evaluation benchmark on a Pythia-160m-shaped model (tokens/s, MFU, beside
# lm-eval and a bare forward pass; both cross-entropy heads, chunked and the fused cce, with
# `pip install ".[eval,gpu,test]"`), the weight-statistics benchmark with scalefit on the GPU,
# then the whole test suite with CUDA present (8 pytest-xdist workers: the device machine has 16 cores). Logs go to $LOGS (default ./gpu-logs).
set -uo pipefail
LOGS=${LOGS:-gpu-logs}
mkdir -p "$LOGS"
export HF_HUB_OFFLINE=1 HF_DATASETS_OFFLINE=1 MPLBACKEND=Agg PYTHONUNBUFFERED=1 TOKENIZERS_PARALLELISM=false
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader | tee "$LOGS/gpu.txt"
python3 -c "import torch, transformers; print('torch', torch.__version__, 'transformers', transformers.__version__)" \
    | tee -a "$LOGS/gpu.txt"
python3 -c "import cut_cross_entropy" 2>/dev/null \
    || echo "cut-cross-entropy is not installed: the fused head (issue 17) is not measured; pip install '.[gpu]'"
echo "== CUDA tests"
timeout 300 python3 -m pytest -q -p no:cacheprovider -k "cuda" tests/test_eval_loss.py tests/test_eval_sweep.py \
    tests/test_weight_measure.py tests/test_cross_entropy_heads.py tests/test_s40_measure_moves.py 2>&1 | tee "$LOGS/cuda_tests.txt" | tail -15
echo "== bench_eval, Pythia-160m-shaped, bf16"
timeout 300 python3 bench/bench_eval.py --device cuda --shape 160m --context 2048 --batch 32 \
    --tokens "${EVAL_TOKENS:-524288}" --repeats 3 2>&1 | grep -v "Running loglikelihood" | tee "$LOGS/bench_eval.txt"
echo "== bench_weightstats, scalefit on cuda"
timeout 300 python3 bench/bench_weightstats.py --device cuda --threads "$(nproc)" --skip-scipy 2>&1 \
    | tee "$LOGS/bench_weightstats.txt" | grep -v "^    "
echo "== whole test suite with CUDA present"
timeout "${SUITE_TIMEOUT:-300}" python3 -m pytest -q -p no:cacheprovider --timeout 240 \
    -n "${SUITE_WORKERS:-8}" --dist loadfile tests 2>&1 \
    | tee "$LOGS/suite.txt" | tail -25
