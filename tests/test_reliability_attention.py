"""Attention on hostile shapes and inputs: clear errors for wrong dtype/device/shape; correct results (no NaN or
Inf) for fully masked rows, empty sequences, batch 0, empty sequences inside a packed batch and large packed
totals. On the CPU reference path here, and on the Triton kernels through TRITON_INTERPRET=1 (small shapes, in a
subprocess, since the variable must be set before the kernels are imported).

Shapes: B batch, S tokens, H heads, Hkv key/value heads, D head dim; packed: T tokens, cu_seqlens (B + 1,).
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")

import fastlm  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]


def _qkv(B, S, H, D, Sk=None, Hkv=None, dtype=torch.float32, seed=0, scale=1.0):
    g = torch.Generator().manual_seed(seed)
    Sk = S if Sk is None else Sk
    Hkv = H if Hkv is None else Hkv
    q = torch.randn(B, S, H, D, generator=g, dtype=torch.float32).mul(scale).to(dtype)
    k = torch.randn(B, Sk, Hkv, D, generator=g, dtype=torch.float32).mul(scale).to(dtype)
    v = torch.randn(B, Sk, Hkv, D, generator=g, dtype=torch.float32).to(dtype)
    return q, k, v


def _finite(*ts):
    for t in ts:
        assert torch.isfinite(t.float()).all(), "NaN or Inf in the output"


# ------------------------------------------------------------------------------------------------- clear errors
BAD_CALLS = {
    "int dtype": lambda: fastlm.attention(*(t.to(torch.int32) for t in _qkv(1, 4, 2, 16))),
    "mixed dtypes": lambda: fastlm.attention(*_qkv(1, 4, 2, 16)[:2], _qkv(1, 4, 2, 16)[2].half()),
    "head_dim mismatch": lambda: fastlm.attention(_qkv(1, 4, 2, 16)[0], *_qkv(1, 4, 2, 32)[1:]),
    "heads not a multiple": lambda: fastlm.attention(_qkv(1, 4, 3, 16)[0], *_qkv(1, 4, 2, 16)[1:]),
    "3-D without cu_seqlens": lambda: fastlm.attention(*(t[0] for t in _qkv(1, 4, 2, 16))),
    "batch mismatch": lambda: fastlm.attention(_qkv(2, 4, 2, 16)[0], *_qkv(1, 4, 2, 16)[1:]),
    "not a tensor": lambda: fastlm.attention([[1.0]], *_qkv(1, 4, 2, 16)[1:]),
    "other device": lambda: fastlm.attention(_qkv(1, 4, 2, 16)[0], *(t.to("meta") for t in _qkv(1, 4, 2, 16)[1:])),
    "mask shape": lambda: fastlm.attention(*_qkv(1, 4, 2, 16), key_padding_mask=torch.ones(1, 5, dtype=torch.bool)),
    "mask dtype": lambda: fastlm.attention(*_qkv(1, 4, 2, 16), key_padding_mask=torch.ones(1, 4)),
    "cu_seqlens dtype": lambda: fastlm.attention(*(t[0] for t in _qkv(1, 4, 2, 16)),
                                                 cu_seqlens_q=torch.tensor([0, 4.0]),
                                                 cu_seqlens_k=torch.tensor([0, 4.0])),
    "cu_seqlens past the end": lambda: fastlm.attention(*(t[0] for t in _qkv(1, 4, 2, 16)),
                                                        cu_seqlens_q=torch.tensor([0, 9], dtype=torch.int32),
                                                        cu_seqlens_k=torch.tensor([0, 9], dtype=torch.int32)),
    "head_dim 0": lambda: fastlm.attention(*_qkv(1, 4, 2, 0)),
    "cu_seqlens decreasing": lambda: fastlm.attention(*(t[0] for t in _qkv(1, 4, 2, 16)),
                                                      cu_seqlens_q=torch.tensor([0, 3, 2], dtype=torch.int32),
                                                      cu_seqlens_k=torch.tensor([0, 3, 4], dtype=torch.int32)),
    "max_seqlen too small": lambda: fastlm.attention(*(t[0] for t in _qkv(1, 4, 2, 16)),
                                                     cu_seqlens_q=torch.tensor([0, 4], dtype=torch.int32),
                                                     cu_seqlens_k=torch.tensor([0, 4], dtype=torch.int32),
                                                     max_seqlen_q=2, max_seqlen_k=4),
}


@pytest.mark.parametrize("case", sorted(BAD_CALLS))
def test_wrong_dtype_device_or_shape_is_a_clear_error(case):
    with pytest.raises((ValueError, TypeError)) as e:
        BAD_CALLS[case]()
    assert len(str(e.value)) > 20, "the error should say what was expected"


# ------------------------------------------------------------------------------------------------- edge shapes
def test_fully_masked_rows_give_zero_and_zero_gradient():
    q, k, v = (t.requires_grad_() for t in _qkv(2, 5, 2, 16))
    kpm = torch.ones(2, 5, dtype=torch.bool)
    kpm[1] = False  # sequence 1 sees no key at all
    out, lse = fastlm.attention(q, k, v, key_padding_mask=kpm, return_lse=True)
    _finite(out)
    assert torch.equal(out[1], torch.zeros_like(out[1]))
    assert torch.isneginf(lse[1]).all() and torch.isfinite(lse[0]).all()
    out.sum().backward()
    _finite(q.grad, k.grad, v.grad)
    assert torch.equal(q.grad[1], torch.zeros_like(q.grad[1]))


def test_causal_with_more_queries_than_keys_masks_the_first_rows():
    q, k, v = _qkv(1, 6, 2, 16, Sk=2)
    out = fastlm.attention(q, k, v, causal=True)  # bottom-right diagonal: queries 0..3 see nothing
    _finite(out)
    assert torch.equal(out[0, :4], torch.zeros_like(out[0, :4]))
    assert out[0, 4:].abs().sum() > 0


@pytest.mark.parametrize("shape", [(0, 4, 4), (2, 0, 4), (2, 4, 0), (2, 0, 0)], ids=["batch0", "sq0", "sk0", "both0"])
def test_empty_batches_and_sequences(shape):
    B, S, Sk = shape
    q, k, v = (t.requires_grad_() for t in _qkv(B, S, 2, 16, Sk=Sk))
    for causal in (False, True):
        out = fastlm.attention(q, k, v, causal=causal)
        assert out.shape == q.shape
        _finite(out)
        if Sk == 0 and S > 0:
            assert torch.equal(out, torch.zeros_like(out))  # no key: every row is fully masked
        out.sum().backward()
        _finite(q.grad, k.grad, v.grad)


def test_packed_batch_with_empty_sequences_and_a_large_total():
    """150 sequences of 0..64 tokens (~5k packed rows) with empty ones mixed in, against per-sequence SDPA
    (a total past 2**31 elements needs a GPU: test_huge_packed_total_on_gpu)."""
    g = torch.Generator().manual_seed(3)
    lens = torch.randint(0, 65, (150,), generator=g)
    lens[::7] = 0
    cu = torch.zeros(len(lens) + 1, dtype=torch.int32)
    cu[1:] = torch.cumsum(lens, 0)
    T = int(cu[-1])
    H, D = 2, 16
    q = torch.randn(T, H, D, generator=g)
    k = torch.randn(T, H, D, generator=g)
    v = torch.randn(T, H, D, generator=g)
    out = fastlm.attention(q, k, v, cu_seqlens_q=cu, cu_seqlens_k=cu, causal=True)
    assert out.shape == (T, H, D)
    _finite(out)
    for b in (1, 2, 100, 149):
        s, e = int(cu[b]), int(cu[b + 1])
        if e == s:
            continue
        want = torch.nn.functional.scaled_dot_product_attention(
            q[s:e].transpose(0, 1), k[s:e].transpose(0, 1), v[s:e].transpose(0, 1), is_causal=True).transpose(0, 1)
        torch.testing.assert_close(out[s:e], want, atol=1e-5, rtol=1e-5)


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_huge_packed_total_on_gpu():
    """q with more than 2**31 elements (2200 sequences of 1000 rows x 16 heads x 64): index math in 64 bits."""
    B, L, H, D = 2200, 1000, 16, 64
    cu = torch.arange(0, (B + 1) * L, L, dtype=torch.int32, device="cuda")
    T = B * L
    g = torch.Generator(device="cuda").manual_seed(0)
    q, k, v = (torch.randn(T, H, D, generator=g, device="cuda", dtype=torch.bfloat16) for _ in range(3))
    assert q.numel() > 2 ** 31
    out = fastlm.attention(q, k, v, cu_seqlens_q=cu, cu_seqlens_k=cu, max_seqlen_q=L, max_seqlen_k=L, causal=True)
    for s in (0, T - L):  # the first and the last sequence (past the 2**31-element mark)
        want = torch.nn.functional.scaled_dot_product_attention(
            q[s:s + L].transpose(0, 1).float(), k[s:s + L].transpose(0, 1).float(),
            v[s:s + L].transpose(0, 1).float(), is_causal=True).transpose(0, 1)
        torch.testing.assert_close(out[s:s + L].float(), want, atol=2e-2, rtol=2e-2)
    _finite(out[-L:])


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16, torch.float32])
def test_large_scores_do_not_overflow(dtype):
    """Scores near the fp16 limit (|q.k| ~ 1e4 after scaling): the softmax is stable, the output finite."""
    q, k, v = _qkv(1, 16, 2, 64, dtype=dtype, scale=40.0)
    out = fastlm.attention(q, k, v, causal=True)
    _finite(out)
    ref = torch.nn.functional.scaled_dot_product_attention(
        q.double().transpose(1, 2), k.double().transpose(1, 2), v.double().transpose(1, 2),
        is_causal=True).transpose(1, 2)
    torch.testing.assert_close(out.double(), ref, atol=2e-2, rtol=2e-2)


def test_nan_in_the_input_stays_in_its_row():
    q, k, v = _qkv(2, 4, 2, 16)
    q[0, 1, 0, 0] = float("nan")
    out = fastlm.attention(q, k, v)
    assert torch.isnan(out[0, 1, 0]).all()
    _finite(out[1], out[0, 0], out[0, 2:])


# ------------------------------------------------------------------------------------------------- Triton kernels
INTERP_CASES = r"""
import json, sys, torch, fastlm
res = {}
def finite(*ts): return all(bool(torch.isfinite(t.float()).all()) for t in ts)
def qkv(B, S, H, D, Sk=None, dtype=torch.float32):
    g = torch.Generator().manual_seed(0); Sk = S if Sk is None else Sk
    return [torch.randn(B, n, H, D, generator=g).to(dtype) for n in (S, Sk, Sk)]
