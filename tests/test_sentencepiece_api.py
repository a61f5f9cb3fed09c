"""SentencePiece .model: malformed files, save/load round trips, pickling, offsets, and sampling statistics."""
from __future__ import annotations

import math
import pickle
import random
from collections import Counter

import pytest
from conftest import data_path

import fastlm
from fastlm.formats import sentencepiece as spf

sentencepiece = pytest.importorskip("sentencepiece")
MODELS = ["xlnet_spiece", "llama2_tokenizer", "botchan_en_unigram_1000", "botchan_en_bpe_1000", "kyoto_ja_unigram_8000"]


def _model(name: str):
    return data_path("tokenizers", "sentencepiece", name + ".model")


@pytest.mark.parametrize("name", MODELS)
def test_truncated_files_raise_with_offset(name):
    data = _model(name).read_bytes()
    rng = random.Random(0)
    cuts = [1, 2, 3, 7, 100, len(data) // 2, len(data) - 1] + [rng.randrange(1, len(data)) for _ in range(20)]
    for cut in cuts:
        try:
            spf.from_bytes(data[:cut], source="trunc.model")
        except ValueError as e:
            assert "trunc.model" in str(e)
            continue
        # A cut that lands exactly on a field boundary is a valid (smaller) message; sentencepiece agrees on it.
        sentencepiece.SentencePieceProcessor(model_proto=data[:cut])


def test_truncation_inside_a_field_names_the_byte():
    data = _model("botchan_en_unigram_1000").read_bytes()
    with pytest.raises(ValueError, match=r"at byte \d+"):
        spf.from_bytes(data[:5], source="x.model")
    with pytest.raises(ValueError, match="empty"):
        spf.from_bytes(b"", source="x.model")
    with pytest.raises(ValueError, match="wire type"):
        spf.from_bytes(b"\x0f\x00", source="x.model")


@pytest.mark.parametrize("name", ["botchan_en_unigram_1000", "llama2_tokenizer"])
def test_bit_flips_never_crash(name):
    data = bytearray(_model(name).read_bytes())
    rng = random.Random(1)
    for _ in range(60):
        d = bytearray(data)
        for _ in range(rng.randint(1, 4)):
            i = rng.randrange(len(d))
            d[i] ^= 1 << rng.randrange(8)
        try:
            tok = spf.from_bytes(bytes(d), source="flip.model")
        except ValueError:
            continue
        tok.encode("Hello world, this is a test. 日本語")  # a model that loads must also encode


def test_not_a_model(tmp_path):
    p = tmp_path / "junk.model"
    p.write_bytes(b"hello, I am not a protobuf\n")
    with pytest.raises(ValueError, match="junk.model"):
        fastlm.load(p)


@pytest.mark.parametrize("name", MODELS)
def test_save_model_round_trip(name, tmp_path):
    tok = fastlm.load(_model(name))
    out = tmp_path / "copy.model"
    tok.save(out)
    assert out.read_bytes() == _model(name).read_bytes()
    ref = sentencepiece.SentencePieceProcessor(model_file=str(out))
    text = "The quick brown fox — 吾輩は猫である。 안녕하세요 😀"
    assert fastlm.load(out).encode(text) == ref.encode(text)


def test_pickle_round_trip():
    tok = fastlm.load(_model("kyoto_ja_unigram_8000"))
    tok2 = pickle.loads(pickle.dumps(tok))
    text = "吾輩は猫である。名前はまだ無い。"
    assert tok2.encode(text) == tok.encode(text)
    assert tok2.nbest(text, 3) == tok.nbest(text, 3)


def test_offsets_point_into_the_original_text():
    tok = fastlm.load(_model("llama2_tokenizer"))
    text = "Hello  wörld, 😀 ok"
    ids, offs = tok.encode_with_offsets(text)
    assert ids == tok.encode(text)
    for i, (s, e) in zip(ids, offs):
        assert 0 <= s <= e <= len(text)
        piece = tok.id_to_piece(i)
        if tok.piece_type(i) == "normal":
            assert piece.replace("\u2581", " ").strip() == text[s:e].strip()
    # nmt_nfkc: normalized pieces map back to the characters they came from
    tok = fastlm.load(_model("xlnet_spiece"))
    text = "ﬁne   ①  done"
    ids, offs = tok.encode_with_offsets(text)
    assert offs[0][0] == 0 and offs[-1][1] == len(text)
    assert all(a[1] <= b[0] for a, b in zip(offs, offs[1:]))


def test_decode_restores_whitespace_and_bytes():
    tok = fastlm.load(_model("llama2_tokenizer"))
    for text in ["a b  c", "\U0001F9FF x", "tab\there", "ünïcödé"]:
        assert tok.decode(tok.encode(text)) == text


def _segmentations(s: str, vocab: dict) -> list:
    if not s:
        return [[]]
    out = []
    for k in range(1, len(s) + 1):
        if s[:k] in vocab:
            out += [[s[:k]] + rest for rest in _segmentations(s[k:], vocab)]
    return out


@pytest.mark.parametrize("alpha", [1.0, 0.5])
def test_sampling_matches_model_probabilities(alpha):
    tok = fastlm.load(_model("botchan_en_unigram_1000"))
    ref = sentencepiece.SentencePieceProcessor(model_file=str(_model("botchan_en_unigram_1000")))
    vocab = {ref.id_to_piece(i): ref.get_score(i) for i in range(ref.get_piece_size()) if not ref.is_control(i)
             and not ref.is_unknown(i)}
    word = "there"
    norm = "\u2581" + word
    segs = _segmentations(norm, vocab)
    assert len(segs) >= 5
    weights = [math.exp(alpha * sum(vocab[p] for p in seg)) for seg in segs]
    z = sum(weights)
    expected = {tuple(ref.piece_to_id(p) for p in seg): w / z for seg, w in zip(segs, weights)}
    n = 20000
    counts = Counter(tuple(x) for x in tok.sample_many(word, n, alpha=alpha, seed=123))
    assert set(counts) <= set(expected)
    # chi-square over cells with enough expected mass; 0.999 quantile for <= 30 dof is < 60
    chi2 = sum((counts.get(k, 0) - n * p) ** 2 / (n * p) for k, p in expected.items() if n * p >= 5)
    assert chi2 < 60, chi2
    # reproducible with a seed, different across seeds
    assert tok.encode(word * 3, sample=True, alpha=alpha, seed=7) == tok.encode(word * 3, sample=True, alpha=alpha, seed=7)
    assert len({tuple(tok.encode(word * 3, sample=True, alpha=alpha, seed=s)) for s in range(20)}) > 1


def test_nbest_size_sampling_stays_in_the_nbest_list():
    tok = fastlm.load(_model("botchan_en_unigram_1000"))
    text = "I am here"
    top = [tuple(x) for x in tok.nbest(text, 4)]
    seen = {tuple(tok.encode(text, sample=True, nbest_size=4, alpha=0.5, seed=s)) for s in range(200)}
    assert seen <= set(top) and len(seen) > 1


def test_bad_sampling_options():
    tok = fastlm.load(_model("botchan_en_unigram_1000"))
    with pytest.raises(ValueError, match="nbest_size"):
        tok.encode("x", sample=True, nbest_size=0)
    with pytest.raises(ValueError, match="alpha"):
        tok.encode("x", sample=True, alpha=-1.0)
    with pytest.raises(ValueError, match="n must"):
        tok.nbest("x", 0)
    bpe = fastlm.load(_model("botchan_en_bpe_1000"))
    with pytest.raises(ValueError, match="Unigram"):
        bpe.encode("x", sample=True)


@pytest.mark.parametrize("method", ["encode_batch", "encode_batch_to_numpy", "__call__"])
def test_batch_items_that_are_not_str_raise_type_error_naming_them(method):
    tok = fastlm.load(data_path("tokenizers", "sentencepiece", "botchan_en_unigram_1000.model"))
    fn = getattr(tok, method)
    for bad, name in ((3, "int"), (b"x", "bytes"), (None, "NoneType")):
        with pytest.raises(TypeError, match=rf"texts\[1\] is {name}, expected str"):
            fn(["fine", bad, "fine"])
    # Any sequence of str is accepted, with the same ids as a list.
    texts = ["a b", "c"]
    assert tok.encode_batch(tuple(texts)) == tok.encode_batch(texts) == [tok.encode(t) for t in texts]
