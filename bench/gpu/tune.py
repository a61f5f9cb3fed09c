"""A light block-size sweep of the attention kernels: forward, dQ and dK/dV passes, D = 64 and 128, bf16, causal
and bidirectional, at one training shape (B * S = 16384 tokens, S = 4096, H = 2048 / D), bounded in time.

    python bench/gpu/tune.py [--seqlen 4096] [--budget 100]

Candidates per (kind, DP): kernels/launch.py's DEFAULT_BLOCKS and ALTERNATIVES plus a few EXTRA configs. All are
compiled in parallel worker processes first (common.warm), then timed one by one in this process (do_bench,
median). Configs that fail to launch (shared memory) are reported with their error, configs that spill are timed
and flagged. Output: parts/tune.json (every time), and $GPU_SESSION_WORK/tuned_configs.json: per (kind, DP) the
config with the lowest time relative to the default, summed over causal and bidirectional -- the table format
of FASTLM_ATTN_CONFIGS, so the later steps of the session run with it, and the Python literal printed at the end
goes into kernels/launch.py DEFAULT_BLOCKS.
FLOPs per kind, counting 2 * B * H * S^2 * D per matmul (halved when causal): fwd 2 matmuls, dQ 3, dK/dV 4.
"""
from __future__ import annotations

import argparse
import json
import sys
import time

import common
import torch
from fastlm.kernels import aot, launch

TOKENS = 16384
DS = (64, 128)
MATMULS = {"fwd": 2, "dq": 3, "dkdv": 4}
EXTRA = {"fwd": ((128, 64, 4, 4), (128, 64, 8, 4), (64, 128, 4, 3)),
         "dq": ((64, 64, 8, 2), (128, 64, 4, 2)),
         "dkdv": ((32, 128, 4, 2), (64, 128, 4, 2))}


def candidates(kind: str, dp: int):
    out = [launch.DEFAULT_BLOCKS[kind][dp], *launch.ALTERNATIVES[kind][dp], *EXTRA[kind]]
    return list(dict.fromkeys(out))


_SETUPS: dict = {}


