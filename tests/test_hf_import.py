"""from_hf: tiny randomly initialized transformers models (built from configs, nothing downloaded) imported into
fastlm give the same logits (fp32, 1e-4, padded batches included) and the same greedy generations."""
import pytest

torch = pytest.importorskip("torch")
T = pytest.importorskip("transformers")

from fastlm.models import DecoderModel, EncoderDecoderModel, EncoderModel, MaskedLMModel, from_hf, generate  # noqa: E402

V = 101
T.logging.set_verbosity_error()


def _gpt2():
    return T.GPT2LMHeadModel(T.GPT2Config(vocab_size=V, n_embd=32, n_layer=2, n_head=4, n_positions=64,
                                          initializer_range=0.3, bos_token_id=None, eos_token_id=None))


def _llama():
    return T.LlamaForCausalLM(T.LlamaConfig(vocab_size=V, hidden_size=48, intermediate_size=80, num_hidden_layers=2,
                                            num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=64,
                                            rope_theta=500.0, initializer_range=0.3, bos_token_id=None,
                                            eos_token_id=None, pad_token_id=None))


def _bert():
    return T.BertForMaskedLM(T.BertConfig(vocab_size=V, hidden_size=32, num_hidden_layers=2, num_attention_heads=4,
                                          intermediate_size=64, max_position_embeddings=64, initializer_range=0.2))


def _roformer():
    return T.RoFormerForMaskedLM(T.RoFormerConfig(vocab_size=V, hidden_size=32, embedding_size=32,
                                                  num_hidden_layers=2, num_attention_heads=4, intermediate_size=64,
                                                  max_position_embeddings=64, initializer_range=0.2))


def _bart():
    return T.BartForConditionalGeneration(T.BartConfig(
        vocab_size=V, d_model=32, encoder_layers=2, decoder_layers=1, encoder_attention_heads=4,
        decoder_attention_heads=4, encoder_ffn_dim=64, decoder_ffn_dim=64, max_position_embeddings=64, init_std=0.3,
        eos_token_id=None, forced_eos_token_id=None, forced_bos_token_id=None, scale_embedding=True))


def _t5():
    return T.T5ForConditionalGeneration(T.T5Config(vocab_size=V, d_model=32, d_kv=8, d_ff=64, num_layers=3,
                                                   num_decoder_layers=2, num_heads=4, eos_token_id=None,
                                                   decoder_start_token_id=0, initializer_factor=2.0))


def _t5_gated():
    return T.T5ForConditionalGeneration(T.T5Config(vocab_size=V, d_model=32, d_kv=16, d_ff=64, num_layers=2,
                                                   num_heads=2, feed_forward_proj="gated-gelu",
                                                   tie_word_embeddings=False, eos_token_id=None,
                                                   decoder_start_token_id=0, initializer_factor=1.0))


FAMILIES = {"gpt2": (_gpt2, DecoderModel), "llama": (_llama, DecoderModel), "bert": (_bert, MaskedLMModel),
            "roformer": (_roformer, MaskedLMModel), "bart": (_bart, EncoderDecoderModel),
            "t5": (_t5, EncoderDecoderModel), "t5_gated": (_t5_gated, EncoderDecoderModel)}


def _build(name):
    torch.manual_seed(1234)
    make, cls = FAMILIES[name]
    hf = make().eval()
    m = from_hf(hf)
    assert type(m) is cls
    return hf, m


def _batch(B=3, S=13, seed=0):
    g = torch.Generator().manual_seed(seed)
    ids = torch.randint(3, V, (B, S), generator=g)
    mask = torch.ones(B, S, dtype=torch.long)
    mask[1, 9:] = 0  # right padding
    mask[2, 4:] = 0
    return ids, mask


