"""fastlm byte-level BPE gives ids identical to tiktoken (r50k/p50k/cl100k/o200k) and HF tokenizers (GPT-2)."""
from __future__ import annotations

import unicodedata

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from _refs import fastlm_encoding, tiktoken_encoding
from conftest import data_path, text_files

import fastlm

NAMES = ["r50k_base", "p50k_base", "cl100k_base", "o200k_base"]


def corpus_files():
    files = text_files()
    assert files, "no shared text files"
    return files + [data_path("unicode", "blns.txt"), data_path("unicode", "UTF-8-demo.txt")]


@pytest.mark.parametrize("name", NAMES)
def test_whole_files_identical_to_tiktoken(name):
    ref, tok = tiktoken_encoding(name), fastlm_encoding(name)
    for f in corpus_files():
        text = f.read_text(encoding="utf-8")
        assert tok.encode_ordinary(text) == ref.encode_ordinary(text), f.name
        assert tok.encode(text, allowed_special="all") == ref.encode(text, allowed_special="all"), f.name


@pytest.mark.parametrize("name", NAMES)
def test_lines_identical_to_tiktoken(name):
    ref, tok = tiktoken_encoding(name), fastlm_encoding(name)
    for f in corpus_files():
        lines = f.read_text(encoding="utf-8").splitlines(keepends=True)
        assert tok.encode_ordinary_batch(lines) == ref.encode_ordinary_batch(lines), f.name


# Code points assigned in Unicode 14 (this Python's unicodedata): every engine classifies them alike.
_ASSIGNED = st.characters(codec="utf-8").filter(lambda c: unicodedata.category(c) != "Cn")
_TEXT = st.lists(
    st.one_of(_ASSIGNED, st.sampled_from(list(" \t\r\n'sStTlLvVeErRdDmM/09 "))), max_size=60
).map("".join)


@pytest.mark.parametrize("name", ["r50k_base", "cl100k_base", "o200k_base"])
@settings(max_examples=300, deadline=None)
@given(text=_TEXT)
def test_property_identical_to_tiktoken(name, text):
    ref, tok = tiktoken_encoding(name), fastlm_encoding(name)
    ids = tok.encode_ordinary(text)
    assert ids == ref.encode_ordinary(text)
    assert tok.decode(ids) == text


@pytest.mark.parametrize("name", ["cl100k_base", "o200k_base"])
def test_contractions_digits_and_whitespace(name):
    ref, tok = tiktoken_encoding(name), fastlm_encoding(name)
    samples = [
        "I'LL DON'T we'Ve they'RE it's", "1234567890123 45 6", "x  \n\n\t  y   ", "trailing   ",
        "a\r\nb\rc\n", "\u00a0\u3000\u2028", "don’t", "HTTPServerError getHTTPResponseCode",
    ]
    for s in samples:
        assert tok.encode_ordinary(s) == ref.encode_ordinary(s), s


def test_gpt2_files_identical_to_hf_tokenizers():
    tokenizers = pytest.importorskip("tokenizers")
    enc = data_path("tokenizers", "gpt2", "encoder.json")
    merges = data_path("tokenizers", "gpt2", "vocab.bpe")
    hf = tokenizers.Tokenizer(tokenizers.models.BPE.from_file(str(enc), str(merges)))
    hf.pre_tokenizer = tokenizers.pre_tokenizers.ByteLevel(add_prefix_space=False)
    hf.decoder = tokenizers.decoders.ByteLevel()
    tok = fastlm.Tokenizer.from_gpt2(enc, merges)
    r50k = fastlm_encoding("r50k_base")
    for f in corpus_files():
        lines = f.read_text(encoding="utf-8").splitlines(keepends=True)[:3000]
        ours = tok.encode_ordinary_batch(lines)
        theirs = [e.ids for e in hf.encode_batch(lines, add_special_tokens=False)]
        assert ours == theirs, f.name
        assert r50k.encode_ordinary_batch(lines) == ours, f.name


def test_load_detects_formats(data_dir):
    t1 = fastlm.load(data_path("tokenizers", "tiktoken", "cl100k_base.tiktoken"))
    assert t1.name == "cl100k_base" and t1.n_vocab == 100277
    assert t1.special_tokens["<|endofprompt|>"] == 100276
    t2 = fastlm.load(data_path("tokenizers", "gpt2"))
    assert t2.encode("hello world") == [31373, 995]
    t3 = fastlm.load(data_path("tokenizers", "gpt2", "vocab.bpe"))
    assert t3.encode(" the") == [262]
