"""fastlm.attention on CPU (the PyTorch reference path): semantics, edge cases, validation, torch.compile.

The Triton kernels themselves are tested in test_attention_interp.py (interpreter) and test_attention_gpu.py.
Shapes: B batch, Sq/Sk tokens, H/Hkv heads, D head dim.
"""
import pytest

torch = pytest.importorskip("torch")
import torch.nn.functional as F  # noqa: E402

import fastlm  # noqa: E402
from fastlm.kernels import reference as ref  # noqa: E402


def _sdpa(q, k, v, *, causal, kpm=None, scale=None):
    """torch SDPA with an explicit bottom-right causal mask; (B, S, H, D) layout; GQA by repeating heads."""
    B, Sq, H, D = q.shape
    Sk, Hkv = k.shape[1], k.shape[2]
    k, v = k.repeat_interleave(H // Hkv, 2), v.repeat_interleave(H // Hkv, 2)
    keep = torch.ones(B, 1, Sq, Sk, dtype=torch.bool)
    if causal:
        keep &= torch.ones(Sq, Sk, dtype=torch.bool).tril(Sk - Sq)
    if kpm is not None:
        keep &= kpm[:, None, None, :]
    o = F.scaled_dot_product_attention(q.transpose(1, 2), k.transpose(1, 2), v.transpose(1, 2), attn_mask=keep,
                                       scale=scale)
    return o.transpose(1, 2)


def _qkv(B, Sq, Sk, H, Hkv, D, dtype=torch.float64, seed=0):
    g = torch.Generator().manual_seed(seed)
    return [torch.randn(B, s, h, D, generator=g, dtype=dtype).requires_grad_() for s, h in
            ((Sq, H), (Sk, Hkv), (Sk, Hkv))]


@pytest.mark.parametrize("Sq,Sk,H,Hkv,causal", [(17, 17, 4, 4, True), (5, 23, 4, 2, True), (23, 23, 4, 1, False),
                                                (9, 30, 2, 2, False)])
def test_matches_sdpa(Sq, Sk, H, Hkv, causal):
    q, k, v = _qkv(2, Sq, Sk, H, Hkv, 32)
    out = fastlm.attention(q, k, v, causal=causal)
    want = _sdpa(q, k, v, causal=causal)
    torch.testing.assert_close(out, want)
    g = torch.randn_like(out)
    got_g = torch.autograd.grad(out, (q, k, v), g)
    want_g = torch.autograd.grad(want, (q, k, v), g)
    for a, b in zip(got_g, want_g):
        torch.testing.assert_close(a, b)


def test_causal_is_bottom_right():
    # one query over 4 keys: bottom-right alignment lets it see all keys (top-left would see only key 0)
    q, k, v = _qkv(1, 1, 4, 1, 1, 16)
    out = fastlm.attention(q, k, v, causal=True)
    torch.testing.assert_close(out, fastlm.attention(q, k, v, causal=False))
    assert not torch.allclose(out, v[:, :1])


def test_reference_backward_matches_autograd():
    """The analytic backward used on CPU equals autograd through the reference forward (GQA, RoPE, mask)."""
    q, k, v = _qkv(2, 12, 19, 4, 2, 24, seed=1)
    rot = fastlm.RotaryEmbedding(16, interleaved=True)
    kpm = torch.rand(2, 19, generator=torch.Generator().manual_seed(0)) > 0.3
    kw = dict(causal=True, rope=rot, seqlen_offsets=torch.tensor([2, 7]), key_padding_mask=kpm)
    out = fastlm.attention(q, k, v, **kw)
    g = torch.randn_like(out)
    got = torch.autograd.grad(out, (q, k, v), g)
    cos, sin = rot.tables(64, "cpu")
    want_out, _ = ref.attention(q, k, v, causal=True, rope=(cos.double(), sin.double(), True),
                                rope_q_offsets=torch.tensor([9, 14]), rope_k_offsets=torch.tensor([2, 7]),
                                key_padding_mask=kpm)
    torch.testing.assert_close(out, want_out)
    want = torch.autograd.grad(want_out, (q, k, v), g)
    for a, b in zip(got, want):
        torch.testing.assert_close(a, b)


def test_varlen_equals_per_sequence():
    lens_q, lens_k = [3, 0, 11], [5, 4, 11]
    g = torch.Generator().manual_seed(2)
    qs = [torch.randn(n, 4, 32, generator=g, dtype=torch.float64) for n in lens_q]
    ks = [torch.randn(n, 2, 32, generator=g, dtype=torch.float64) for n in lens_k]
    vs = [torch.randn(n, 2, 32, generator=g, dtype=torch.float64) for n in lens_k]
    cu_q = torch.tensor([0, 3, 3, 14], dtype=torch.int32)
    cu_k = torch.tensor([0, 5, 9, 20], dtype=torch.int32)
    out, lse = fastlm.attention(torch.cat(qs), torch.cat(ks), torch.cat(vs), causal=True, cu_seqlens_q=cu_q,
                                cu_seqlens_k=cu_k, return_lse=True)
    assert lse.shape == (4, 14)
    for b in range(3):
        if lens_q[b] == 0:
            continue
        o, ls = fastlm.attention(qs[b][None], ks[b][None], vs[b][None], causal=True, return_lse=True)
        torch.testing.assert_close(out[cu_q[b]:cu_q[b + 1]], o[0])
        torch.testing.assert_close(lse[:, cu_q[b]:cu_q[b + 1]], ls[0])


def test_lse_is_logsumexp_of_scores():
    q, k, v = _qkv(1, 6, 9, 2, 2, 16)
    _, lse = fastlm.attention(q, k, v, softmax_scale=0.5, return_lse=True)
    s = torch.einsum("bqhd,bkhd->bhqk", q, k) * 0.5
    torch.testing.assert_close(lse, torch.logsumexp(s, -1).float())


def test_fully_masked_rows_give_zero_and_zero_grad():
    q, k, v = _qkv(2, 8, 5, 2, 1, 16)
    kpm = torch.ones(2, 5, dtype=torch.bool)
    kpm[1] = False  # batch row 1 sees nothing
    out, lse = fastlm.attention(q, k, v, causal=True, key_padding_mask=kpm, return_lse=True)
    # causal with Sq=8 > Sk=5: queries 0..2 see no key either
    assert torch.all(out[1] == 0) and torch.all(out[0, :3] == 0)
    assert torch.all(torch.isneginf(lse[1])) and torch.all(torch.isneginf(lse[0, :, :3]))
    assert torch.isfinite(lse[0, :, 3:]).all()
    dq, dk, dv = torch.autograd.grad(out.sum(), (q, k, v))
    for t in (dq, dk, dv):
        assert not torch.isnan(t).any()
    assert torch.all(dq[1] == 0) and torch.all(dq[0, :3] == 0) and torch.all(dk[1] == 0) and torch.all(dv[1] == 0)
    assert dq[0, 3:].abs().sum() > 0


@pytest.mark.parametrize("B,Sq,Sk", [(0, 4, 4), (2, 0, 4), (2, 4, 0)])
def test_empty_shapes(B, Sq, Sk):
    q, k, v = _qkv(B, Sq, Sk, 2, 2, 16)
    out, lse = fastlm.attention(q, k, v, return_lse=True)
    assert out.shape == q.shape and lse.shape == (B, 2, Sq)
    assert torch.all(out == 0) and torch.all(torch.isneginf(lse))
    grads = torch.autograd.grad(out.sum(), (q, k, v), allow_unused=True)
    assert all(g is None or torch.all(g == 0) for g in grads)


def test_dtypes_preserved():
    for dt in (torch.float16, torch.bfloat16, torch.float32):
        q, k, v = (t.detach().to(dt) for t in _qkv(1, 5, 5, 2, 2, 16))
        out, lse = fastlm.attention(q, k, v, causal=True, return_lse=True)
        assert out.dtype == dt and lse.dtype == torch.float32
        torch.testing.assert_close(out.double(), _sdpa(q.double(), k.double(), v.double(), causal=True),
                                   atol=2e-2, rtol=2e-2)


def _bad(**over):
    q, k, v = (t.detach() for t in _qkv(2, 5, 7, 4, 2, 16, dtype=torch.float32))
    kw = dict(q=q, k=k, v=v)
    kw.update(over)
    return kw


@pytest.mark.parametrize("kw,match", [
    (_bad(k=torch.randn(2, 7, 2, 16, dtype=torch.float16)), "dtype"),
    (_bad(q=torch.ones(2, 5, 4, 16, dtype=torch.int32)), "float16, bfloat16 or float32"),
    (_bad(q=torch.randn(5, 4, 16)), r"\(batch, seqlen_q, heads, head_dim\)"),
    (_bad(q=torch.randn(3, 5, 4, 16)), "batch mismatch"),
    (_bad(q=torch.randn(2, 5, 3, 16)), "multiple of the 2 key/value heads"),
    (_bad(v=torch.randn(2, 7, 2, 8)), "head_dim mismatch"),
    (_bad(v=torch.randn(2, 6, 2, 16)), "seqlen"),
    (_bad(q=torch.randn(2, 5, 4, 512), k=torch.randn(2, 7, 2, 512), v=torch.randn(2, 7, 2, 512)), "between 1 and"),
    (_bad(key_padding_mask=torch.ones(2, 5, dtype=torch.bool)), r"\(batch, seqlen_k\)"),
    (_bad(key_padding_mask=torch.ones(2, 7)), "bool"),
    (_bad(cu_seqlens_q=torch.tensor([0, 5], dtype=torch.int32)), "both cu_seqlens_q and cu_seqlens_k"),
    (_bad(cu_seqlens_q=torch.tensor([0, 5]), cu_seqlens_k=torch.tensor([0, 7])), r"\(total_q, heads, head_dim\)"),
    (_bad(softmax_scale="x"), "softmax_scale"),
    (_bad(causal=1), "causal must be a bool"),
    (_bad(rope=fastlm.RotaryEmbedding(32)), "rotary dim 32 is larger than head_dim 16"),
    (_bad(rope=fastlm.RotaryEmbedding(16), seqlen_offsets=torch.tensor([1, 2, 3])), "seqlen_offsets"),
    (_bad(rope=fastlm.RotaryEmbedding(16), seqlen_offsets=-1), ">= 0"),
    (_bad(rope="rope"), "RotaryEmbedding"),
], ids=lambda x: x if isinstance(x, str) else "")
def test_bad_input_raises_value_error(kw, match):
    with pytest.raises(ValueError, match=match):
        fastlm.attention(kw.pop("q"), kw.pop("k"), kw.pop("v"), **kw)


def test_device_mismatch_message():
    q, k, v = (t.detach().float() for t in _qkv(1, 3, 3, 2, 2, 16))
    with pytest.raises(ValueError, match="meta"):
        fastlm.attention(q, k.to("meta"), v)


class _TinyBlock(torch.nn.Module):
    def __init__(self, dim=32, heads=4, kv_heads=2):
        super().__init__()
        self.h, self.kvh, self.d = heads, kv_heads, dim // heads
        self.q = torch.nn.Linear(dim, dim)
        self.kv = torch.nn.Linear(dim, 2 * kv_heads * self.d)
        self.o = torch.nn.Linear(dim, dim)
        self.rope = fastlm.RotaryEmbedding(self.d)

    def forward(self, x):
        B, S, _ = x.shape
        q = self.q(x).view(B, S, self.h, self.d)  # (B, S, H, D)
        k, v = self.kv(x).view(B, S, 2, self.kvh, self.d).unbind(2)  # (B, S, Hkv, D) each
        y = fastlm.attention(q, k, v, causal=True, rope=self.rope)
        return self.o(y.reshape(B, S, -1))


def test_torch_compile_fullgraph_cpu():
    torch.manual_seed(0)
    m = _TinyBlock()
    x = torch.randn(2, 11, 32)
    want = m(x)
    cm = torch.compile(m, fullgraph=True)
    got = cm(x)
    torch.testing.assert_close(got, want, atol=1e-5, rtol=1e-5)
    got.sum().backward()
    g_compiled = m.q.weight.grad.clone()
    m.zero_grad()
    m(x).sum().backward()
    torch.testing.assert_close(g_compiled, m.q.weight.grad, atol=1e-5, rtol=1e-5)


def test_public_names_reexported():
    import fastlm.ops as ops

    for name in ops.__all__:
        assert getattr(fastlm, name) is getattr(ops, name)
