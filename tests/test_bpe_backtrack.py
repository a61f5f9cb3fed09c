"""The backtracking BPE encoder: identical to the rank-merge loop, to tiktoken and to a readable Python oracle.

The oracle below is byte-level BPE written the plain way (merge the adjacent pair of lowest rank, leftmost on
ties, until none is left); the C++ merge loop (`method="merge"`) is the second reference, fast enough for 1 MB.
"""
from __future__ import annotations

import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from _refs import fastlm_encoding, tiktoken_encoding
from conftest import data_path, text_files

import fastlm
from fastlm import _core

NAMES = ["r50k_base", "p50k_base", "cl100k_base", "o200k_base"]


def oracle_ranks(data: bytes, ranks: dict) -> list:
    """tiktoken rule: any two adjacent parts whose concatenation is a token merge; lowest rank first."""
    parts = [data[i:i + 1] for i in range(len(data))]
    while len(parts) > 1:
        best, best_rank = -1, None
        for i in range(len(parts) - 1):
            r = ranks.get(parts[i] + parts[i + 1])
            if r is not None and (best_rank is None or r < best_rank):
                best, best_rank = i, r
        if best < 0:
            break
        parts[best:best + 2] = [parts[best] + parts[best + 1]]
    return [ranks[p] for p in parts]


def oracle_merges(data: bytes, vocab: dict, merges: list) -> list:
    """HF rule: only listed pairs merge, the earliest-listed first."""
    prio = {}
    for i, (a, b) in enumerate(merges):
        prio.setdefault((a, b), i)
    parts = [data[i:i + 1] for i in range(len(data))]
    while len(parts) > 1:
        best, best_p = -1, None
        for i in range(len(parts) - 1):
            p = prio.get((parts[i], parts[i + 1]))
            if p is not None and (best_p is None or p < best_p):
                best, best_p = i, p
        if best < 0:
            break
        parts[best:best + 2] = [parts[best] + parts[best + 1]]
    return [vocab[p] for p in parts]


def model_of(tok):
    return tok._core.encoder.model


def kind_of(tok):
    return tok._core.encoder.kind


def ranks_of(name):
    import tiktoken.load

    return tiktoken.load.load_tiktoken_bpe(str(data_path("tokenizers", "tiktoken", name + ".tiktoken")))


def corpus_texts():
    files = text_files()
    assert files, "no shared text files"
    files = files + [data_path("unicode", "blns.txt"), data_path("unicode", "UTF-8-demo.txt")]
    return [(f.name, f.read_text(encoding="utf-8")) for f in files]


def gpt2():
    return fastlm.Tokenizer.from_gpt2(data_path("tokenizers", "gpt2", "encoder.json"),
                                      data_path("tokenizers", "gpt2", "vocab.bpe"))


@pytest.mark.parametrize("name", NAMES)
def test_published_vocabularies_get_the_backtracker(name):
    assert model_of(fastlm_encoding(name)).has_backtracker


def test_gpt2_merges_get_the_backtracker():
    assert model_of(gpt2()).has_backtracker


@pytest.mark.parametrize("name", NAMES + ["gpt2"])
def test_every_piece_of_every_corpus_backtrack_equals_merge(name):
    tok = gpt2() if name == "gpt2" else fastlm_encoding(name)
    model, kind = model_of(tok), kind_of(tok)
    for fname, text in corpus_texts():
        pieces = _core.pretokenize(kind, text)
        bt = model.encode_pieces(pieces, method="backtrack")
        assert bt == model.encode_pieces(pieces, method="merge"), fname
        assert bt == model.encode_pieces(pieces, method="auto"), fname


@pytest.mark.parametrize("name", ["cl100k_base", "o200k_base"])
def test_corpora_whole_and_by_line_identical_to_tiktoken(name):
    ref, tok = tiktoken_encoding(name), fastlm_encoding(name)
    for fname, text in corpus_texts():
        assert tok.encode_ordinary(text) == ref.encode_ordinary(text), fname
        lines = text.splitlines(keepends=True)
        assert [tok.encode_ordinary(s) for s in lines[:3000]] == ref.encode_ordinary_batch(lines[:3000]), fname


