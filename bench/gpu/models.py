"""Model training throughput for the GPU session, with bench/bench_models.py's setups:

    python bench/gpu/models.py --train [--quick]   # fastlm DecoderModel vs HF LlamaForCausalLM (sdpa), bf16 step
    python bench/gpu/models.py --fsdp [--quick]    # FSDP2 + bf16 autocast step vs the same model unsharded

Training step = forward + CLM loss + backward + AdamW step, tokens/s = B * S / median step time (5 steps after
one warm-up). Each side is checked first (logits close; equal first-step loss for FSDP2), and the ratio is
recorded with its check. Models: Llama 2048d x 8 layers (2 with --quick), 16 heads / 8 KV heads, B=8, S=2048.
"""
from __future__ import annotations

import argparse
import sys
import time

import common  # noqa: F401  (puts fastlm on the path)

sys.path.insert(0, str(common.ROOT / "bench"))
import bench_models as bm  # noqa: E402
import torch  # noqa: E402


def _median_step_s(fn, reps=5):
    fn()
    torch.cuda.synchronize()
    times = []
    for _ in range(reps):
        t = time.perf_counter()
        fn()
        torch.cuda.synchronize()
        times.append(time.perf_counter() - t)
    return sorted(times)[len(times) // 2]


def _build(quick: bool):
    """bench_models._models, with both models initialised on the GPU (a CPU init of 0.5 B parameters costs tens
    of seconds of the session); falls back to bench_models' CPU path if that fails."""
    import transformers as T
    from fastlm.models import from_hf

    cfg = dict(bm.LLAMA)
    if quick:
        cfg.update(num_hidden_layers=2)
    try:
        torch.manual_seed(0)
        with torch.device("cuda"):
            hf = T.LlamaForCausalLM(T.LlamaConfig(**cfg, attn_implementation="sdpa", bos_token_id=None,
                                                  eos_token_id=None, pad_token_id=None))
            ours = from_hf(hf)
        return hf.to(torch.bfloat16), ours.to("cuda", torch.bfloat16), "cuda"
    except Exception as e:  # e.g. an initialiser without a CUDA path
        print(f"# GPU init failed ({type(e).__name__}: {e}); building on CPU", flush=True)
        hf, ours = bm._models(quick)
        return hf, ours, "cpu"


def train(quick: bool) -> dict:
    t0 = time.monotonic()
    hf, ours, where = _build(quick)
    built = time.monotonic() - t0
    out = {"model": f"Llama {bm.LLAMA['hidden_size']}d x {2 if quick else bm.LLAMA['num_hidden_layers']} layers, "
                    f"{bm.LLAMA['num_attention_heads']}/{bm.LLAMA['num_key_value_heads']} heads, bf16",
           "batch": bm.BATCH, "seq": bm.SEQ, "build_s": round(built, 1), "built_on": where}
    out["logits_check"] = common.run_guarded("logits", lambda: bm._check_same(hf, ours) or "ok")
    tokens = bm.BATCH * bm.SEQ
    for name, model, is_hf in (("fastlm", ours, False), ("hf-sdpa", hf, True)):
        torch.cuda.reset_peak_memory_stats()
        step = bm._train_step(model, is_hf)
        t1 = time.monotonic()
        step()  # compiles fastlm's kernels (from the disk cache when warm)
        torch.cuda.synchronize()
        out[f"{name}_first_step_s"] = round(time.monotonic() - t1, 1)
        s = _median_step_s(step)
        out[f"{name}_tokens_per_s"] = round(tokens / s)
        out[f"{name}_peak_gib"] = round(torch.cuda.max_memory_allocated() / 2**30, 1)
        del step
        torch.cuda.empty_cache()
        print(f"{name:8s} {tokens / s:12,.0f} tok/s  peak {out[f'{name}_peak_gib']} GiB", flush=True)
    out["ratio_fastlm_vs_hf"] = round(out["fastlm_tokens_per_s"] / out["hf-sdpa_tokens_per_s"], 3)
    print(f"fastlm / hf-sdpa: {out['ratio_fastlm_vs_hf']:.2f}x  (bar: >= 1.2x)", flush=True)
    return out


def fsdp(quick: bool) -> dict:
    fs, tokens = bm._fsdp_case(True, quick)
    plain, _ = bm._fsdp_case(False, quick)
    out = {"model": f"Llama {bm.LLAMA['hidden_size']}d x {2 if quick else bm.LLAMA['num_hidden_layers']} layers, "
                    "fp32 weights + bf16 autocast", "batch": bm.BATCH, "seq": bm.SEQ}
    out["first_step_loss_check"] = common.run_guarded("loss", lambda: bm._check_fsdp_same(fs, plain) or "ok")
    for name, step in (("fsdp2", fs), ("unsharded", plain)):
        s = _median_step_s(step)
        out[f"{name}_tokens_per_s"] = round(tokens / s)
        print(f"{name:10s} {tokens / s:12,.0f} tok/s", flush=True)
    out["peak_gib"] = round(torch.cuda.max_memory_allocated() / 2**30, 1)
    out["ratio_fsdp2_vs_unsharded"] = round(out["fsdp2_tokens_per_s"] / out["unsharded_tokens_per_s"], 3)
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--train", action="store_true")
    ap.add_argument("--fsdp", action="store_true")
    ap.add_argument("--quick", action="store_true", help="2 layers instead of 8")
    args = ap.parse_args(argv)
    rc = 0
    if args.train:
        res = common.run_guarded("train", lambda: train(args.quick))
        common.save_part("models", res)
        rc |= "error" in res
    if args.fsdp:
        res = common.run_guarded("fsdp", lambda: fsdp(args.quick))
        common.save_part("fsdp", res)
        rc |= "error" in res
    return rc


if __name__ == "__main__":
    sys.exit(main())
