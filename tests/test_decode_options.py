"""decode(skip_special_tokens=...) across the three families."""
from __future__ import annotations

import pytest

from conftest import data_path

import fastlm


def test_wordpiece_skip_special_tokens_matches_hf():
    tokenizers = pytest.importorskip("tokenizers")
    path = data_path("tokenizers", "bert-base-uncased", "tokenizer.json")
    tok = fastlm.load(path)
    hf = tokenizers.Tokenizer.from_file(str(path))
    for text in ["hello world", "Héllo, wörld! 日本", "a [SEP] b"]:
        ids = tok(text).ids
        assert ids[0] == tok.special_tokens["[CLS]"]
        assert tok.decode(ids, skip_special_tokens=True) == hf.decode(ids, skip_special_tokens=True)


def test_bpe_keeps_specials_by_default_and_can_skip():
    tok = fastlm.load(data_path("tokenizers", "tiktoken", "cl100k_base.tiktoken"))
    ids = tok.encode("a<|endoftext|>b", allowed_special="all")
    assert tok.decode(ids) == "a<|endoftext|>b"
    assert tok.decode(ids, skip_special_tokens=True) == "ab"
    assert tok.decode_batch([ids, ids], skip_special_tokens=True) == ["ab", "ab"]


def test_sentencepiece_skip_control_tokens():
    sp = fastlm.load(data_path("tokenizers", "sentencepiece", "llama2_tokenizer.model"))
    ids = sp.encode("Hello world")
    assert sp.decode([1] + ids + [2], skip_special_tokens=True) == "Hello world"


def test_wordpiece_decode_with_specials_matches_hf():
    tokenizers = pytest.importorskip("tokenizers")
    path = data_path("tokenizers", "bert-base-uncased", "tokenizer.json")
    tok = fastlm.load(path)
    hf = tokenizers.Tokenizer.from_file(str(path))
    hf.no_padding()
    hf.no_truncation()
    for text, pair in [("hello world", None), ("Hello, world!", "second one."), ("unaffable", "x y")]:
        ids = tok(text, pair=pair).ids
        assert tok.decode(ids) == hf.decode(ids, skip_special_tokens=False)