# Long runs of letters from a few scripts (one long piece each), mixed with spaces and punctuation.
_LETTERS = st.sampled_from(list("abcdefghijklmnopqrstuvwxyzABC éèüßøñ" "のはにをがでとも日本語漢字東京"
                                "가나다라마바사한국어" "абвгд" "αβγ" "ー々〜"))
_LONG_TEXT = st.lists(st.one_of(_LETTERS, st.sampled_from(list(" \n.,'!0123456789"))), max_size=300).map("".join)


@pytest.mark.parametrize("name", ["cl100k_base", "o200k_base"])
@settings(max_examples=200, deadline=None)
@given(text=_LONG_TEXT)
def test_property_long_pieces_identical_to_tiktoken(name, text):
    assert fastlm_encoding(name).encode_ordinary(text) == tiktoken_encoding(name).encode_ordinary(text)


@pytest.mark.parametrize("name", ["cl100k_base", "o200k_base"])
@settings(max_examples=300, deadline=None)
@given(data=st.lists(st.binary(min_size=2, max_size=40), min_size=1, max_size=8))
def test_property_arbitrary_byte_pieces(name, data):
    """Pieces no scanner would produce (invalid UTF-8, split characters): backtrack == merge loop."""
    model = model_of(fastlm_encoding(name))
    assert model.encode_pieces(data, method="backtrack") == model.encode_pieces(data, method="merge")


