"""Model throughput on one GPU: fastlm DecoderModel vs HF LlamaForCausalLM (attn_implementation="sdpa"), same
config, same weights (imported with from_hf), same batch, bf16.

    pytest bench/bench_models.py --benchmark-only      # pytest-benchmark suite (needs CUDA; skipped without)
    python bench/bench_models.py [--quick]             # plain table with the ratios

Training step = forward + CLM loss + backward + AdamW step, reported as tokens/s. Generation = greedy decoding
with a KV cache (prompt PROMPT tokens, NEW new tokens), reported as new tokens/s. Before timing, each case checks
that the two models agree (logits close in bf16; greedy tokens identical for the first steps).
The bar (issue 7): training throughput >= 1.2x HF on an H100 for a Llama-style decoder.

FSDP2 entry (issue 10): the same Llama-style decoder trained the way `fastlm train-lm --parallel fsdp --precision
bf16` does it -- float32 master weights, torch.autocast(bfloat16), fully_shard on every block and on the model,
AdamW -- on a one-GPU process group, against the same model unsharded (the anchor: equal first-step loss
asserted, ratio = FSDP2 overhead on one GPU), both reported as tokens/s.

    python bench/bench_models.py --fsdp [--quick]      # only the FSDP2 entry
"""
import argparse
import sys
import time

import pytest

torch = pytest.importorskip("torch") if "pytest" in sys.modules else __import__("torch")

HAS_CUDA = torch.cuda.is_available()
LLAMA = dict(vocab_size=32000, hidden_size=2048, intermediate_size=5632, num_hidden_layers=8, num_attention_heads=16,
             num_key_value_heads=8, max_position_embeddings=4096)
BATCH, SEQ = 8, 2048
PROMPT, NEW, GEN_BATCH = 128, 128, 8


def _models(quick=False):
    import transformers as T

    from fastlm.models import from_hf

    cfg = dict(LLAMA)
    if quick:
        cfg.update(num_hidden_layers=2)
    torch.manual_seed(0)
    hf = T.LlamaForCausalLM(T.LlamaConfig(**cfg, attn_implementation="sdpa", bos_token_id=None, eos_token_id=None,
                                          pad_token_id=None))
    ours = from_hf(hf)
    return hf.to("cuda", torch.bfloat16), ours.to("cuda", torch.bfloat16)


def _check_same(hf, ours):
    x = torch.randint(0, LLAMA["vocab_size"], (2, 256), device="cuda")
    with torch.no_grad():
        a, b = hf(input_ids=x).logits.float(), ours(x).float()
    err = (a - b).abs().max().item()
    assert err < 0.05 * a.abs().max().item(), f"logits differ: max abs err {err}"


def _train_step(model, is_hf):
    from fastlm.models.objectives import clm_loss

    opt = torch.optim.AdamW(model.parameters(), lr=1e-5, fused=True)
    x = torch.randint(0, LLAMA["vocab_size"], (BATCH, SEQ), device="cuda")

    def step():
        logits = model(input_ids=x).logits if is_hf else model(x)
        loss = clm_loss(logits, x)
        loss.backward()
        opt.step()
        opt.zero_grad(set_to_none=True)

    return step


def _gen(model, is_hf):
    from fastlm.models import generate

    x = torch.randint(0, LLAMA["vocab_size"], (GEN_BATCH, PROMPT), device="cuda")

    def run():
        with torch.no_grad():
            if is_hf:
                return model.generate(x, max_new_tokens=NEW, min_new_tokens=NEW, do_sample=False)
            return generate(model, x, max_new_tokens=NEW)

    return run


def _fsdp_group(device):
    """A one-rank process group (FSDP2 needs one even on a single GPU)."""
    import socket

    import torch.distributed as dist

    if not dist.is_initialized():
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        dist.init_process_group("nccl" if device.type == "cuda" else "gloo",
                                init_method=f"tcp://127.0.0.1:{port}", rank=0, world_size=1)


def _fsdp_case(sharded, quick=False, device="cuda", batch=BATCH, seq=SEQ, dims=None):
    """A training step (autocast bf16 forward, CLM loss, backward, AdamW) of a float32 fastlm Llama decoder,
    FSDP2-sharded per block or plain. Returns (step, tokens per step); step() returns the loss."""
    from fastlm.models import DecoderModel, ModelConfig
    from fastlm.models.objectives import clm_loss
    from fastlm.train_lm import fully_shard_blocks

    device = torch.device(device)
    d = dict(vocab_size=LLAMA["vocab_size"], d_model=LLAMA["hidden_size"], d_ff=LLAMA["intermediate_size"],
             n_layers=2 if quick else LLAMA["num_hidden_layers"], n_heads=LLAMA["num_attention_heads"],
             n_kv_heads=LLAMA["num_key_value_heads"], max_seq_len=LLAMA["max_position_embeddings"])
    d.update(dims or {})
    torch.manual_seed(0)
    model = DecoderModel(ModelConfig(**d)).to(device)
    if sharded:
        _fsdp_group(device)
        fully_shard_blocks(model)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-5)
    x = torch.randint(0, d["vocab_size"], (batch, seq), generator=torch.Generator().manual_seed(1)).to(device)

    def step():
        with torch.autocast(device.type, dtype=torch.bfloat16):
            logits = model(x)
        loss = clm_loss(logits, x)
        torch.autograd.backward(loss)
        opt.step()
        opt.zero_grad(set_to_none=True)
        return loss.detach()

    return step, batch * seq


