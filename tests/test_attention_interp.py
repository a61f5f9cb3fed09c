"""The Triton attention / RoPE kernels, run on CPU by Triton's interpreter, against the float64 reference.

TRITON_INTERPRET must be set before the kernels are decorated, i.e. before fastlm.kernels is imported, and the
rest of the test session imports it without the variable. So this module starts ONE worker process (this same
file, run with --serve and TRITON_INTERPRET=1) and sends it the cases; every pytest test below is one case.
With TRITON_INTERPRET=1, `fastlm.attention` on CPU tensors runs the interpreted Triton kernels.

Accuracy rule (flash-attention's): |kernel - f64| <= 2 * |torch same-precision reference - f64| + atol,
for the output, the LSE and dq, dk, dv. Only fp16 and fp32: the interpreter's bf16 tl.dot is wrong.
Shapes: B batch, Sq/Sk tokens, H/Hkv heads, D head dim.
"""
import json
import os
import subprocess
import sys
import traceback

import pytest

torch = pytest.importorskip("torch")

ATOL = {"float16": 2e-3, "float32": 2e-5}
_MARK = "@@CASE "


# ----------------------------------------------------------------------------------------------------------------
# Worker side (runs with TRITON_INTERPRET=1)
# ----------------------------------------------------------------------------------------------------------------
def _ref_call(q, k, v, *, causal=False, softmax_scale=None, rope=None, seqlen_offsets=0, cu_seqlens_q=None,
              cu_seqlens_k=None, key_padding_mask=None, **_):
    """reference.attention with the public API's position convention spelled out independently."""
    from fastlm.kernels import reference as ref

    rope_t = q_off = k_off = None
    if rope is not None:
        B = cu_seqlens_q.numel() - 1 if cu_seqlens_q is not None else q.shape[0]
        cos, sin = rope.tables(4096, "cpu")
        rope_t = (cos.double(), sin.double(), rope.interleaved)
        k_off = torch.as_tensor(seqlen_offsets).expand(B).long()
        if cu_seqlens_q is not None:
            q_off = k_off + cu_seqlens_k.diff() - cu_seqlens_q.diff()
        else:
            q_off = k_off + k.shape[1] - q.shape[1]
    return ref.attention(q, k, v, causal=causal, softmax_scale=softmax_scale, rope=rope_t, rope_q_offsets=q_off,
                         rope_k_offsets=k_off, cu_seqlens_q=cu_seqlens_q, cu_seqlens_k=cu_seqlens_k,
                         key_padding_mask=key_padding_mask)


def _run_both(fn, q, k, v, do):
    """fn(q, k, v) -> (out, lse); returns out, lse, dq, dk, dv (grads w.r.t. the given leaves)."""
    leaves = [t.detach().requires_grad_() for t in (q, k, v)]  # no clone: it would make strided views dense
    out, lse = fn(*leaves)
    grads = torch.autograd.grad(out, leaves, do.to(out.dtype), allow_unused=True)
    return [out.detach(), lse.detach()] + [g if g is not None else torch.zeros_like(x) for g, x in
                                            zip(grads, leaves)]


def _compare(name, got, low, exact, atol):
    got, low, exact = got.double(), low.double(), exact.double()
    fin = torch.isfinite(exact)  # LSE of dead rows is -inf in all three
    assert torch.equal(torch.isfinite(got), fin), f"{name}: non-finite entries differ from the reference"
    assert not torch.isnan(got).any(), f"{name}: NaN"
    err = (got[fin] - exact[fin]).abs().max().item() if fin.any() else 0.0
    ref_err = (low[fin] - exact[fin]).abs().max().item() if fin.any() else 0.0
    assert err <= 2 * ref_err + atol, f"{name}: kernel error {err:.3g} > 2 * reference error {ref_err:.3g} + {atol}"