ADVERSARIAL = {
    "one-char": lambda n: "a" * n,
    "spaces": lambda n: " " * n,
    "no-whitespace": lambda n: ("Thequickbrownfoxjumpsoverthelazydog" * (n // 35 + 1))[:n],
    "one-CJK-char": lambda n: "語" * (n // 3),
    "two-chars": lambda n: "ab" * (n // 2),
    "digits-symbols": lambda n: ("!?" * n)[:n],
    "random-letters": lambda n: "".join(random.Random(n).choice("abcdefghij") for _ in range(n)),
    "random-kana": lambda n: "".join(random.Random(n).choice("ーのはにを日本語漢字") for _ in range(n // 3)),
}


@pytest.mark.parametrize("name", ["cl100k_base", "o200k_base"])
@pytest.mark.parametrize("case", sorted(ADVERSARIAL))
def test_adversarial_pieces_match_the_python_oracle(name, case):
    model, ranks = model_of(fastlm_encoding(name)), ranks_of(name)
    piece = ADVERSARIAL[case](1200).encode()
    assert model.encode_pieces([piece], method="backtrack") == oracle_ranks(piece, ranks)


@pytest.mark.parametrize("case", sorted(ADVERSARIAL))
def test_adversarial_1mb_backtrack_equals_merge_and_tiktoken(case):
    tok = fastlm_encoding("o200k_base")
    model = model_of(tok)
    text = ADVERSARIAL[case](1_000_000)
    piece = text.encode()
    bt = model.encode_pieces([piece], method="backtrack")
    assert bt == model.encode_pieces([piece], method="merge")
    pieces = _core.pretokenize(kind_of(tok), text)
    ids = tok.encode_ordinary(text)
    assert ids == model.encode_pieces(pieces, method="merge")
    if case != "spaces":  # tiktoken's o200k regex overflows its stack on 1 MB of spaces
        assert ids == tiktoken_encoding("o200k_base").encode_ordinary(text)


@pytest.mark.parametrize("name", ["cl100k_base", "o200k_base"])
def test_matchable_tokens_are_their_own_encoding(name):
    """A token is matchable iff plain BPE of its bytes gives back that token (checked on a sample + all long ones)."""
    model, ranks = model_of(fastlm_encoding(name)), ranks_of(name)
    rng = random.Random(1)
    items = list(ranks.items())
    sample = rng.sample(items, 3000) + [kv for kv in items if len(kv[0]) >= 24]
    unmatchable = 0
    for b, i in sample:
        own = oracle_ranks(b, ranks) == [i]
        assert model.is_matchable(i) == own, b
        unmatchable += not own
    assert len(sample) > unmatchable  # most tokens are matchable


@pytest.mark.parametrize("name", ["cl100k_base", "o200k_base"])
def test_pair_compatibility_matches_the_oracle(name):
    """compatible(a, b) <=> plain BPE of bytes(a) + bytes(b) ends as [a, b]. Pairs: each sampled token cut at every
    position (both halves tokens: often its own last merge, so incompatible), and adjacent tokens of real text."""
    tok = fastlm_encoding(name)
    model, ranks = model_of(tok), ranks_of(name)
    by_id = {i: b for b, i in ranks.items()}
    rng = random.Random(2)
    pairs = set()
    for b, _ in rng.sample(list(ranks.items()), 1500):
        for k in range(1, len(b)):
            if b[:k] in ranks and b[k:] in ranks:
                pairs.add((ranks[b[:k]], ranks[b[k:]]))
    ja = data_path("text", "ja_wagahaiwa_nekodearu.txt").read_text(encoding="utf-8")[:3000]
    ids = tok.encode_ordinary(ja)
    pairs.update(zip(ids, ids[1:]))
    seen = {True: 0, False: 0}
    for a, c in sorted(pairs):
        if not (model.is_matchable(a) and model.is_matchable(c)):
            continue
        expected = oracle_ranks(by_id[a] + by_id[c], ranks) == [a, c]
        assert model.compatible(a, c) == expected, (by_id[a], by_id[c])
        seen[expected] += 1
    assert seen[True] > 100 and seen[False] > 100


def test_gpt2_pieces_match_the_merge_oracle():
    """HF merges: backtrack equals the plain merge-list oracle on adversarial and random pieces."""
    import json

    tok = gpt2()
    model = model_of(tok)
    vocab_json = json.loads(data_path("tokenizers", "gpt2", "encoder.json").read_text(encoding="utf-8"))
    from fastlm.formats.gpt2 import read_merges, read_vocab_json

    vocab = read_vocab_json(data_path("tokenizers", "gpt2", "encoder.json"))
    merges = read_merges(data_path("tokenizers", "gpt2", "vocab.bpe"))
    assert len(vocab) == len(vocab_json)
    rng = random.Random(3)
    pieces = [ADVERSARIAL[c](600).encode() for c in sorted(ADVERSARIAL)]
    pieces += [bytes(rng.choice(b"abcdefgh ") for _ in range(rng.randrange(2, 60))) for _ in range(200)]
    for p in pieces:
        assert model.encode_pieces([p], method="backtrack") == oracle_merges(p, vocab, merges), p[:20]


def _all_bytes():
    return {bytes([i]): i for i in range(256)}


def test_non_monotone_ranks_fall_back_to_the_exact_merge_loop():
    """'abc' (rank 256) can only form from 'ab' (rank 257): the tables would not be exact, so none is built."""
    ranks = _all_bytes()
    ranks.update({b"abc": 256, b"ab": 257, b"bc": 258})
    tok = fastlm.Tokenizer.from_ranks(ranks, pattern=r"\S+|\s+")
    assert not model_of(tok).has_backtracker
    for s in ["abcd", "xabcabc", "abab", "bcabc"]:
        assert tok.encode_ordinary(s) == oracle_ranks(s.encode(), ranks), s
    with pytest.raises(ValueError, match="no backtracking encoder"):
        model_of(tok).encode_pieces([b"abcd"], method="backtrack")


def test_non_monotone_merges_fall_back_to_the_exact_merge_loop():
    vocab = _all_bytes()
    vocab.update({b"bc": 256, b"abc": 257})
    merges = [(b"a", b"bc"), (b"b", b"c")]  # 'abc' listed before the merge that makes its part
    model = _core.BpeModel(list(vocab.items()), merges, False)
    assert not model.has_backtracker
    for s in [b"abc", b"xabcd", b"abcabc", b"bcab"]:
        assert model.encode_pieces([s]) == oracle_merges(s, vocab, merges), s


def test_unreachable_token_is_only_produced_whole():
    """'abcd' has no two-token split that BPE reaches ('a' 'bc' 'd' is final): it is not matchable, and appears
    only when a whole piece spells it (tiktoken's whole-piece lookup)."""
    ranks = _all_bytes()
    ranks.update({b"bc": 256, b"abcd": 257})
    tok = fastlm.Tokenizer.from_ranks(ranks, pattern=r"\S+|\s+")
    model = model_of(tok)
    assert model.has_backtracker
    assert not model.is_matchable(257) and model.is_matchable(256)
    assert tok.encode_ordinary("abcd") == [257]
    for s in ["abcde", "xabcd", "abcdabcd", "bcd"]:
        assert tok.encode_ordinary(s) == oracle_ranks(s.encode(), ranks), s