def _check_fsdp_same(step_fsdp, step_plain):
    a, b = float(step_fsdp()), float(step_plain())
    assert abs(a - b) <= 1e-3 * abs(b), f"FSDP2 first-step loss {a} != unsharded {b}"


def _time(fn, reps=5):
    fn()
    torch.cuda.synchronize()
    t = time.perf_counter()
    for _ in range(reps):
        fn()
    torch.cuda.synchronize()
    return (time.perf_counter() - t) / reps


needs_cuda = pytest.mark.skipif(not HAS_CUDA, reason="model benchmarks need a CUDA GPU (fastlm.attention's Triton "
                                                      "path); on CPU both sides run reference code")


@pytest.fixture(scope="module")
def models():
    hf, ours = _models()
    _check_same(hf, ours)
    return hf, ours


@needs_cuda
@pytest.mark.parametrize("side", ["fastlm", "hf-sdpa"])
def test_train_step(benchmark, models, side):
    hf, ours = models
    fn = _train_step(hf if side == "hf-sdpa" else ours, side == "hf-sdpa")
    fn()
    benchmark.extra_info["tokens_per_step"] = BATCH * SEQ
    benchmark.pedantic(lambda: (fn(), torch.cuda.synchronize()), rounds=5, warmup_rounds=1)


@needs_cuda
@pytest.mark.parametrize("side", ["fastlm", "hf-sdpa"])
def test_generation(benchmark, models, side):
    hf, ours = models
    fn = _gen(hf if side == "hf-sdpa" else ours, side == "hf-sdpa")
    benchmark.extra_info["new_tokens"] = GEN_BATCH * NEW
    benchmark.pedantic(lambda: (fn(), torch.cuda.synchronize()), rounds=3, warmup_rounds=1)


@pytest.fixture(scope="module")
def fsdp_steps():
    fsdp, tokens = _fsdp_case(True)
    plain, _ = _fsdp_case(False)
    _check_fsdp_same(fsdp, plain)
    return {"fsdp2": fsdp, "unsharded": plain, "tokens": tokens}


@needs_cuda
@pytest.mark.parametrize("side", ["fsdp2", "unsharded"])
def test_train_step_fsdp2_bf16(benchmark, fsdp_steps, side):
    fn = fsdp_steps[side]
    fn()
    benchmark.extra_info["tokens_per_step"] = fsdp_steps["tokens"]
    benchmark.pedantic(lambda: (fn(), torch.cuda.synchronize()), rounds=5, warmup_rounds=1)
    benchmark.extra_info["tokens_per_s"] = round(fsdp_steps["tokens"] / benchmark.stats.stats.min, 1)


def _fsdp_report(quick):
    fsdp, tokens = _fsdp_case(True, quick)
    plain, _ = _fsdp_case(False, quick)
    _check_fsdp_same(fsdp, plain)
    t_fsdp, t_plain = _time(fsdp), _time(plain)
    print(f"{torch.cuda.get_device_name()}  Llama {LLAMA['hidden_size']}d x "
          f"{2 if quick else LLAMA['num_hidden_layers']} layers, fp32 weights + bf16 autocast, B={BATCH} S={SEQ}")
    print(f"train step FSDP2 (1 GPU): {tokens / t_fsdp:,.0f} tok/s  unsharded: {tokens / t_plain:,.0f} tok/s  "
          f"FSDP2 / unsharded {t_plain / t_fsdp:.2f}x  (peak memory {torch.cuda.max_memory_allocated() / 2**30:.1f} "
          "GiB)")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="2 layers instead of 8")
    ap.add_argument("--fsdp", action="store_true", help="only the FSDP2 + bf16 autocast training entry")
    args = ap.parse_args(argv)
    if not HAS_CUDA:
        print("skipped: model benchmarks need a CUDA GPU")
        return 0
    if args.fsdp:
        _fsdp_report(args.quick)
        return 0
    hf, ours = _models(args.quick)
    _check_same(hf, ours)
    g_hf, g_ours = _gen(hf, True)(), _gen(ours, False)()
    same = (g_hf[:, PROMPT:PROMPT + 8] == g_ours[:, PROMPT:PROMPT + 8]).float().mean().item()
    print(f"greedy agreement on the first 8 new tokens (bf16): {same:.0%}")
    print(f"{torch.cuda.get_device_name()}  Llama {LLAMA['hidden_size']}d x "
          f"{2 if args.quick else LLAMA['num_hidden_layers']} layers, bf16")
    t_hf, t_ours = _time(_train_step(hf, True)), _time(_train_step(ours, False))
    tok = BATCH * SEQ
    print(f"train step B={BATCH} S={SEQ}:  fastlm {tok / t_ours:,.0f} tok/s  hf-sdpa {tok / t_hf:,.0f} tok/s  "
          f"ratio {t_hf / t_ours:.2f}x")
    t_hf, t_ours = _time(_gen(hf, True), 2), _time(_gen(ours, False), 2)
    n = GEN_BATCH * NEW
    print(f"generate B={GEN_BATCH} prompt={PROMPT} new={NEW}:  fastlm {n / t_ours:,.0f} tok/s  "
          f"hf-sdpa {n / t_hf:,.0f} tok/s  ratio {t_hf / t_ours:.2f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
