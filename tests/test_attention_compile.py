"""The attention / RoPE kernels compiled ahead of time for real GPUs (sm_90 = H100/H200, sm_80 = A100), on CPU.

The interpreter tests run the kernels' Python but never Triton's compiler; this compiles what the launcher would
launch (kernels/aot.py: same arguments, same specialisations) with the built-in default blocks, and checks what
would otherwise only show on a GPU: it compiles, no register spills (local memory 0), and the shared memory fits
the chip. Shapes: B batch, Sq/Sk tokens, H/Hkv heads, D head dim.
"""
import os

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("triton")

from fastlm.kernels import aot  # noqa: E402

_WHY = aot.available()
pytestmark = pytest.mark.skipif(_WHY is not None, reason=f"no ahead-of-time CUDA compiler: {_WHY}")

# Each variant covers several constexpr paths at once (every compile takes seconds): name -> (arch, shape).
VARIANTS = {
    # the Llama-small head dim, GQA, causal, bf16 (DP 64: the blocks DP 16 / 32 share)
    "d64-causal-gqa": (90, dict(D=64, H=4, Hkv=1, causal=True)),
    # padded head dim (DP 128), GQA, key padding mask, partial half-split RoPE (Q in the kernel, K prepass)
    "d80-causal-gqa-kpm-rope": (90, dict(D=80, H=4, Hkv=2, causal=True, kpm=True, rope="half", rotary_dim=48)),
    # varlen packing, bidirectional, interleaved RoPE, fp16, the Llama head dim -- for A100 (163 KiB of smem)
    "d128-varlen-rope-fp16-sm80": (80, dict(D=128, H=4, Hkv=4, causal=False, varlen=True, rope="interleaved",
                                            dtype=torch.float16)),
    # the largest head dim (DP 256: the smallest tiles), Sq != Sk
    "d256-causal": (90, dict(D=256, H=2, Hkv=1, causal=True, Sq=200, Sk=300)),
    # float32 inputs (IEEE dot products), the smallest padded head dim
    "d16-fp32": (90, dict(D=16, H=2, Hkv=2, causal=True, dtype=torch.float32, Sq=100, Sk=130)),
}


@pytest.mark.parametrize("name", list(VARIANTS))
def test_default_blocks_compile_without_spills(name):
    arch, shape = VARIANTS[name]
    launches = aot.attention_launches(**shape)
    assert {"fwd", "dq", "dkdv"} <= {ln.kind for ln in launches}
    for ln in launches:
        c = aot.compile_launch(ln, arch=arch)
        assert c.regs > 0
        assert c.local_bytes == 0, f"{name} {ln.kind} block {c.block}: {c.local_bytes} bytes of spills"
        assert c.shared <= aot.SMEM_LIMIT[arch], f"{name} {ln.kind} block {c.block}: {c.shared} B shared memory"


def test_decode_step_compiles_for_sm90_and_sm80():
    # one KV-cache step: seqused_k, split-KV partials, RoPE on Q only (the cache holds rotated keys)
    launches = aot.attention_launches(B=2, Sq=1, Sk=4096, H=8, Hkv=2, D=128, causal=True, rope="half",
                                      kvcache=True, num_splits=8)
    assert [ln.kind for ln in launches] == ["fwd"]
    for arch in (90, 80):
        c = aot.compile_launch(launches[0], arch=arch)
        assert c.fits, c


def test_rope_k_in_tile_loop_compiles(monkeypatch):
    # FASTLM_ATTN_ROPE_K=tile puts ROPE_K (and, backward, ROPE_Q) inside the loops: it must at least compile
    monkeypatch.setenv("FASTLM_ATTN_ROPE_K", "tile")
    launches = aot.attention_launches(D=64, H=2, Hkv=1, causal=True, rope="half")
    assert [ln.kind for ln in launches] == ["fwd", "dq", "dkdv", "rope", "rope"]
    for ln in launches[:3]:
        assert ln.consts["ROPE_K"] and ln.consts["ROPE_Q"]
    assert aot.compile_launch(launches[0], arch=90).regs > 0  # the forward rotates K tiles inside its loop


def test_prepass_mode_keeps_rope_out_of_the_loops():
    assert os.environ.get("FASTLM_ATTN_ROPE_K", "prepass") == "prepass"
    launches = aot.attention_launches(D=64, H=2, Hkv=1, causal=True, rope="half")
    # rope(K) before the forward; rope(Q), rope(K) before and conjugate rope(dQ), rope(dK) after the backward
    assert [ln.kind for ln in launches] == ["rope", "fwd", "rope", "rope", "dq", "dkdv", "rope", "rope"]
    fwd, dq, dkdv = (ln for ln in launches if ln.kind != "rope")
    assert fwd.consts["ROPE_Q"] and not fwd.consts["ROPE_K"]
    assert not (dq.consts["ROPE_Q"] or dq.consts["ROPE_K"] or dkdv.consts["ROPE_Q"] or dkdv.consts["ROPE_K"])
    assert [ln.consts["CONJ"] for ln in launches if ln.kind == "rope"] == [False, False, False, True, True]