def case_attention(dtype, B, Sq, Sk, H, Hkv, D, causal=False, strided=False, kpm_rows=None, seed=0, rope_k=None,
                   **kw):
    if rope_k is not None:  # the launcher reads FASTLM_ATTN_ROPE_K at each call
        os.environ["FASTLM_ATTN_ROPE_K"] = rope_k
        try:
            return case_attention(dtype, B, Sq, Sk, H, Hkv, D, causal, strided, kpm_rows, seed, None, **kw)
        finally:
            del os.environ["FASTLM_ATTN_ROPE_K"]
    import fastlm

    dt = getattr(torch, dtype)
    g = torch.Generator().manual_seed(seed)
    if strided:  # q/k/v as transposed views of (B, H, S, D) buffers, k/v with a sliced head dim
        q = torch.randn(B, H, Sq, D, generator=g).to(dt).transpose(1, 2)
        k = torch.randn(B, Hkv, Sk, D + 8, generator=g).to(dt).transpose(1, 2)[..., :D]
        v = torch.randn(B, Sk, 2 * Hkv, D, generator=g).to(dt)[:, :, ::2]
        assert not (q.is_contiguous() or k.is_contiguous() or v.is_contiguous())
    else:
        q = torch.randn(B, Sq, H, D, generator=g).to(dt)
        k = torch.randn(B, Sk, Hkv, D, generator=g).to(dt)
        v = torch.randn(B, Sk, Hkv, D, generator=g).to(dt)
    do = torch.randn(B, Sq, H, D, generator=g)
    if kpm_rows is not None:  # row b keeps its first kpm_rows[b] keys, plus every 3rd key after
        kw["key_padding_mask"] = torch.stack([(torch.arange(Sk) < n) | (torch.arange(Sk) % 3 == 0) if n >= 0
                                              else torch.zeros(Sk, dtype=torch.bool) for n in kpm_rows])
    if kw.get("rope") is not None:
        kw["rope"] = fastlm.RotaryEmbedding(**kw["rope"])
    kw["causal"] = causal
    _check(q, k, v, do, kw, kw, dtype)


def _check(q, k, v, do, kw, ref_kw, dtype):
    import fastlm

    got = _run_both(lambda a, b, c: fastlm.attention(a, b, c, return_lse=True, **kw), q, k, v, do)
    low = _run_both(lambda a, b, c: _ref_call(a, b, c, **ref_kw), q, k, v, do)
    exact = _run_both(lambda a, b, c: _ref_call(a, b, c, **ref_kw), q.double(), k.double(), v.double(), do)
    for name, a, b_, c in zip(("out", "lse", "dq", "dk", "dv"), got, low, exact):
        _compare(name, a, b_, c, ATOL[dtype] * (4 if name != "out" else 1))


def case_varlen(dtype, seqlens_q, seqlens_k, H, Hkv, D, causal, rope=None):
    import fastlm

    dt = getattr(torch, dtype)
    g = torch.Generator().manual_seed(1)
    cu_q = torch.tensor([0] + seqlens_q).cumsum(0).to(torch.int32)
    cu_k = torch.tensor([0] + seqlens_k).cumsum(0).to(torch.int32)
    q = torch.randn(int(cu_q[-1]), H, D, generator=g).to(dt)
    k = torch.randn(int(cu_k[-1]), Hkv, D, generator=g).to(dt)
    v = torch.randn(int(cu_k[-1]), Hkv, D, generator=g).to(dt)
    do = torch.randn(q.shape, generator=g)
    kw = dict(causal=causal, cu_seqlens_q=cu_q, cu_seqlens_k=cu_k, max_seqlen_q=max(seqlens_q),
              max_seqlen_k=max(seqlens_k))
    if rope is not None:
        kw["rope"] = fastlm.RotaryEmbedding(**rope)
        kw["seqlen_offsets"] = torch.arange(len(seqlens_q), dtype=torch.int32) * 5
    _check(q, k, v, do, kw, kw, dtype)


def case_rope_paths(dtype, S, H, D, rope, offsets):
    """fused RoPE+attention == apply_rope (Triton) then plain attention == reference; and apply_rope's grad."""
    import fastlm
    from fastlm.kernels import reference as ref

    dt = getattr(torch, dtype)
    g = torch.Generator().manual_seed(2)
    q, k, v = (torch.randn(2, S, H, D, generator=g).to(dt) for _ in range(3))
    rot = fastlm.RotaryEmbedding(**rope)
    off = torch.tensor(offsets, dtype=torch.int32)
    fused = fastlm.attention(q, k, v, causal=True, rope=rot, seqlen_offsets=off)
    qr, kr = fastlm.apply_rope(q, rot, seqlen_offsets=off), fastlm.apply_rope(k, rot, seqlen_offsets=off)
    split = fastlm.attention(qr, kr, v, causal=True)
    cos, sin = rot.tables(4096, "cpu")
    exact = ref.apply_rope(q.double(), cos.double(), sin.double(), interleaved=rot.interleaved, pos_offsets=off)
    tol = ATOL[dtype]
    assert (qr.double() - exact).abs().max() <= 2 * (exact.to(dt).double() - exact).abs().max() + tol
    assert (fused.double() - split.double()).abs().max() <= 2 * tol, "fused rope+attention != apply_rope+attention"
    full, _ = _ref_call(q.double(), k.double(), v.double(), causal=True, rope=rot, seqlen_offsets=off)
    assert (fused.double() - full).abs().max() <= 4 * tol
    # apply_rope backward is the conjugate rotation: <R x, g> == <x, R^T g>
    x = q.detach().clone().requires_grad_()
    gy = torch.randn(q.shape, generator=g).to(dt)
    (gx,) = torch.autograd.grad(fastlm.apply_rope(x, rot, seqlen_offsets=off), x, gy)
    want = ref.apply_rope(gy.double(), cos.double(), sin.double(), interleaved=rot.interleaved, pos_offsets=off,
                          conjugate=True)
    assert (gx.double() - want).abs().max() <= 2 * tol
    # packed layout gives the same rotation per sequence
    cu = torch.tensor([0, S, 2 * S], dtype=torch.int32)
    packed = fastlm.apply_rope(q.reshape(2 * S, H, D), rot, seqlen_offsets=off, cu_seqlens=cu, max_seqlen=S)
    assert torch.equal(packed.reshape(q.shape), qr)


