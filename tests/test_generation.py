"""generate(): KV cache == no cache, padding side does not matter, sampling options, seeds, eos."""
import pytest

torch = pytest.importorskip("torch")

from fastlm.models import DecoderModel, EncoderDecoderModel, GenerationConfig, ModelConfig, generate  # noqa: E402
from fastlm.models.generation import process_logits  # noqa: E402

V = 89


def _decoder(position="rope", **kw):
    torch.manual_seed(0)
    cfg = ModelConfig(vocab_size=V, d_model=32, n_layers=2, n_heads=4, n_kv_heads=2, d_ff=64, max_seq_len=64,
                      position=position, initializer_range=0.4, **kw)
    return DecoderModel(cfg).eval()


def _encdec(position="relative", **kw):
    torch.manual_seed(0)
    cfg = ModelConfig(vocab_size=V, d_model=32, n_layers=2, n_heads=4, d_ff=64, max_seq_len=64,
                      position=position, initializer_range=0.4, **kw)
    return EncoderDecoderModel(cfg).eval()


def _left_pad(prompts, pad=0, right=False):
    S = max(map(len, prompts))
    ids = torch.full((len(prompts), S), pad, dtype=torch.long)
    mask = torch.zeros_like(ids)
    for i, p in enumerate(prompts):
        sl = slice(0, len(p)) if right else slice(S - len(p), S)
        ids[i, sl] = torch.tensor(p)
        mask[i, sl] = 1
    return ids, mask


PROMPTS = [[3, 4, 5, 6, 7, 8], [9, 10], [11, 12, 13, 14]]

MODELS = {
    "rope-gqa": lambda: _decoder("rope"),
    "learned-post-norm": lambda: _decoder("learned", norm="layer", norm_position="post", activation="gelu", bias=True),
    "sinusoidal": lambda: _decoder("sinusoidal", activation="geglu", tie_embeddings=False),
    "t5-style": lambda: _encdec("relative"),
    "bart-style": lambda: _encdec("learned", norm="layer", norm_position="post", bias=True, activation="gelu"),
}


@pytest.mark.parametrize("name", list(MODELS))
@pytest.mark.parametrize("sample", [False, True])
def test_kv_cache_equals_no_cache(name, sample):
    m = MODELS[name]()
    ids, mask = _left_pad(PROMPTS)
    kw = dict(max_new_tokens=12, do_sample=sample, seed=7, top_k=20, temperature=0.9)
    a = generate(m, ids, mask, use_cache=True, **kw)
    b = generate(m, ids, mask, use_cache=False, **kw)
    assert torch.equal(a, b)
    assert len(set(a[:, -12:].flatten().tolist())) > 3


def test_batched_equals_single_and_padding_side_irrelevant():
    m = _decoder("learned")
    ids, mask = _left_pad(PROMPTS)
    batched = generate(m, ids, mask, max_new_tokens=8)
    rids, rmask = _left_pad(PROMPTS, right=True)
    right = generate(m, rids, rmask, max_new_tokens=8)
    assert torch.equal(batched[:, -8:], right[:, -8:])
    for i, p in enumerate(PROMPTS):
        single = generate(m, torch.tensor([p]), max_new_tokens=8)
        assert single[0, len(p):].tolist() == batched[i, -8:].tolist()


def test_encdec_reuses_encoder_output(monkeypatch):
    m = _encdec()
    ids, mask = _left_pad(PROMPTS)
    calls = {"enc": 0}
    orig = m.encode

    def counting(*a, **k):
        calls["enc"] += 1
        return orig(*a, **k)

    monkeypatch.setattr(m, "encode", counting)
    out = generate(m, ids, mask, max_new_tokens=6)
    assert calls["enc"] == 1
    assert out.shape == (3, 7) and (out[:, 0] == m.cfg.decoder_start_token_id).all()


def test_seeded_sampling_reproducible():
    m = _decoder()
    ids, mask = _left_pad(PROMPTS)
    cfg = GenerationConfig(max_new_tokens=15, do_sample=True, temperature=1.5, seed=123)
    a, b = generate(m, ids, mask, cfg), generate(m, ids, mask, cfg)
    c = generate(m, ids, mask, cfg, seed=124)
    assert torch.equal(a, b)
    assert not torch.equal(a, c)


def test_top_k_one_is_greedy_and_eos_stops():
    m = _decoder()
    ids, mask = _left_pad(PROMPTS)
    greedy = generate(m, ids, mask, max_new_tokens=10)
    k1 = generate(m, ids, mask, max_new_tokens=10, do_sample=True, top_k=1, seed=3)
    assert torch.equal(greedy, k1)
    S = ids.shape[1]
    eos = int(greedy[0, S + 2])  # make row 0's third new token the eos
    out = generate(m, ids, mask, max_new_tokens=10, eos_token_id=eos, pad_token_id=V - 1)
    row0 = out[0, S:].tolist()
    assert row0[:3] == greedy[0, S:S + 3].tolist()
    assert all(t == V - 1 for t in row0[3:])  # pad after eos
    for r in range(3):  # rows keep greedy tokens up to and including their first eos
        new = greedy[r, S:].tolist()
        stop = new.index(eos) + 1 if eos in new else len(new)
        assert out[r, S:S + stop].tolist() == new[:stop][: out.shape[1] - S]


def test_repetition_penalty_reduces_repeats():
    m = _decoder("learned")
    ids, mask = _left_pad(PROMPTS)
    plain = generate(m, ids, mask, max_new_tokens=20)
    pen = generate(m, ids, mask, max_new_tokens=20, repetition_penalty=5.0)

    def repeats(t):
        return sum(len(r) - len(set(r)) for r in t.tolist())

    assert repeats(pen) < repeats(plain)


def test_process_logits_top_p_and_top_k():
    logits = torch.log(torch.tensor([[0.5, 0.3, 0.15, 0.05]]))
    cfg = GenerationConfig(do_sample=True, top_p=0.7)
    kept = process_logits(logits, None, cfg).isfinite()[0].tolist()
    assert kept == [True, True, False, False]  # 0.5 < 0.7, then 0.8 >= 0.7
    cfg = GenerationConfig(do_sample=True, top_k=3)
    assert process_logits(logits, None, cfg).isfinite()[0].tolist() == [True, True, True, False]
    seen = torch.tensor([[True, False, False, True]])
    x = torch.tensor([[2.0, 1.0, 0.5, -1.0]])
    out = process_logits(x, seen, GenerationConfig(repetition_penalty=2.0))
    assert out.tolist() == [[1.0, 1.0, 0.5, -2.0]]


def test_bad_options_raise():
    with pytest.raises(ValueError, match="top_p"):
        GenerationConfig(top_p=0.0)
    with pytest.raises(ValueError, match="temperature"):
        GenerationConfig(temperature=0)
    m = _decoder()
    with pytest.raises(ValueError, match="at least one real token"):
        generate(m, torch.ones(2, 3, dtype=torch.long), torch.tensor([[1, 1, 1], [0, 0, 0]]))
    with pytest.raises(TypeError):
        generate(torch.nn.Linear(2, 2), torch.ones(1, 2, dtype=torch.long))
