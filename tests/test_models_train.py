"""Training: a decoder (CLM), an encoder (MLM) and an encoder-decoder (T5 span corruption), tiny models on shared
text with a fastlm-trained BPE tokenizer; each loss must fall clearly within a few hundred CPU steps."""
import os
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")

import fastlm  # noqa: E402
from fastlm.models import DecoderModel, EncoderDecoderModel, EncoderModel, ModelConfig  # noqa: E402
from fastlm.models import objectives as O  # noqa: E402

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"
TEXT = DATA / "text" / "en_tinyshakespeare.txt"
SPECIALS = ["<pad>", "<eos>", "<mask>"] + [f"<extra_id_{i}>" for i in range(32)]


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    # On a shared 2-core machine, torch's OpenMP threads spin against other processes and a step can take 10x
    # longer; these tiny models gain nothing from a second thread.
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


@pytest.fixture(scope="module")
def corpus():
    if not TEXT.exists():
        if os.environ.get("CI") == "true":
            pytest.fail(f"shared data file missing: {TEXT}")
        pytest.skip(f"shared data file missing: {TEXT}")
    text = TEXT.read_text(encoding="utf-8")[:400_000]
    tok = fastlm.train("bpe", [text], vocab_size=512, special_tokens=SPECIALS, progress=False)
    ids = torch.tensor(tok.encode_ordinary(text), dtype=torch.long)
    return tok, ids


def _batches(ids, B, S, steps, seed):
    g = torch.Generator().manual_seed(seed)
    for _ in range(steps):
        start = torch.randint(0, len(ids) - S - 1, (B,), generator=g)
        yield torch.stack([ids[s:s + S] for s in start.tolist()])


def _train(model, loss_fn, batches, lr=3e-3):
    opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=0.0)
    losses = []
    model.train()
    for batch in batches:
        loss = loss_fn(batch)
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        losses.append(loss.item())
    first, last = sum(losses[:10]) / 10, sum(losses[-10:]) / 10
    return first, last


def _cfg(tok, **kw):
    base = dict(vocab_size=tok.vocab_size, d_model=64, n_layers=2, n_heads=4, d_ff=128, max_seq_len=128,
                pad_token_id=tok.token_to_id("<pad>"))
    base.update(kw)
    return ModelConfig(**base)


def test_decoder_clm_loss_falls(corpus):
    tok, ids = corpus
    torch.manual_seed(0)
    model = DecoderModel(_cfg(tok, n_kv_heads=2))  # Llama-style: rope, rms, swiglu, GQA

    def loss_fn(x):
        mask = torch.ones_like(x)
        mask[0, 40:] = 0  # one right-padded row: padding must be ignored
        return O.clm_loss(model(x, mask), x, mask)

    first, last = _train(model, loss_fn, _batches(ids, 16, 64, 200, seed=1))
    assert first > 5.5 and last < first - 1.5, (first, last)


def test_encoder_mlm_loss_falls(corpus):
    tok, ids = corpus
    torch.manual_seed(0)
    cfg = _cfg(tok, position="learned", norm="layer", activation="gelu", bias=True, embedding_norm=True,
               mlm_transform=True, lm_head_bias=True)
    model = EncoderModel(cfg).for_masked_lm()
    g = torch.Generator().manual_seed(2)
    mask_id = tok.token_to_id("<mask>")

    def loss_fn(x):
        word_ids = torch.tensor([O.word_ids_from_tokens(tok, row) for row in x.tolist()])
        inputs, labels = O.mask_tokens(x, mask_token_id=mask_id, vocab_size=cfg.vocab_size, word_ids=word_ids,
                                       special_ids=[tok.token_to_id(s) for s in SPECIALS], generator=g)
        return O.token_cross_entropy(model(inputs), labels)

    first, last = _train(model, loss_fn, _batches(ids, 16, 64, 200, seed=3))
    counts = torch.bincount(ids, minlength=cfg.vocab_size).float()
    p = counts[counts > 0] / counts.sum()
    unigram = -(p * p.log()).sum().item()  # the best loss without looking at the context
    assert last < first - 0.6 and last < unigram, (first, last, unigram)


def test_encoder_decoder_span_corruption_loss_falls(corpus):
    tok, ids = corpus
    torch.manual_seed(0)
    pad, eos = tok.token_to_id("<pad>"), tok.token_to_id("<eos>")
    cfg = _cfg(tok, position="relative", relative_buckets=16, relative_max_distance=64, attn_scale=1.0,
               n_decoder_layers=1, decoder_start_token_id=pad)
    model = EncoderDecoderModel(cfg)
    sentinels = O.sentinel_ids(tok)
    g = torch.Generator().manual_seed(4)

    def loss_fn(x):
        pairs = [O.span_corruption(row, sentinels=sentinels, eos_id=eos, generator=g) for row in x.tolist()]
        enc, enc_mask = O.pad_batch([p[0] for p in pairs], pad)
        labels, dec_mask = O.pad_batch([p[1] for p in pairs], pad, value_for_labels=O.IGNORE)
        dec_in = O.shift_right(labels, cfg.decoder_start_token_id, pad)
        logits = model(enc, enc_mask, dec_in, dec_mask)
        return O.token_cross_entropy(logits, labels)

    first, last = _train(model, loss_fn, _batches(ids, 16, 64, 200, seed=5))
    assert last < first - 1.5, (first, last)
