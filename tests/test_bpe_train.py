"""Byte-level BPE training: hand-checked merges, determinism, bad input, round trips through .tiktoken."""
from __future__ import annotations

import pickle

import pytest

from conftest import data_path

import fastlm
from fastlm.training.bpe import learn_merges


def _merges(corpus, **kw):
    kw.setdefault("vocab_size", 1000)
    kw.setdefault("pattern", "r50k")
    kw.setdefault("progress", False)
    return learn_merges(corpus, **kw)


# ------------------------------------------------------------------------------------------- hand-checked merges
def test_overlap_and_tie_break_by_hand():
    # "aaab" is one piece. Pairs: (a,a) x2, (a,b) x1 -> merge a+a, left to right: [aa, a, b].
    # Now (aa,a) x1 and (a,b) x1 tie; (b"a", b"b") < (b"aa", b"a") as byte tuples -> a+b: [aa, ab]. Then aa+ab.
    assert _merges(["aaab"], min_frequency=1) == [(b"a", b"a", 2), (b"a", b"b", 1), (b"aa", b"ab", 1)]


def test_counts_min_frequency_and_specials_by_hand():
    # Pieces (r50k): "hug", " hug", " pug" | "hugs", "hug" (the special token is cut out, never counted).
    # Counts: hug 2, " hug" 1, " pug" 1, hugs 1.
    # Pairs: (u,g) = 2+1+1+1 = 5, (h,u) = 2+1+1 = 4, the rest 1 -> merge u+g (5).
    # Then (h,ug) = 2+1+1 = 4 -> merge h+ug. All remaining pairs occur once < min_frequency=2 -> stop.
    corpus = ["hug hug pug", "hugs<|eot|>hug"]
    assert _merges(corpus, special_tokens=["<|eot|>"], min_frequency=2) == [(b"u", b"g", 5), (b"h", b"ug", 4)]
    tok = fastlm.train("bpe", corpus, vocab_size=1000, pattern="r50k", special_tokens=["<|eot|>"], progress=False)
    assert tok.decode_single_token_bytes(256) == b"ug" and tok.decode_single_token_bytes(257) == b"hug"
    assert tok.special_tokens == {"<|eot|>": 258}
    assert tok.encode("hug<|eot|>", allowed_special="all") == [257, 258]
    assert tok.encode_ordinary("hugs") == [257, ord("s")]


def test_max_token_length_by_hand():
    # As in the overlap test, but aa+ab would be 4 bytes > 2: never merged.
    assert _merges(["aaab"], min_frequency=1, max_token_length=2) == [(b"a", b"a", 2), (b"a", b"b", 1)]


def test_vocab_size_stops_training_and_byte_tokens_come_first():
    # Pieces: " low" x3, " lower" x2, " newest" x2 (r50k, docs are separate). Byte ids are the bytes themselves.
    corpus = [" low"] * 3 + [" lower"] * 2 + [" newest"] * 2
    # Pairs: (" ",l) 5, (l,o) 5, (o,w) 5, (w,e) 4, (" ",n) 2, ... -> ties at 5: (b" ", b"l") is the smallest.
    # Then (" l", o) 5 vs (o, w) 5: b" l" < b"o" -> " l"+"o". Then (" lo", w) 5 -> " low". Then (" low", e) 2
    # ties with (e,r) 2, (" ",n) 2, (n,e) 2, (e,w) 2, (w,e) 2, (e,s) 2, (s,t) 2: smallest is (b" ", b"n").
    m = _merges(corpus, vocab_size=256 + 4, min_frequency=2)
    assert m == [(b" ", b"l", 5), (b" l", b"o", 5), (b" lo", b"w", 5), (b" ", b"n", 2)]
    tok = fastlm.train("bpe", corpus, vocab_size=260, pattern="r50k", progress=False)
    assert tok.n_vocab == 260
    assert [tok.decode_single_token_bytes(i) for i in (0, 65, 255)] == [b"\x00", b"A", b"\xff"]
    assert tok.encode(" lower") == [258, ord("e"), ord("r")]


def test_custom_regex_pattern_is_split_in_python():
    # \w+ keeps words without their spaces; unmatched text (spaces) is dropped, as tiktoken does.
    # Pieces: "ab" x3, "abc" x1 -> (a,b) 4 first, then (ab,c) 1 < min_frequency 2 -> stop.
    assert _merges(["ab ab ab abc"], pattern=r"\w+", min_frequency=2) == [(b"a", b"b", 4)]


