"""fastlm.attention_with_kvcache on CPU: decoding token by token through the cache equals full causal attention.
Shapes: B batch, S tokens, H/Hkv heads, D head dim, Smax cache rows."""
import pytest

torch = pytest.importorskip("torch")
import fastlm  # noqa: E402


@pytest.mark.parametrize("rope", [None, dict(dim=16), dict(dim=8, interleaved=True)])
@pytest.mark.parametrize("Hkv", [1, 4])
def test_decode_equals_full_attention(rope, Hkv):
    g = torch.Generator().manual_seed(0)
    B, T, H, D, prompt = 2, 12, 4, 16, 5
    q = torch.randn(B, T, H, D, generator=g, dtype=torch.float64)
    k, v = (torch.randn(B, T, Hkv, D, generator=g, dtype=torch.float64) for _ in range(2))
    rot = fastlm.RotaryEmbedding(**rope) if rope else None
    full = fastlm.attention(q, k, v, causal=True, rope=rot)
    kc, vc = torch.zeros(B, 20, Hkv, D, dtype=torch.float64), torch.zeros(B, 20, Hkv, D, dtype=torch.float64)
    lens = torch.zeros(B, dtype=torch.int32)
    outs = []
    for s0, s1 in [(0, prompt)] + [(t, t + 1) for t in range(prompt, T)]:
        outs.append(fastlm.attention_with_kvcache(q[:, s0:s1], kc, vc, k_new=k[:, s0:s1], v_new=v[:, s0:s1],
                                                  cache_seqlens=lens, rope=rot))
        lens += s1 - s0
    torch.testing.assert_close(torch.cat(outs, 1), full)
    torch.testing.assert_close(vc[:, :T], v)
    if rot is not None:  # the cache holds rotated keys
        torch.testing.assert_close(kc[:, :T], fastlm.apply_rope(k, rot))
    assert torch.all(kc[:, T:] == 0)


def test_ragged_cache_lengths_without_new_tokens():
    g = torch.Generator().manual_seed(1)
    kc, vc = (torch.randn(2, 9, 2, 16, generator=g) for _ in range(2))
    q = torch.randn(2, 1, 2, 16, generator=g)
    out = fastlm.attention_with_kvcache(q, kc, vc, cache_seqlens=torch.tensor([3, 9], dtype=torch.int32))
    for b, n in enumerate((3, 9)):
        torch.testing.assert_close(out[b:b + 1], fastlm.attention(q[b:b + 1], kc[b:b + 1, :n], vc[b:b + 1, :n]))


def test_kvcache_errors():
    kc = torch.zeros(1, 4, 2, 16)
    q = torch.zeros(1, 1, 2, 16)
    with pytest.raises(ValueError, match="cache holds 4 positions"):
        fastlm.attention_with_kvcache(q, kc, kc.clone(), k_new=torch.zeros(1, 2, 2, 16),
                                      v_new=torch.zeros(1, 2, 2, 16), cache_seqlens=3)
    with pytest.raises(ValueError, match="both k_new and v_new"):
        fastlm.attention_with_kvcache(q, kc, kc.clone(), k_new=torch.zeros(1, 1, 2, 16), cache_seqlens=0)
    with pytest.raises(ValueError, match="k_new and v_new must be"):
        fastlm.attention_with_kvcache(q, kc, kc.clone(), k_new=torch.zeros(1, 1, 1, 16),
                                      v_new=torch.zeros(1, 1, 1, 16), cache_seqlens=0)
    with pytest.raises(ValueError, match="cache_seqlens"):
        fastlm.attention_with_kvcache(q, kc, kc.clone(), cache_seqlens=torch.tensor([1, 2]))
