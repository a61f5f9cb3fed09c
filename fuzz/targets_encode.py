"""Fuzz targets for the encoders, decoders, normalizers and pre-tokenizers (one function per target).

Properties checked beyond "no crash":
* ids are in range; encode == encode_batch (2 threads) == encode_to_numpy; no result depends on the call path;
* offsets lie inside the input, start <= end, starts never decrease;
* byte-level BPE: decode_bytes(encode_bytes(b)) == b for any bytes, decode(encode(s)) == s for any str;
* parity with the reference library (tiktoken, HF tokenizers, sentencepiece) on the same text;
* pre-tokenizer pieces concatenate back to the input, and equal `regex.findall` of the published pattern;
* normalizer offsets map every output byte into the input, in order.
"""
from __future__ import annotations

from typing import Any, List, Sequence

from common import fix_surrogates, reference, target, text_of, tokenizer

TIKTOKEN = "tokenizers/tiktoken/"
SP = "tokenizers/sentencepiece/"
BERT = "tokenizers/bert-base-uncased/"


def _check_ids(tok: Any, ids: Sequence[int]) -> None:
    n = tok.n_vocab
    for i in ids:
        assert 0 <= i < n, f"id {i} outside [0, {n})"


def _check_offsets(text: str, ids: Any, starts: Any, ends: Any) -> None:
    starts, ends = list(starts), list(ends)
    assert len(ids) == len(starts) == len(ends), "one offset pair per id"
    prev = 0
    for s, e in zip(starts, ends):
        assert 0 <= s <= e <= len(text), f"offset ({s}, {e}) outside a text of length {len(text)}"
        assert s >= prev, f"offsets go backwards: start {s} after {prev}"
        prev = s