def run(name, fn):
    try:
        res[name] = fn()
    except Exception as e:
        res[name] = f"{type(e).__name__}: {e}"
def masked():
    q, k, v = qkv(2, 17, 2, 32)
    kpm = torch.ones(2, 17, dtype=torch.bool); kpm[1] = False
    out, lse = fastlm.attention(q, k, v, key_padding_mask=kpm, return_lse=True)
    return finite(out) and bool((out[1] == 0).all()) and bool(torch.isneginf(lse[1]).all())
def causal_more_q():
    q, k, v = qkv(1, 9, 2, 32, Sk=3)
    out = fastlm.attention(q, k, v, causal=True)
    return finite(out) and bool((out[0, :6] == 0).all())
def empty(B, S, Sk):
    def f():
        q, k, v = qkv(B, S, 2, 32, Sk=Sk)
        out = fastlm.attention(q, k, v, causal=True)
        return out.shape == q.shape and finite(out) and (Sk > 0 or S == 0 or bool((out == 0).all()))
    return f
def varlen_empty():
    lens = [0, 5, 0, 17, 1, 0]
    cu = torch.tensor([0] + list(torch.cumsum(torch.tensor(lens), 0)), dtype=torch.int32)
    T = int(cu[-1]); g = torch.Generator().manual_seed(1)
    q, k, v = (torch.randn(T, 2, 32, generator=g) for _ in range(3))
    out = fastlm.attention(q, k, v, cu_seqlens_q=cu, cu_seqlens_k=cu, causal=True)
    from fastlm.kernels import reference as ref
    want = ref.attention(q.double(), k.double(), v.double(), causal=True, cu_seqlens_q=cu, cu_seqlens_k=cu)
    want = want[0] if isinstance(want, tuple) else want
    return finite(out) and bool(torch.allclose(out.double(), want, atol=1e-4))
