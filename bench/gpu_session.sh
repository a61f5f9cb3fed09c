#!/usr/bin/env bash
# One short GPU session in one call: the Triton attention kernels compiled for real and checked at scale (bf16
# included), a light block-size sweep, attention TFLOP/s against SDPA (flash, cuDNN), fused RoPE against
# apply_rope + SDPA, the training-step throughput of a Llama-style model against HF Llama (SDPA), and FSDP2 + bf16.
#
# Run it from a checkout on a machine with one CUDA GPU, PyTorch and Triton (nothing is built or downloaded; the
# C++ tokenizer core is not needed -- bench/gpu/gpuboot.py imports fastlm from the source tree):
#
#     OUT=gpu_out bash bench/gpu_session.sh        # ~5 min; every step has a hard time limit, the whole a budget
#
# Everything lands in $OUT (default ./gpu_out), rewritten after every step so a cut-short run keeps what it
# measured: results.md (the tables), results.json (every figure), tuned_configs.json (the sweep's best blocks),
# session.log (every step's output). A failing step logs its error and the session goes on. Then:
#
#     python bench/gpu/report.py --results gpu_out/results.json --into bench/RESULTS.md   # fold the tables in
#     # and copy tuned_configs.json's blocks into kernels/launch.py DEFAULT_BLOCKS (same {kind: {DP: block}} shape)
#
# Knobs: GPU_SESSION_BUDGET (seconds for all steps, default 440), GPU_SESSION_QUICK=1 (fewer cases, 2-layer
# models), GPU_SESSION_WORKERS (parallel compile processes), PYTHON (default python3).
set -u
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
OUT=${OUT:-$ROOT/gpu_out}
mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)
PY=${PYTHON:-python3}
BUDGET=${GPU_SESSION_BUDGET:-440}
QUICK=${GPU_SESSION_QUICK:-0}
export GPU_SESSION_WORK=${GPU_SESSION_WORK:-/tmp/fastlm_gpu_session}
rm -rf "$GPU_SESSION_WORK"
mkdir -p "$GPU_SESSION_WORK"
export PYTHONPATH="$ROOT/bench/gpu${PYTHONPATH:+:$PYTHONPATH}"
export PYTHONUNBUFFERED=1 PYTHONDONTWRITEBYTECODE=1
export TRITON_CACHE_DIR=${TRITON_CACHE_DIR:-$GPU_SESSION_WORK/triton-cache}
export TRITON_DEFAULT_FP_FUSION=${TRITON_DEFAULT_FP_FUSION:-1}
# Built-in blocks everywhere (one compile per kernel variant); the sweep's table replaces them once written.
export FASTLM_ATTN_TUNE=0
LOG=$OUT/session.log
: >"$LOG"
T0=$(date +%s)
Q=""
[ "$QUICK" = 1 ] && Q="--quick"

step() {  # step NAME LIMIT_S CMD...: run with a hard limit (less if the budget is nearly spent), log, record
    local name=$1 limit=$2 left rc t1 t2
    shift 2
    left=$((BUDGET - ($(date +%s) - T0)))
    if [ "$left" -lt 15 ]; then
        echo "=== $name: skipped, session budget spent" | tee -a "$LOG"
        printf '{"step": "%s", "rc": "skipped", "seconds": 0, "limit": 0}\n' "$name" >>"$GPU_SESSION_WORK/steps.jsonl"
        return
    fi
    [ "$limit" -gt "$left" ] && limit=$left
    echo "=== $name (limit ${limit} s, $(date +%T))" | tee -a "$LOG"
    t1=$(date +%s)
    timeout -k 10 "$limit" "$@" >>"$LOG" 2>&1
    rc=$?
    t2=$(date +%s)
    [ "$rc" = 124 ] && echo "=== $name: TIMED OUT after ${limit} s" | tee -a "$LOG"
    echo "=== $name: exit $rc in $((t2 - t1)) s" | tee -a "$LOG"
    printf '{"step": "%s", "rc": %d, "seconds": %d, "limit": %d}\n' "$name" "$rc" $((t2 - t1)) "$limit" \
        >>"$GPU_SESSION_WORK/steps.jsonl"
    if [ -f "$GPU_SESSION_WORK/tuned_configs.json" ]; then
        export FASTLM_ATTN_CONFIGS="$GPU_SESSION_WORK/tuned_configs.json"
    fi
    $PY bench/gpu/report.py --work "$GPU_SESSION_WORK" --out "$OUT" >>"$LOG" 2>&1 || echo "=== report failed" >>"$LOG"
}

XDIST=""  # parallel test workers, so the kernel variants compile on several cores
$PY -c "import xdist" 2>/dev/null && XDIST="-n $($PY -c "import os; print(max(1, min(12, (os.cpu_count() or 4) - 2)))")"
step env 60 $PY bench/gpu/env.py
step correctness 120 $PY -m pytest -q -p gpuboot -p no:cacheprovider $XDIST tests/test_attention_gpu.py \
    --junitxml="$GPU_SESSION_WORK/junit.xml" -o junit_family=xunit1
step tune 75 $PY bench/gpu/tune.py --budget 70
step attention 110 $PY bench/gpu/attn.py --budget 100 $Q
step models 75 $PY bench/gpu/models.py --train $Q
step fsdp 60 $PY bench/gpu/models.py --fsdp $Q
echo "=== done in $(($(date +%s) - T0)) s; results in $OUT" | tee -a "$LOG"
cat "$OUT/results.md" 2>/dev/null