@pytest.mark.parametrize("name", list(FAMILIES))
def test_logits_match_on_padded_batch(name):
    hf, m = _build(name)
    ids, mask = _batch()
    with torch.no_grad():
        if issubclass(FAMILIES[name][1], EncoderDecoderModel):
            dec = torch.randint(3, V, (3, 7), generator=torch.Generator().manual_seed(1))
            dmask = torch.ones_like(dec)
            dmask[2, 5:] = 0
            ref = hf(input_ids=ids, attention_mask=mask, decoder_input_ids=dec, decoder_attention_mask=dmask).logits
            out = m(ids, mask, dec, dmask)
            keep = dmask.bool()
        else:
            ref = hf(input_ids=ids, attention_mask=mask).logits
            out = m(ids, mask)
            keep = mask.bool()
    assert out.shape == ref.shape
    assert ref.abs().max() > 0.1  # the models are not degenerate
    torch.testing.assert_close(out[keep], ref[keep], atol=1e-4, rtol=1e-4)


@pytest.mark.parametrize("name", ["bert", "roformer"])
def test_token_types_and_bare_encoder(name):
    hf, m = _build(name)
    ids, mask = _batch(seed=3)
    tt = torch.zeros_like(ids)
    tt[:, 6:] = 1
    with torch.no_grad():
        ref = hf(input_ids=ids, attention_mask=mask, token_type_ids=tt).logits
        out = m(ids, mask, tt)
        keep = mask.bool()
        torch.testing.assert_close(out[keep], ref[keep], atol=1e-4, rtol=1e-4)
        base = getattr(hf, name)  # BertModel / RoFormerModel without the MLM head
        enc = from_hf(base)
        assert type(enc) is EncoderModel
        h_ref = base(input_ids=ids, attention_mask=mask).last_hidden_state
        torch.testing.assert_close(enc(ids, mask)[keep], h_ref[keep], atol=1e-4, rtol=1e-4)


def _left_pad(prompts, pad=0):
    S = max(map(len, prompts))
    ids = torch.full((len(prompts), S), pad, dtype=torch.long)
    mask = torch.zeros_like(ids)
    for i, p in enumerate(prompts):
        ids[i, S - len(p):] = torch.tensor(p)
        mask[i, S - len(p):] = 1
    return ids, mask


@pytest.mark.parametrize("name", ["gpt2", "llama", "bart", "t5"])
def test_greedy_generation_identical(name):
    hf, m = _build(name)
    prompts = [[5, 6, 7, 8, 9, 10, 11], [12, 13, 14], [20]]
    ids, mask = _left_pad(prompts)
    N = 10
    out = generate(m, ids, mask, max_new_tokens=N)
    encdec = isinstance(m, EncoderDecoderModel)
    distinct = set()
    for i, p in enumerate(prompts):  # the reference: HF on each prompt alone, no padding involved
        ref = hf.generate(torch.tensor([p]), attention_mask=torch.ones(1, len(p), dtype=torch.long),
                          max_new_tokens=N, min_new_tokens=N, do_sample=False)[0]
        ref_new = ref if encdec else ref[len(p):]
        mine = out[i] if encdec else out[i, ids.shape[1]:]
        assert mine.tolist() == ref_new.tolist()
        distinct |= set(mine.tolist())
    assert len(distinct) > 2  # a real sequence, not one token repeated everywhere
    if not encdec:
        assert torch.equal(out[:, :ids.shape[1]], ids)  # the prompt comes back as given


def test_unsupported_models_raise():
    cfg = T.GPT2Config(vocab_size=V, n_embd=16, n_layer=1, n_head=2, scale_attn_by_inverse_layer_idx=True)
    with pytest.raises(ValueError, match="GPT-2"):
        from_hf(T.GPT2LMHeadModel(cfg))
    with pytest.raises(ValueError, match="not supported"):
        from_hf(T.OPTForCausalLM(T.OPTConfig(vocab_size=V, hidden_size=16, num_hidden_layers=1,
                                             num_attention_heads=2, ffn_dim=32, word_embed_proj_dim=16)))