def large_fp16():
    q, k, v = qkv(1, 16, 2, 64, dtype=torch.float16)
    out = fastlm.attention(q * 40, k * 40, v, causal=True)
    return finite(out)
run("fully_masked", masked); run("causal_sq_gt_sk", causal_more_q)
run("batch0", empty(0, 8, 8)); run("sq0", empty(2, 0, 8)); run("sk0", empty(2, 8, 0))
run("varlen_empty_sequences", varlen_empty); run("large_fp16", large_fp16)
print("@@" + json.dumps(res))
"""


@pytest.fixture(scope="module")
def interp_results():
    pytest.importorskip("triton")
    env = dict(os.environ, TRITON_INTERPRET="1")
    r = subprocess.run([sys.executable, "-c", INTERP_CASES], capture_output=True, text=True, env=env, timeout=600,
                       cwd=str(ROOT))
    line = [l for l in r.stdout.splitlines() if l.startswith("@@")]
    assert line, f"the interpreter worker failed:\n{r.stdout[-2000:]}\n{r.stderr[-4000:]}"
    return json.loads(line[-1][2:])


@pytest.mark.parametrize("case", ["fully_masked", "causal_sq_gt_sk", "batch0", "sq0", "sk0",
                                  "varlen_empty_sequences", "large_fp16"])
def test_triton_kernels_on_edge_shapes(interp_results, case):
    assert interp_results[case] is True, interp_results[case]