def setup(D: int, causal: bool, S: int, real: bool = True):
    """Captured launches {kind: aot.Launch} of one fwd + bwd on CUDA tensors, and the FLOPs of one matmul.
    real=True runs the forward (built-in blocks) for true O / LSE and the dQ pass for delta, so the timed passes
    see the values of training; the warm-up workers only compile, so they skip that (and its compiles)."""
    key = (D, causal, S, real)
    if key in _SETUPS:
        return _SETUPS[key]
    torch.manual_seed(0)
    B, H = max(1, TOKENS // S), 2048 // D
    q, k, v = (torch.randn(B, S, H, D, device="cuda", dtype=torch.bfloat16) for _ in range(3))
    scale = D ** -0.5
    fwd = aot.capture(lambda: launch.attention_forward(q, k, v, causal=causal, scale=scale))
    if real:
        with launch_blocks_default():
            out, lse = launch.attention_forward(q, k, v, causal=causal, scale=scale)
    else:
        out, lse = torch.randn_like(q), torch.zeros(B, H, S, device="cuda")
    do = torch.randn_like(out)
    dq, dkdv = aot.capture(lambda: launch.attention_backward(do, q, k, v, out, lse, causal=causal, scale=scale))
    lns = {"fwd": fwd[0], "dq": dq, "dkdv": dkdv}
    if real:
        run(lns["dq"], launch.DEFAULT_BLOCKS["dq"][lns["dq"].consts["DP"]])  # writes delta, which dK/dV reads
        torch.cuda.synchronize()
    flops1 = 2 * B * H * S * S * D / (2 if causal else 1)
    _SETUPS[key] = (lns, flops1)
    return _SETUPS[key]


class launch_blocks_default:
    """Run the launcher with the built-in blocks (no autotuning) inside the block."""

    def __enter__(self):
        import os

        self.old = {k: os.environ.get(k) for k in ("FASTLM_ATTN_TUNE", "FASTLM_ATTN_CONFIGS")}
        os.environ["FASTLM_ATTN_TUNE"] = "0"
        os.environ.pop("FASTLM_ATTN_CONFIGS", None)

    def __exit__(self, *exc):
        import os

        for k, v in self.old.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def run(ln, blk):
    m, n, warps, stages = blk
    grid = ln.grid({"BLOCK_M": m, "BLOCK_N": n}) if callable(ln.grid) else ln.grid
    return ln.kernel[grid](*ln.args, **ln.consts, BLOCK_M=m, BLOCK_N=n, num_warps=warps, num_stages=stages)


def warm_task(task) -> None:
    """Worker side: compile (and run once) one (D, causal, S, kind, block)."""
    D, causal, S, kind, blk = task
    lns, _ = setup(D, causal, S, real=False)
    run(lns[kind], tuple(blk))
    torch.cuda.synchronize()


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seqlen", type=int, default=4096)
    ap.add_argument("--budget", type=float, default=100.0, help="seconds for the whole sweep")
    args = ap.parse_args(argv)
    t_start = time.monotonic()
    if not torch.cuda.is_available():
        common.save_part("tune", {"error": "no CUDA device visible to torch"})
        return 1
    S = args.seqlen
    tasks = [(D, causal, S, kind, blk) for D in DS for causal in (False, True) for kind in MATMULS
             for blk in candidates(kind, D)]
    print(f"# sweep: {len(tasks)} (D, causal, kind, block) configs at S={S}, B*S={TOKENS}, bf16", flush=True)
    warm_rows = common.warm("tune:warm_task", tasks, deadline_s=0.6 * args.budget)
    failed = {repr(tuple(r["task"])): r["error"] for r in warm_rows if r["error"]}
    print(f"# compiled in {time.monotonic() - t_start:.0f} s with {common.workers()} workers; "
          f"{len(failed)} failed", flush=True)
    rows = []
    for task in tasks:
        D, causal, _, kind, blk = task
        row = {"D": D, "causal": causal, "kind": kind, "block": list(blk)}
        err = failed.get(repr(tuple(task)))
        if err is None and time.monotonic() - t_start > args.budget - 3:
            err = "skipped: sweep budget spent"
        if err is None:
            try:
                lns, flops1 = setup(D, causal, S)
                k = run(lns[kind], blk)
                ms = common.time_ms(lambda: run(lns[kind], blk))
                row.update(ms=round(ms, 4), tflops=round(MATMULS[kind] * flops1 / ms / 1e9, 1),
                           regs=getattr(k, "n_regs", None), spills=getattr(k, "n_spills", None))
            except Exception as e:  # out of resources and the like: this config is not a candidate
                err = f"{type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}"
        if err is not None:
            row["error"] = err
        rows.append(row)
        print(json.dumps(row), flush=True)
    best = pick(rows)
    common.save_part("tune", {"seqlen": S, "tokens": TOKENS, "rows": rows, "best": best,
                              "seconds": round(time.monotonic() - t_start, 1)})
    table = {kind: {str(dp): list(b["block"]) for dp, b in per.items()} for kind, per in best.items()}
    (common.WORK / "tuned_configs.json").write_text(json.dumps(table, indent=1))
    print("# best blocks (kernels/launch.py DEFAULT_BLOCKS entries):")
    for kind, per in best.items():
        for dp, b in per.items():
            print(f"#   {kind:5s} DP={dp:<4d} {tuple(b['block'])}  {b['vs_default']:.2f}x the default's time")
    return 0 if best else 1


def pick(rows):
    """Per (kind, DP): the block with the lowest sum over causal/bidirectional of time / default's time."""
    best: dict = {}
    for kind in MATMULS:
        for D in DS:
            default = list(launch.DEFAULT_BLOCKS[kind][D])
            base = {r["causal"]: r["ms"] for r in rows if r["kind"] == kind and r["D"] == D
                    and r["block"] == default and "ms" in r}
            if len(base) < 2:
                continue
            score = {}
            for r in rows:
                if r["kind"] == kind and r["D"] == D and "ms" in r and not r.get("spills"):
                    score.setdefault(tuple(r["block"]), {})[r["causal"]] = r["ms"] / base[r["causal"]]
            full = {b: sum(v.values()) / 2 for b, v in score.items() if len(v) == 2}
            if full:
                b = min(full, key=full.get)
                best.setdefault(kind, {})[D] = {"block": list(b), "vs_default": round(full[b], 3)}
    return best


if __name__ == "__main__":
    sys.exit(main())
