"""Model building blocks: config validation, padding invariance, the T5 bias fallback, KV-cache prefill/steps."""
import pytest

torch = pytest.importorskip("torch")

import fastlm  # noqa: E402
from fastlm.models import DecoderModel, EncoderDecoderModel, EncoderModel, ModelConfig  # noqa: E402
from fastlm.models.layers import _attend_with_bias  # noqa: E402

V = 61


def _cfg(**kw):
    base = dict(vocab_size=V, d_model=32, n_layers=2, n_heads=4, d_ff=48, max_seq_len=32, initializer_range=0.3)
    base.update(kw)
    return ModelConfig(**base)


def test_config_validation():
    with pytest.raises(ValueError, match="position"):
        _cfg(position="alibi")
    with pytest.raises(ValueError, match="n_kv_heads"):
        _cfg(n_kv_heads=3)
    with pytest.raises(ValueError, match="d_model"):
        _cfg(d_model=30)
    c = _cfg(norm_position="post")
    assert c.final_norm is False and c.head_dim == 8 and c.n_kv_heads == 4
    assert c.replace(n_kv_heads=2).n_kv_heads == 2


VARIANTS = [dict(), dict(position="learned", norm="layer", activation="gelu", bias=True),
            dict(position="sinusoidal", activation="relu", norm_position="post"),
            dict(position="relative", attn_scale=1.0), dict(position="none", activation="geglu", n_kv_heads=1),
            dict(rope_interleaved=True, rotary_dim=4)]


@pytest.mark.parametrize("kw", VARIANTS, ids=lambda kw: kw.get("position", "rope") + str(len(kw)))
@pytest.mark.parametrize("kind", ["decoder", "encoder"])
def test_padding_does_not_change_real_tokens(kind, kw):
    torch.manual_seed(0)
    m = (DecoderModel if kind == "decoder" else EncoderModel)(_cfg(**kw)).eval()
    ids = torch.randint(1, V, (2, 9))
    mask = torch.ones_like(ids)
    mask[1, 5:] = 0
    ids_padded = ids.clone()
    ids_padded[1, 5:] = 0
    with torch.no_grad():
        batch = m(ids_padded, mask)
        alone = m(ids[1:, :5])
        other = m(ids[1:, :5], torch.ones(1, 5, dtype=torch.long))
    torch.testing.assert_close(batch[1, :5], alone[0], atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(other, alone, atol=1e-5, rtol=1e-5)


def test_bias_fallback_matches_fastlm_attention():
    g = torch.Generator().manual_seed(0)
    q = torch.randn(2, 5, 4, 8, generator=g)
    k = torch.randn(2, 7, 2, 8, generator=g)
    v = torch.randn(2, 7, 2, 8, generator=g)
    kpm = torch.ones(2, 7, dtype=torch.bool)
    kpm[1, 4:] = False
    for causal in (False, True):
        ref = fastlm.attention(q, k, v, causal=causal, key_padding_mask=kpm)
        out = _attend_with_bias(q, k, v, torch.zeros(1, 1, 1, 1), causal=causal, scale=None, key_padding_mask=kpm)
        torch.testing.assert_close(out, ref, atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("kw", [dict(), dict(position="learned"), dict(position="relative")])
def test_cache_steps_match_full_forward(kw):
    torch.manual_seed(0)
    m = DecoderModel(_cfg(**kw)).eval()
    ids = torch.randint(1, V, (2, 10))
    with torch.no_grad():
        full = m(ids)
        cache = m.new_cache(2, 16)
        pre = m(ids[:, :6], cache=cache)
        cache.seqlens += 6
        steps = [pre]
        for t in range(6, 10):
            steps.append(m(ids[:, t:t + 1], cache=cache))
            cache.seqlens += 1
    torch.testing.assert_close(torch.cat(steps, 1), full, atol=1e-5, rtol=1e-5)


def test_cross_attention_lengths_and_shared_weights():
    torch.manual_seed(0)
    m = EncoderDecoderModel(_cfg(position="relative", n_decoder_layers=1)).eval()
    assert m.lm_head.out.weight is m.tokens.weight is m.encoder.embed.tokens.weight
    src = torch.randint(1, V, (3, 11))
    tgt = torch.randint(1, V, (3, 4))
    mask = torch.ones_like(src)
    mask[2, 6:] = 0
    out = m(src, mask, tgt)
    assert out.shape == (3, 4, V)
    src2 = src.clone()
    src2[2, 6:] = 7  # garbage in padded encoder positions must not matter
    torch.testing.assert_close(m(src2, mask, tgt), out)
    enc = EncoderModel(_cfg())
    mlm = enc.for_masked_lm()
    assert mlm.encoder is enc and mlm.lm_head.out.weight is enc.body.embed.tokens.weight


def test_too_long_input_raises():
    m = DecoderModel(_cfg(position="learned"))
    with pytest.raises(ValueError, match="max_seq_len"):
        m(torch.zeros(1, 40, dtype=torch.long))
