"""RoPE conventions on CPU: fastlm.apply_rope / RotaryEmbedding against textbook formulas, and fused RoPE inside
fastlm.attention == apply_rope followed by plain attention. Shapes: B batch, S tokens, H heads, D head dim."""
import pytest

torch = pytest.importorskip("torch")
import fastlm  # noqa: E402


def _neox(x, pos, dim, base=10000.0):
    """Llama/GPT-NeoX rotate_half convention on the first `dim` features. x (B, S, H, D), pos (B, S)."""
    inv = base ** (-torch.arange(0, dim, 2, dtype=torch.float64) / dim)
    ang = pos[..., None].double() * inv  # (B, S, dim/2)
    cos = torch.cat((ang.cos(), ang.cos()), -1)[:, :, None]  # (B, S, 1, dim)
    sin = torch.cat((ang.sin(), ang.sin()), -1)[:, :, None]
    xr, rest = x[..., :dim], x[..., dim:]
    x1, x2 = xr[..., : dim // 2], xr[..., dim // 2:]
    rot = torch.cat((-x2, x1), -1)
    return torch.cat((xr * cos + rot * sin, rest), -1)


def _gptj(x, pos, dim, base=10000.0):
    """GPT-J convention: pairs (2i, 2i+1) as complex numbers, multiplied by exp(i * pos * freq)."""
    inv = base ** (-torch.arange(0, dim, 2, dtype=torch.float64) / dim)
    ang = pos[..., None].double() * inv  # (B, S, dim/2)
    z = torch.view_as_complex(x[..., :dim].reshape(*x.shape[:-1], dim // 2, 2).contiguous())
    z = z * torch.polar(torch.ones_like(ang), ang)[:, :, None]  # (B, S, H, dim/2)
    return torch.cat((torch.view_as_real(z).flatten(-2), x[..., dim:]), -1)


def _x(seed=0, B=2, S=13, H=3, D=32):
    return torch.randn(B, S, H, D, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)


@pytest.mark.parametrize("dim", [32, 16])
@pytest.mark.parametrize("interleaved", [False, True])
def test_apply_rope_matches_published_conventions(dim, interleaved):
    x = _x()
    off = torch.tensor([0, 9])
    pos = off[:, None] + torch.arange(13)[None]
    got = fastlm.apply_rope(x, fastlm.RotaryEmbedding(dim, interleaved=interleaved), seqlen_offsets=off)
    want = (_gptj if interleaved else _neox)(x, pos, dim)
    torch.testing.assert_close(got, want, atol=1e-6, rtol=1e-6)  # tables are float32
    assert torch.equal(got[..., dim:], x[..., dim:])


def test_scaling_and_explicit_tables():
    x = _x(1)
    lin = fastlm.RotaryEmbedding(32, scaling={"type": "linear", "factor": 4.0})
    torch.testing.assert_close(fastlm.apply_rope(x, lin), _neox(x, torch.arange(13)[None].expand(2, 13) / 4.0, 32),
                               atol=1e-6, rtol=1e-6)
    ntk = fastlm.RotaryEmbedding(32, scaling={"type": "ntk", "factor": 2.0})
    torch.testing.assert_close(fastlm.apply_rope(x, ntk),
                               _neox(x, torch.arange(13)[None].expand(2, 13), 32, base=10000.0 * 2 ** (32 / 30)),
                               atol=1e-6, rtol=1e-6)
    cos, sin = fastlm.RotaryEmbedding(32).tables(20, "cpu")
    torch.testing.assert_close(fastlm.apply_rope(x, (cos, sin)), fastlm.apply_rope(x, fastlm.RotaryEmbedding(32)))
    with pytest.raises(ValueError, match="positions"):
        fastlm.apply_rope(x, (cos[:5], sin[:5]))
    with pytest.raises(ValueError, match="scaling"):
        fastlm.RotaryEmbedding(32, scaling={"type": "yarn", "factor": 2})
    with pytest.raises(ValueError, match="even"):
        fastlm.RotaryEmbedding(15)


def test_apply_rope_grad_is_conjugate_rotation():
    x = _x(2).requires_grad_()
    rot = fastlm.RotaryEmbedding(24, interleaved=True)
    y = fastlm.apply_rope(x, rot, seqlen_offsets=3)
    g = _x(3)
    (gx,) = torch.autograd.grad(y, x, g)
    # rotation is orthogonal: the gradient is the inverse rotation, and norms are preserved
    torch.testing.assert_close((gx * x).sum(), (g * y).sum())
    torch.testing.assert_close(gx.norm(), g.norm())
    assert torch.autograd.gradcheck(lambda t: fastlm.apply_rope(t, rot, seqlen_offsets=3), (x[:1, :4],))


@pytest.mark.parametrize("rope", [dict(dim=32), dict(dim=32, interleaved=True), dict(dim=16),
                                  dict(dim=8, interleaved=True)])
@pytest.mark.parametrize("offsets", [0, 5, "tensor"])
def test_fused_rope_equals_rope_then_attention(rope, offsets):
    g = torch.Generator().manual_seed(4)
    q = torch.randn(2, 7, 4, 32, generator=g, dtype=torch.float64, requires_grad=True)
    k = torch.randn(2, 7, 2, 32, generator=g, dtype=torch.float64, requires_grad=True)
    v = torch.randn(2, 7, 2, 32, generator=g, dtype=torch.float64, requires_grad=True)
    rot = fastlm.RotaryEmbedding(**rope)
    off = torch.tensor([3, 11]) if offsets == "tensor" else offsets
    fused = fastlm.attention(q, k, v, causal=True, rope=rot, seqlen_offsets=off)
    split = fastlm.attention(fastlm.apply_rope(q, rot, seqlen_offsets=off),
                             fastlm.apply_rope(k, rot, seqlen_offsets=off), v, causal=True)
    torch.testing.assert_close(fused, split)
    gf = torch.autograd.grad(fused.sum(), (q, k, v))
    gs = torch.autograd.grad(split.sum(), (q, k, v))
    for a, b in zip(gf, gs):
        torch.testing.assert_close(a, b)
    # RoPE makes attention depend on relative positions only: shifting every position changes nothing
    shifted = fastlm.attention(q, k, v, causal=True, rope=rot, seqlen_offsets=(off + 17) if offsets == "tensor"
                               else off + 17)
    torch.testing.assert_close(fused, shifted)


def test_queries_align_with_the_end_of_the_keys():
    """Sq < Sk: query i sits at position Sk - Sq + i, so attending the last 3 queries equals the last 3 rows."""
    g = torch.Generator().manual_seed(5)
    q, k, v = (torch.randn(1, 10, 2, 16, generator=g, dtype=torch.float64) for _ in range(3))
    rot = fastlm.RotaryEmbedding(16)
    full = fastlm.attention(q, k, v, causal=True, rope=rot)
    tail = fastlm.attention(q[:, 7:], k, v, causal=True, rope=rot)
    torch.testing.assert_close(tail, full[:, 7:])