def _check_paths(tok: Any, text: str, ids: List[int]) -> None:
    """The batch, numpy and offsets paths give the same ids as encode."""
    half = text[: len(text) // 2]
    batch = tok.encode_batch([text, half, ""], num_threads=2, disallowed_special=())
    assert batch[0] == ids, "encode_batch differs from encode"
    assert batch[2] == [], "the empty text encodes to no ids"
    assert batch[1] == tok.encode(half, disallowed_special=()), "encode_batch differs from encode (half)"
    assert tok.encode_to_numpy(text, disallowed_special=()).tolist() == ids, "encode_to_numpy differs from encode"
    flat, offs = tok.encode_batch_to_numpy([text, half], num_threads=2, disallowed_special=())
    assert flat[: offs[1]].tolist() == ids and offs[0] == 0 and offs[-1] == len(flat), "flat batch differs"
    fixed = fix_surrogates(text)
    got, starts, ends = tok._core.encode_with_offsets(fixed, None, None)[:3]
    assert list(got) == ids, "encode_with_offsets differs from encode"
    _check_offsets(fixed, got, starts, ends)


def _special_guard(tok: Any, text: str) -> None:
    """Default encode rejects special-token text and only that."""
    try:
        tok.encode(text)
    except ValueError:
        assert any(s in fix_surrogates(text) for s in tok.special_tokens), "ValueError without special-token text"


# ------------------------------------------------------------------------------------------------ byte-level BPE
def _bpe(data: bytes, rel: str, ref: str = "") -> None:
    tok = tokenizer(rel)
    text = text_of(data)
    ids = tok.encode(text, disallowed_special=())
    _check_ids(tok, ids)
    fixed = fix_surrogates(text)
    assert tok.decode(ids) == fixed, "decode(encode(text)) != text"
    _check_paths(tok, text, ids)
    _special_guard(tok, text)
    raw = data[1:]
    assert tok.decode_bytes(tok.encode_bytes(raw)) == raw, "decode_bytes(encode_bytes(b)) != b"
    if ref:
        want = reference("tiktoken", rel).encode(fixed, disallowed_special=())
        assert ids == want, f"ids differ from tiktoken: {ids[:20]} vs {want[:20]}"
        specials = tok.encode(fixed, allowed_special="all")
        assert specials == reference("tiktoken", rel).encode(fixed, allowed_special="all"), "allowed_special differs"


@target("encode_cl100k", needs=("data:" + TIKTOKEN + "cl100k_base.tiktoken", "tiktoken"))
def fuzz_encode_cl100k(data: bytes) -> None:
    _bpe(data, TIKTOKEN + "cl100k_base.tiktoken", ref="tiktoken")


@target("encode_o200k", needs=("data:" + TIKTOKEN + "o200k_base.tiktoken", "tiktoken"))
def fuzz_encode_o200k(data: bytes) -> None:
    _bpe(data, TIKTOKEN + "o200k_base.tiktoken", ref="tiktoken")


@target("encode_r50k", needs=("data:" + TIKTOKEN + "r50k_base.tiktoken", "tiktoken"))
def fuzz_encode_r50k(data: bytes) -> None:
    _bpe(data, TIKTOKEN + "r50k_base.tiktoken", ref="tiktoken")


@target("encode_gpt2_merges", needs=("data:tokenizers/gpt2/encoder.json",))
def fuzz_encode_gpt2_merges(data: bytes) -> None:
    """The merge-list BPE path (GPT-2 files), checked against the rank path on the same vocabulary (r50k)."""
    _bpe(data, "tokenizers/gpt2/encoder.json")
    text = text_of(data)
    a = tokenizer("tokenizers/gpt2/encoder.json").encode_ordinary(text)
    b = tokenizer(TIKTOKEN + "r50k_base.tiktoken").encode_ordinary(text)
    assert a == b, "GPT-2 merges and r50k ranks disagree"


# ------------------------------------------------------------------------------------------------ WordPiece
def _wordpiece(data: bytes, rel: str, ref_kind: str) -> None:
    tok = tokenizer(rel)
    text = text_of(data)
    ids = tok.encode(text, disallowed_special=())
    _check_ids(tok, ids)
    _check_paths(tok, text, ids)
    fixed = fix_surrogates(text)
    # HF matches added tokens ([CLS], ...) in any text: compare with special-token parsing on
    got = tok.encode(fixed, allowed_special="all")
    want = reference(ref_kind, rel).encode(fixed, add_special_tokens=False).ids
    k = next((i for i, (a, b) in enumerate(zip(got, want)) if a != b), min(len(got), len(want)))
    assert got == want, f"ids differ from HF tokenizers at {k}: {got[k:k + 8]} vs {want[k:k + 8]}"
    enc = tok(fixed, truncation=True, max_length=16, stride=3, padding=False)  # the file's own padding is to 128
    assert len(enc.ids) <= 16 and len(enc.ids) == len(enc.offsets) == len(enc.attention_mask)
    for s, e in enc.offsets:
        assert 0 <= s <= e <= len(fixed), f"offset ({s}, {e}) outside the text"
    tok.decode(ids)
    tok.decode(ids, skip_special_tokens=True)


@target("encode_wordpiece_vocab", needs=("data:" + BERT + "vocab.txt", "tokenizers"))
def fuzz_encode_wordpiece_vocab(data: bytes) -> None:
    _wordpiece(data, BERT + "vocab.txt", "hf_bert_vocab")


@target("encode_wordpiece_json", needs=("data:" + BERT + "tokenizer.json", "tokenizers"))
def fuzz_encode_wordpiece_json(data: bytes) -> None:
    _wordpiece(data, BERT + "tokenizer.json", "hf")


# ------------------------------------------------------------------------------------------------ SentencePiece
def _sentencepiece(data: bytes, name: str, unigram: bool) -> None:
    rel = SP + name + ".model"
    tok = tokenizer(rel)
    ref = reference("sp", rel)
    text = text_of(data)
    ids = tok.encode(text)
    _check_ids(tok, ids)
    _check_paths(tok, text, ids)
    fixed = fix_surrogates(text)
    want = ref.encode(fixed)
    assert ids == want, f"ids differ from sentencepiece: {ids[:20]} vs {want[:20]}"
    assert tok.decode(ids) == ref.decode(ids), "decode differs from sentencepiece"
    ids2, offs = tok.encode_with_offsets(fixed)
    assert ids2 == ids
    _check_offsets(fixed, ids, [s for s, _ in offs], [e for _, e in offs])
    if unigram and len(fixed) <= 256:
        best = tok.nbest(fixed, 3, with_scores=True)
        # Equal-score segmentations (runs of one character) come in an order that is an implementation detail
        # (neither library puts the Viterbi tie-break first): compare the scores, and the lists when no tie.
        want = ref.NBestEncodeAsIds(fixed, 4)
        score = lambda seg: sum(ref.GetScore(i) for i in seg)  # noqa: E731
        assert len(best) == min(3, len(want)), "n-best list length differs from sentencepiece"
        for (seg, _), w in zip(best, want):
            assert abs(score(seg) - score(w)) <= 1e-3 * max(1.0, abs(score(w))), "n-best scores differ"
        if len({round(score(w), 3) for w in want}) == len(want):  # no tie among the 4 best: the lists must agree
            assert [seg for seg, _ in best] == want[:3], "n-best list differs from sentencepiece"
        norm = tok.decode(ids)
        for seed in (0, 1):
            s = tok.encode(fixed, sample=True, alpha=0.5, nbest_size=-1, seed=seed)
            _check_ids(tok, s)
            assert tok.decode(s) == norm, "a sampled segmentation decodes to another text"
            assert s == tok.encode(fixed, sample=True, alpha=0.5, nbest_size=-1, seed=seed), "seeded sample varies"
        for s in tok.sample_many(fixed, 2, alpha=0.1, nbest_size=4, seed=3):
            assert tok.decode(s) == norm


@target("encode_sp_unigram_xlnet", needs=("data:" + SP + "xlnet_spiece.model", "sentencepiece"))
def fuzz_encode_sp_unigram_xlnet(data: bytes) -> None:
    _sentencepiece(data, "xlnet_spiece", True)


@target("encode_sp_unigram_kyoto", needs=("data:" + SP + "kyoto_ja_unigram_8000.model", "sentencepiece"))
def fuzz_encode_sp_unigram_kyoto(data: bytes) -> None:
    _sentencepiece(data, "kyoto_ja_unigram_8000", True)


@target("encode_sp_bpe_llama2", needs=("data:" + SP + "llama2_tokenizer.model", "sentencepiece"))
def fuzz_encode_sp_bpe_llama2(data: bytes) -> None:
    _sentencepiece(data, "llama2_tokenizer", False)


@target("encode_sp_bpe_botchan", needs=("data:" + SP + "botchan_en_bpe_1000.model", "sentencepiece"))
def fuzz_encode_sp_bpe_botchan(data: bytes) -> None:
    _sentencepiece(data, "botchan_en_bpe_1000", False)


# ------------------------------------------------------------------------------------------------ decoders
@target("decode_ids", needs=("data:" + TIKTOKEN + "cl100k_base.tiktoken", "data:" + BERT + "vocab.txt",
                             "data:" + SP + "xlnet_spiece.model", "data:" + SP + "llama2_tokenizer.model"))
def fuzz_decode_ids(data: bytes) -> None:
    """Arbitrary id sequences (in range, out of range, negative): decoding returns text or raises KeyError/
    ValueError, the same for lists and numpy arrays, and the streaming decoder agrees with decode."""
    import numpy as np

    ids = [int.from_bytes(data[i:i + 3], "little", signed=True) for i in range(0, len(data) - 2, 3)]
    for rel in (TIKTOKEN + "cl100k_base.tiktoken", BERT + "vocab.txt", SP + "xlnet_spiece.model",
                SP + "llama2_tokenizer.model"):
        tok = tokenizer(rel)
        small = [i % tok.n_vocab for i in ids]
        small = [i for i in small if tok._core.token_bytes(i) is not None]  # cl100k has holes below n_vocab
        text = tok.decode(small)
        assert isinstance(text, str)
        assert tok.decode(np.asarray(small, dtype=np.uint32)) == text, "numpy ids decode differently"
        tok.decode(small, skip_special_tokens=True)
        if any(i < 0 or i >= tok.n_vocab for i in ids):
            try:
                tok.decode(ids)
            except (KeyError, ValueError, OverflowError, IndexError) as e:
                assert not isinstance(e, IndexError) or "piece id" in str(e), f"unclear error: {e!r}"
        stream = tok.decode_stream()
        out = "".join(stream.step(i) for i in small) + stream.finish()
        if rel.startswith(TIKTOKEN):
            assert out == text, "streamed decode differs from decode"


# ------------------------------------------------------------------------------------------------ pre-tokenizers
def _pretok(data: bytes, kind: str, pattern: str) -> None:
    import regex

    from fastlm import _core

    text = text_of(data)
    fixed = fix_surrogates(text)
    k = getattr(_core.PretokKind, kind)
    pieces = _core.pretokenize(k, fixed)
    assert "".join(pieces) == fixed, "pre-tokenizer pieces do not concatenate to the input"
    assert all(pieces), "empty piece"
    want = regex.findall(pattern, fixed)
    assert pieces == want, f"differs from the published regex: {pieces[:12]} vs {want[:12]}"
    raw = data[1:]
    bp = _core.pretokenize(k, raw)
    assert b"".join(bp) == raw, "byte pieces do not concatenate to the input"


@target("pretokenize_r50k", needs=("regex",))
def fuzz_pretokenize_r50k(data: bytes) -> None:
    from fastlm.formats.patterns import R50K_PATTERN

    _pretok(data, "R50K", R50K_PATTERN)


@target("pretokenize_cl100k", needs=("regex",))
def fuzz_pretokenize_cl100k(data: bytes) -> None:
    from fastlm.formats.patterns import CL100K_PATTERN

    _pretok(data, "CL100K", CL100K_PATTERN)


@target("pretokenize_o200k", needs=("regex",))
def fuzz_pretokenize_o200k(data: bytes) -> None:
    from fastlm.formats.patterns import O200K_PATTERN

    _pretok(data, "O200K", O200K_PATTERN)


@target("pretokenize_bert")
def fuzz_pretokenize_bert(data: bytes) -> None:
    """BERT's split: words are non-empty, in order, not overlapping, and what lies between them is whitespace."""
    from fastlm import _core

    raw = fix_surrogates(text_of(data)).encode("utf-8")
    spans = _core.bert_pretokenize(raw)
    prev = 0
    for s, e in spans:
        assert prev <= s < e <= len(raw), f"span ({s}, {e}) out of order or outside {len(raw)} bytes"
        gap = raw[prev:s].decode("utf-8")
        assert not gap.strip(), f"non-whitespace {gap!r} dropped between words"
        prev = e
    assert not raw[prev:].decode("utf-8").strip(), "non-whitespace dropped at the end"


# ------------------------------------------------------------------------------------------------ normalizers
@target("normalize_bert")
def fuzz_normalize_bert(data: bytes) -> None:
    """BERT normalizer (every option combination picked by the first byte): valid UTF-8 out, and per-byte
    offsets into the input that stay inside it and never go backwards."""
    from fastlm import _core

    flags = data[0] if data else 0
    raw = fix_surrogates(text_of(data[1:])).encode("utf-8")
    out, starts, ends = _core.bert_normalize(raw, bool(flags & 1), bool(flags & 2), bool(flags & 4), bool(flags & 8))
    out.decode("utf-8")
    assert len(starts) == len(ends) == len(out), "one offset pair per output byte"
    prev = 0
    for s, e in zip(starts.tolist(), ends.tolist()):
        assert 0 <= s <= e <= len(raw), f"offset ({s}, {e}) outside {len(raw)} bytes"
        assert s >= prev, "normalizer offsets go backwards"
        prev = s


@target("normalize_sp", needs=("data:" + SP + "xlnet_spiece.model", "data:" + SP + "kyoto_ja_unigram_8000.model",
                               "data:" + SP + "llama2_tokenizer.model", "sentencepiece"))
def fuzz_normalize_sp(data: bytes) -> None:
    """SentencePiece normalizers (nmt_nfkc and nfkc precompiled charsmaps, identity): the same normalized text as
    sentencepiece's own `normalize`."""
    text = fix_surrogates(text_of(data))
    for name in ("xlnet_spiece", "kyoto_ja_unigram_8000", "llama2_tokenizer"):
        tok = tokenizer(SP + name + ".model")
        got = tok.normalize(text)
        want = reference("sp", SP + name + ".model").normalize(text)
        assert got == want, f"normalized text differs from sentencepiece: {got[:60]!r} vs {want[:60]!r}"
