"""Hostile text input for every algorithm, against the reference library on the same text.

Lone surrogates, NUL, BOM, CRLF, invalid UTF-8 through the bytes API, and samples of every Unicode general
category. The rule for lone surrogates is tiktoken's, for every algorithm: the text is re-encoded through
UTF-16, so a valid pair becomes its code point and a lone surrogate becomes U+FFFD. (HF tokenizers and
sentencepiece reject such a str with a TypeError/RuntimeError; fastlm accepts it, and gives what the reference
gives for the repaired text.)
"""
from __future__ import annotations

import sys
import unicodedata
from collections import defaultdict
from typing import Dict, List

import pytest

from conftest import data_path

import fastlm

CONTROL_CASES = {
    "nul": "a\x00b \x00\x00 c\x00",
    "bom": "\ufeffHello \ufeff world\ufeff",
    "crlf": "line one\r\nline two\r\n\r\n  indented\r\n",
    "cr_only": "a\rb\r\rc",
    "tabs_vt_ff": "a\tb\x0bc\x0cd\x1c\x1d\x1e\x1f",
    "lone_high": "abc\ud800def",
    "lone_low": "\udc00 x \udfff",
    "pair": "\ud83d\ude00 and \ud83d",
    "nel_ls_ps": "a\x85b\u2028c\u2029d",
    "zero_width": "a\u200bb\u200cc\u200dd\u2060e\ufeff",
    "empty": "",
}