# ----------------------------------------------------------------------------------------------- determinism
@pytest.fixture(scope="module")
def lines():
    p = data_path("text", "en_botchan.txt")
    return p.read_text(encoding="utf-8").splitlines()[:3000]


def test_same_files_whatever_the_thread_count(tmp_path, lines):
    out = {}
    for t in (1, 2):
        tok = fastlm.train("bpe", lines, vocab_size=800, num_threads=t, special_tokens=["<|endoftext|>"],
                           progress=False)
        tok.save(tmp_path / f"t{t}.json")
        tok.save(tmp_path / f"t{t}.tiktoken")
        out[t] = ((tmp_path / f"t{t}.json").read_bytes(), (tmp_path / f"t{t}.tiktoken").read_bytes())
    assert out[1] == out[2]


def test_files_and_iterable_of_the_same_text_agree(tmp_path):
    text = "the cat sat on the mat\nthe cat ate the rat\n" * 50
    p = tmp_path / "c.txt"
    p.write_text(text, encoding="utf-8")
    a = _merges(p, vocab_size=300)
    b = _merges([text], vocab_size=300)
    assert a == b and len(a) > 5


# ------------------------------------------------------------------------------------------------ bad input
@pytest.mark.parametrize("corpus", [[], [""], ["<|endoftext|>"]])
def test_empty_corpus(corpus):
    with pytest.raises(ValueError, match="empty"):
        fastlm.train("bpe", corpus, vocab_size=300, special_tokens=["<|endoftext|>"], progress=False)


def test_empty_file(tmp_path):
    p = tmp_path / "empty.txt"
    p.write_bytes(b"")
    with pytest.raises(ValueError, match="empty"):
        fastlm.train("bpe", p, vocab_size=300, progress=False)


def test_vocab_size_too_small():
    with pytest.raises(ValueError, match=r"256 byte tokens \+ 2 special tokens = 258"):
        fastlm.train("bpe", ["abc"], vocab_size=257, special_tokens=["<a>", "<b>"], progress=False)
    with pytest.raises(ValueError, match="vocab_size=100"):
        fastlm.train("bpe", ["abc"], vocab_size=100, progress=False)


def test_invalid_utf8_names_file_and_offset(tmp_path):
    p = tmp_path / "bad.txt"
    p.write_bytes(b"hello world\n" * 10 + b"ok \xff\xfe bad\n")
    with pytest.raises(ValueError, match=r"bad\.txt.*byte 123"):
        fastlm.train("bpe", [p], vocab_size=300, progress=False)
    tok = fastlm.train("bpe", [p], vocab_size=300, errors="replace", progress=False)
    assert tok.n_vocab > 256


def test_invalid_utf8_shared_stress_file():
    p = data_path("unicode", "UTF-8-test.txt")  # first invalid byte at offset 4461 (SOURCES.md)
    with pytest.raises(ValueError, match=r"UTF-8-test\.txt: invalid UTF-8 at byte 4461"):
        fastlm.train("bpe", p, vocab_size=300, progress=False)


@pytest.mark.parametrize("kw, msg", [
    (dict(min_frequency=0), "min_frequency"),
    (dict(max_token_length=0), "max_token_length"),
    (dict(num_threads=0), "num_threads"),
    (dict(pattern="(unclosed"), "not a valid regex"),
    (dict(special_tokens=["<s>", "<s>"]), "listed twice"),
    (dict(errors="ignore"), "errors"),
])
def test_bad_options(kw, msg):
    with pytest.raises(ValueError, match=msg):
        fastlm.train("bpe", ["abc abc"], vocab_size=300, progress=False, **kw)


def test_bad_corpus_types(tmp_path):
    with pytest.raises(TypeError, match="item 1 is bytes"):
        fastlm.train("bpe", ["abc", b"abc"], vocab_size=300, progress=False)
    with pytest.raises(FileNotFoundError):
        fastlm.train("bpe", tmp_path / "missing.txt", vocab_size=300, progress=False)


# -------------------------------------------------------------------------------------------------- round trips
def test_tiktoken_round_trip_and_pickle(tmp_path, lines):
    tok = fastlm.train("bpe", lines, vocab_size=600, pattern="cl100k", special_tokens=["<|endoftext|>"],
                       progress=False)
    tok.save(tmp_path / "m.tiktoken")
    back = fastlm.load(tmp_path / "m.tiktoken", pattern="cl100k", special_tokens=tok.special_tokens)
    again = pickle.loads(pickle.dumps(tok))
    text = "\n".join(lines)
    ids = tok.encode(text)
    assert back.encode(text) == ids and again.encode(text) == ids
    assert tok.decode(ids) == text
