"""Attention TFLOP/s for the GPU session: bench/bench_attention.py's cases (fastlm vs SDPA flash / cuDNN, fused
RoPE vs apply_rope + SDPA), with every kernel variant compiled in parallel first, and the rows saved as a part.

    python bench/gpu/attn.py [--quick] [--budget 120]
"""
from __future__ import annotations

import argparse
import sys
import time

import common  # noqa: F401  (puts fastlm on the path)

sys.path.insert(0, str(common.ROOT / "bench"))
import bench_attention as ba  # noqa: E402


def warm_task(case) -> None:
    """Compile every kernel one case runs (at S = 512: the same specialisations as every S of the case)."""
    S, D, causal, bwd, rope = case
    fns, _, _ = ba._fns(512, D, causal, bwd, rope, check=False)
    for name, fn in fns.items():
        if name.startswith("fastlm"):
            fn()


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="seqlens 1k and 8k only")
    ap.add_argument("--budget", type=float, default=120.0, help="seconds; cases left at the end are skipped")
    args = ap.parse_args(argv)
    t0 = time.monotonic()
    import torch

    if not torch.cuda.is_available():
        common.save_part("attention", {"error": "no CUDA device visible to torch"})
        return 1
    cases = [c for c in ba.CASES if not args.quick or c[0] in (1024, 8192)]
    variants = list({(512, D, causal, bwd, rope): None for _, D, causal, bwd, rope in cases})
    warm_rows = common.warm("attn:warm_task", variants, deadline_s=0.35 * args.budget)
    for r in warm_rows:
        if r["error"]:
            print(f"# warm-up of {r['task']} failed: {r['error']}", flush=True)
    print(f"# {len(variants)} variants compiled in {time.monotonic() - t0:.0f} s", flush=True)

    print(f"# {torch.cuda.get_device_name()}  bf16 TFLOP/s: " + "  ".join(ba.IMPLS), flush=True)
    rows = []
    # seqlens in rising order, so a cut-short run still covers every (D, causal, pass) at the short lengths
    for case in sorted(cases, key=lambda c: (c[0], c[4], c[1], c[2], c[3])):
        if time.monotonic() - t0 > args.budget - 5:
            rows.append({"S": case[0], "D": case[1], "causal": case[2], "pass": "fwd+bwd" if case[3] else "fwd",
                         "rope": case[4], "error": "skipped: step budget spent"})
            continue
        rows += ba.measure([case], rep_ms=40, log=lambda s: print(s, flush=True))
        common.save_part("attention", {"rows": rows, "warm": warm_rows})
        torch.cuda.empty_cache()
    common.save_part("attention", {"rows": rows, "warm": warm_rows, "seconds": round(time.monotonic() - t0, 1)})
    return 0 if all("error" not in r for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