def case_kvcache(dtype, prompt, steps, H, Hkv, D, rope, num_splits, smax=320):
    """Prefill + token-by-token decode through the cache == one causal attention over the whole sequence."""
    import fastlm

    dt = getattr(torch, dtype)
    g = torch.Generator().manual_seed(3)
    B, total = 2, prompt + steps
    q, k, v = (torch.randn(B, total, h, D, generator=g).to(dt) for h in (H, Hkv, Hkv))
    rot = fastlm.RotaryEmbedding(**rope) if rope else None
    full = fastlm.attention(q, k, v, causal=True, rope=rot)
    kc = torch.zeros(B, smax, Hkv, D, dtype=dt)
    vc = torch.zeros(B, smax, Hkv, D, dtype=dt)
    lens = torch.zeros(B, dtype=torch.int32)
    outs = []
    for s0, s1 in [(0, prompt)] + [(t, t + 1) for t in range(prompt, total)]:
        o = fastlm.attention_with_kvcache(q[:, s0:s1], kc, vc, k_new=k[:, s0:s1], v_new=v[:, s0:s1],
                                          cache_seqlens=lens, rope=rot, num_splits=num_splits)
        outs.append(o)
        lens += s1 - s0
    dec = torch.cat(outs, 1)
    err = (dec.double() - full.double()).abs().max().item()
    assert err <= 4 * ATOL[dtype], f"decode vs full attention: {err}"
    assert torch.equal(vc[:, :total], v), "v_new was not appended in place"
    assert torch.all(kc[:, total:] == 0), "cache rows past the sequence were written"


def _serve() -> None:
    for line in sys.stdin:
        req = json.loads(line)
        try:
            globals()[req["case"]](**req["params"])
            res = {"ok": True}
        except Exception:  # the client turns this into a test failure with the traceback
            res = {"ok": False, "error": traceback.format_exc()}
        sys.stdout.write(_MARK + json.dumps(res) + "\n")
        sys.stdout.flush()


# ----------------------------------------------------------------------------------------------------------------
# Client side (the pytest process)
# ----------------------------------------------------------------------------------------------------------------
class _Worker:
    def __init__(self):
        env = dict(os.environ, TRITON_INTERPRET="1")
        self.p = subprocess.Popen([sys.executable, os.path.abspath(__file__), "--serve"], env=env, text=True,
                                  stdin=subprocess.PIPE, stdout=subprocess.PIPE)

    def run(self, case, **params):
        self.p.stdin.write(json.dumps({"case": case, "params": params}) + "\n")
        self.p.stdin.flush()
        for line in self.p.stdout:
            if line.startswith(_MARK):
                res = json.loads(line[len(_MARK):])
                if not res["ok"]:
                    pytest.fail(f"{case}({params}) failed in the interpreter worker:\n{res['error']}",
                                pytrace=False)
                return
        pytest.fail(f"interpreter worker exited (code {self.p.wait()}) during {case}({params})")

    def close(self):
        self.p.stdin.close()
        self.p.wait(timeout=60)


@pytest.fixture(scope="module")
def worker():
    pytest.importorskip("triton")
    w = _Worker()
    yield w
    w.close()