def _category_samples() -> Dict[str, str]:
    """One text per general category: up to 48 code points of that category spread over the code space, in
    groups of three separated by spaces (so word-level and character-level paths both see them)."""
    by_cat: Dict[str, List[int]] = defaultdict(list)
    for cp in range(sys.maxunicode + 1):
        by_cat[unicodedata.category(chr(cp))].append(cp)
    out = {}
    for cat, cps in sorted(by_cat.items()):
        step = max(1, len(cps) // 48)
        chosen = cps[::step][:48]
        chars = [chr(c) for c in chosen]
        out[cat] = " ".join("".join(chars[i:i + 3]) for i in range(0, len(chars), 3))
    return out


CATEGORIES = _category_samples()
CASES = {**CONTROL_CASES, **{f"cat_{k}": v for k, v in CATEGORIES.items()}}


def _fix(text: str) -> str:
    return text.encode("utf-16", "surrogatepass").decode("utf-16", "replace")


def test_every_general_category_is_sampled():
    assert len(CATEGORIES) == 30, sorted(CATEGORIES)  # Lu Ll Lt Lm Lo Mn Mc Me Nd Nl No Pc ... Cn
    assert "\ud800" in CATEGORIES["Cs"]


# --------------------------------------------------------------------------------------------- the four families
@pytest.fixture(scope="module")
def cl100k():
    tiktoken = pytest.importorskip("tiktoken")
    from tiktoken.load import load_tiktoken_bpe

    from fastlm.formats.patterns import ENCODINGS

    path = data_path("tokenizers", "tiktoken", "cl100k_base.tiktoken")
    spec = ENCODINGS["cl100k_base"]
    ref = tiktoken.Encoding("cl100k_base", pat_str=spec["pattern"], mergeable_ranks=load_tiktoken_bpe(str(path)),
                            special_tokens=dict(spec["special_tokens"]))
    return fastlm.load(path), ref


@pytest.fixture(scope="module")
def bert():
    tokenizers = pytest.importorskip("tokenizers")
    path = data_path("tokenizers", "bert-base-uncased", "vocab.txt")
    return fastlm.load(path), tokenizers.BertWordPieceTokenizer(str(path), lowercase=True)


@pytest.fixture(scope="module", params=["xlnet_spiece", "kyoto_ja_unigram_8000", "llama2_tokenizer",
                                        "botchan_en_bpe_1000"])
def sp(request):
    spm = pytest.importorskip("sentencepiece")
    path = data_path("tokenizers", "sentencepiece", request.param + ".model")
    return fastlm.load(path), spm.SentencePieceProcessor(model_file=str(path))


@pytest.mark.parametrize("case", sorted(CASES))
def test_bpe_matches_tiktoken(cl100k, case):
    ours, ref = cl100k
    text = CASES[case]
    ids = ours.encode(text)
    assert ids == ref.encode(text)  # tiktoken repairs surrogates the same way
    assert ours.decode(ids) == _fix(text)
    assert ours.encode_batch([text, text], num_threads=2) == [ids, ids]


@pytest.mark.parametrize("case", sorted(CASES))
def test_wordpiece_matches_hf(bert, case):
    ours, ref = bert
    text = CASES[case]
    ids = ours.encode(text)
    assert ids == ref.encode(_fix(text), add_special_tokens=False).ids
    enc = ours(text)
    want = ref.encode(_fix(text))
    assert enc.ids == want.ids and enc.offsets == want.offsets


@pytest.mark.parametrize("case", sorted(CASES))
def test_sentencepiece_matches_reference(sp, case):
    ours, ref = sp
    text = CASES[case]
    ids = ours.encode(text)
    assert ids == ref.encode(_fix(text))
    assert ours.decode(ids) == ref.decode(ids)
    assert ours.normalize(text) == ref.normalize(_fix(text))


def test_references_reject_lone_surrogates_where_fastlm_repairs(bert, sp):
    """The documented difference: the reference raises, fastlm encodes the repaired text."""
    for ours, ref in (bert, sp):
        with pytest.raises((TypeError, RuntimeError, UnicodeError)):
            ref.encode("a\ud800b")
        assert ours.encode("a\ud800b") == ours.encode("a\ufffdb")


# --------------------------------------------------------------------------------------------- the bytes API
INVALID = [b"\xff", b"\xc3", b"a\xc3(b", b"\xe2\x82", b"\xf0\x9f\x98", b"\xed\xa0\x80", b"\xc0\xaf",
           b"\xf8\x88\x80\x80\x80", b"ok \xfe\xfe tail", bytes(range(256)), b"\x00\xff\x00"]


@pytest.mark.parametrize("data", INVALID, ids=[d[:8].hex() for d in INVALID])
def test_invalid_utf8_bytes_round_trip_through_byte_level_bpe(cl100k, data):
    """tiktoken has no public bytes encoder (its private _encode_bytes splits differently around the invalid
    byte), so the property is the exact round trip, and that valid text is unaffected by a following bad byte."""
    ours, _ = cl100k
    ids = ours.encode_bytes(data)
    assert ours.decode_bytes(ids) == data
    assert all(0 <= i < ours.n_vocab for i in ids)
    assert ours.encode_bytes(b"hello world " + data)[:2] == ours.encode("hello world")


@pytest.mark.parametrize("data", INVALID, ids=[d[:8].hex() for d in INVALID])
def test_invalid_utf8_bytes_in_sentencepiece_match_the_reference(sp, data):
    ours, ref = sp
    assert ours.encode_bytes(data) == ref.encode(data)


@pytest.mark.parametrize("data", INVALID, ids=[d[:8].hex() for d in INVALID])
def test_invalid_utf8_bytes_in_wordpiece_are_unknown_characters(bert, data):
    """HF has no bytes API; fastlm reads an invalid byte as a character outside the vocabulary ([UNK]); the valid
    text around it encodes as usual."""
    ours, _ = bert
    ids = ours.encode_bytes(b"hello " + data + b" world")
    hello, world = ours.encode("hello"), ours.encode("world")
    assert ids[:1] == hello and ids[-1:] == world
    unk = ours.token_to_id("[UNK]")
    if not data.decode("utf-8", "ignore").strip():  # nothing valid but whitespace/controls inside
        assert set(ids[1:-1]) <= {unk}, ids


def test_non_text_input_is_a_type_error(cl100k, bert, sp):
    for ours, _ in (cl100k, bert, sp):
        for bad in (None, 3, 1.5, ["a"], object()):
            with pytest.raises(TypeError):
                ours.encode(bad)
        with pytest.raises(TypeError):
            ours.encode_batch("not a list")
        with pytest.raises(TypeError):
            ours.encode_batch(["ok", 3])