# dtype, B, Sq, Sk, H, Hkv, D, causal: seqlens 1/17/113/128/257, Sq != Sk both ways, G 1/2/4, and every kind of
# head dim: 16 (the smallest tile), powers of two, and 80, 96, 160, 192 (padded to DP = 128 / 256, lanes masked).
SHAPES = [
    ("float16", 2, 1, 1, 2, 2, 32, False),
    ("float16", 1, 17, 17, 4, 2, 64, True),
    ("float32", 1, 113, 128, 2, 1, 80, True),
    ("float16", 1, 128, 113, 4, 1, 32, True),  # Sq > Sk, causal: the first 15 rows see nothing
    ("float16", 1, 257, 257, 1, 1, 128, True),  # dK/dV: diagonal, unmasked and tail Q blocks all present
    ("float32", 2, 17, 257, 2, 2, 64, False),
    ("float16", 1, 257, 17, 2, 1, 80, True),
    ("float16", 1, 40, 40, 2, 1, 16, True),
    ("float16", 1, 33, 50, 2, 2, 96, False),
    ("float32", 1, 40, 33, 2, 1, 160, True),
    ("float16", 1, 49, 49, 2, 2, 192, True),
    ("float16", 1, 20, 36, 2, 1, 256, False),
]


@pytest.mark.parametrize("dtype,B,Sq,Sk,H,Hkv,D,causal", SHAPES)
def test_attention_interp(worker, dtype, B, Sq, Sk, H, Hkv, D, causal):
    worker.run("case_attention", dtype=dtype, B=B, Sq=Sq, Sk=Sk, H=H, Hkv=Hkv, D=D, causal=causal)


def test_strided_inputs_interp(worker):
    worker.run("case_attention", dtype="float16", B=2, Sq=33, Sk=40, H=4, Hkv=2, D=64, causal=True, strided=True)


def test_key_padding_mask_interp(worker):
    # batch row 1 masks every key: output 0, grads 0, LSE -inf, no NaN
    worker.run("case_attention", dtype="float32", B=3, Sq=20, Sk=50, H=2, Hkv=1, D=32, causal=False,
               kpm_rows=[7, -1, 50])


def test_softmax_scale_interp(worker):
    worker.run("case_attention", dtype="float32", B=1, Sq=9, Sk=30, H=2, Hkv=2, D=48, causal=True,
               softmax_scale=0.3)


@pytest.mark.parametrize("rope", [dict(dim=64), dict(dim=32, interleaved=True)], ids=["half", "interleaved"])
def test_fused_rope_interp(worker, rope):
    worker.run("case_attention", dtype="float16", B=2, Sq=30, Sk=45, H=4, Hkv=2, D=64, causal=True, rope=rope,
               seqlen_offsets=7)


def test_fused_rope_in_tile_loop_interp(worker):
    # FASTLM_ATTN_ROPE_K=tile: K (and, in the backward, Q) rotated on every tile inside the loops; partial rotary
    # on a padded head dim (R = 48 of D = 80, DP = 128)
    worker.run("case_attention", dtype="float32", B=2, Sq=21, Sk=40, H=2, Hkv=1, D=80, causal=True,
               rope=dict(dim=48), seqlen_offsets=3, rope_k="tile")


def test_varlen_interp(worker):
    worker.run("case_varlen", dtype="float16", seqlens_q=[1, 17, 0, 40], seqlens_k=[5, 17, 3, 60], H=4, Hkv=2,
               D=64, causal=True)


def test_varlen_rope_noncausal_interp(worker):
    worker.run("case_varlen", dtype="float32", seqlens_q=[33, 2], seqlens_k=[20, 9], H=2, Hkv=1, D=80,
               causal=False, rope=dict(dim=40, interleaved=True))


@pytest.mark.parametrize("rope,offsets", [(dict(dim=64), [0, 5]), (dict(dim=64, interleaved=True), [3, 0]),
                                          (dict(dim=32), [11, 2]), (dict(dim=24, interleaved=True), [0, 1])],
                         ids=["half", "interleaved", "partial-half", "partial-interleaved"])
def test_rope_paths_interp(worker, rope, offsets):
    worker.run("case_rope_paths", dtype="float32", S=19, H=2, D=64, rope=rope, offsets=offsets)


@pytest.mark.parametrize("rope,num_splits", [(None, 1), (dict(dim=32), 3)], ids=["plain", "rope-split3"])
def test_kvcache_decode_interp(worker, rope, num_splits):
    # 126 prompt tokens + 3 decoded: the keys cross the first 128-key split boundary while decoding; the cache has
    # 320 rows, so with 3 splits the last one is empty for every step
    worker.run("case_kvcache", dtype="float32", prompt=126, steps=3, H=4, Hkv=2, D=32, rope=rope,
               num_splits=num_splits)


if __name__ == "__main__" and "--serve" in sys.argv:
    _serve()
