"""Serving helpers: streaming decode, count / count_till_limit, truncate at a token boundary.

The oracle for streaming is `tok.decode` on the whole id list (itself checked against the reference libraries);
for truncation, re-encoding the result.
"""
from __future__ import annotations

import random

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from conftest import data_path

import fastlm
from fastlm.serving import GENERIC, StreamRule

TOKENIZERS = {
    "cl100k": ("tiktoken", "cl100k_base.tiktoken"),
    "gpt2": ("gpt2", "encoder.json"),
    "bert": ("bert-base-uncased", "tokenizer.json"),
    "llama2": ("sentencepiece", "llama2_tokenizer.model"),
    "kyoto": ("sentencepiece", "kyoto_ja_unigram_8000.model"),
}
_LOADED: dict = {}


def load(name: str) -> fastlm.Tokenizer:
    if name not in _LOADED:
        _LOADED[name] = fastlm.load(data_path("tokenizers", *TOKENIZERS[name]))
    return _LOADED[name]


def sample_text() -> str:
    ja = data_path("text", "ja_wagahaiwa_nekodearu.txt").read_text(encoding="utf-8")[:1500]
    en = data_path("text", "en_tweets_emotion_train.txt").read_text(encoding="utf-8")[:1500]
    ko = data_path("text", "ko_constitution.txt").read_text(encoding="utf-8")[:800]
    return en + " 🎉🫠 isn't it? don't, (x) ##y " + ja + ko


def stream_all(tok: fastlm.Tokenizer, ids, **kw) -> list:
    s = tok.decode_stream(**kw)
    return [s.step(i) for i in ids] + [s.finish()]


@pytest.mark.parametrize("name", list(TOKENIZERS))
def test_stream_equals_decode_on_corpus(name):
    tok = load(name)
    text = sample_text()
    ids = tok.encode(text)
    parts = stream_all(tok, ids)
    want = tok.decode(ids)
    assert "".join(parts) == want
    # every intermediate output is final: the running concatenation is always a prefix of the full decode
    acc = ""
    for p in parts:
        acc += p
        assert want.startswith(acc)


@pytest.mark.parametrize("name", list(TOKENIZERS))
def test_stream_equals_decode_on_random_ids(name):
    """Random ids (broken UTF-8, byte-fallback pieces, '##' pieces first, specials) decode as decode() does."""
    tok = load(name)
    rng = random.Random(1234)
    valid = [i for i in (rng.randrange(tok.n_vocab) for _ in range(3000)) if tok._core.token_bytes(i) is not None]
    valid += list(tok.special_tokens.values())
    for trial in range(150):
        ids = [rng.choice(valid) for _ in range(rng.randrange(1, 14))]
        assert "".join(stream_all(tok, ids)) == tok.decode(ids), ids


@given(st.text(min_size=0, max_size=60))
@settings(max_examples=150, deadline=None)
def test_stream_property_bytelevel_and_sentencepiece(text):
    for name in ("cl100k", "llama2"):
        tok = load(name)
        ids = tok.encode(text)
        assert "".join(stream_all(tok, ids)) == tok.decode(ids)


def test_partial_utf8_is_held_back():
    tok = load("cl100k")
    text = "a🫠b"
    ids = tok.encode(text)
    assert len(ids) > 3  # the emoji is split over several byte-level tokens
    parts = stream_all(tok, ids)
    assert "".join(parts) == text
    assert all("\ufffd" not in p for p in parts)
    assert "🫠" in parts  # emitted whole, once its last byte arrived
    assert parts.count("") >= 2  # the steps that only carried partial bytes emitted nothing


def test_unfinished_sequence_flushes_as_replacement():
    tok = load("cl100k")
    ids = tok.encode("🫠")[:-1]
    s = tok.decode_stream()
    assert s.feed(ids) == ""
    assert s.finish() == tok.decode(ids)
    assert "\ufffd" in tok.decode(ids)
    s2 = tok.decode_stream(errors="ignore")
    assert s2.feed(ids) + s2.finish() == ""


def test_byte_fallback_pieces_stream():
    tok = load("llama2")
    text = "x 🫠 y"
    ids = tok.encode(text)
    assert any(tok.id_to_token(i).startswith("<0x") for i in ids)  # the emoji is byte-fallback pieces
    parts = stream_all(tok, ids)
    assert "".join(parts) == tok.decode(ids)
    assert all("\ufffd" not in p for p in parts)


def test_wordpiece_joins():
    tok = load("bert")
    ids = tok.encode("the unaffable gentleman isn't here.")
    assert any(tok.id_to_token(i).startswith("##") for i in ids)
    parts = stream_all(tok, ids)
    assert "".join(parts) == tok.decode(ids)
    assert not any(p.startswith("##") for p in parts)


def test_skip_special_tokens_and_stream_iterator():
    tok = load("cl100k")
    ids = tok.encode("hi<|endoftext|>there 🎉", allowed_special="all")
    eot = tok.special_tokens["<|endoftext|>"]
    assert eot in ids
    assert "".join(stream_all(tok, ids, skip_special_tokens=True)) == tok.decode([i for i in ids if i != eot])
    assert "".join(tok.decode_stream().stream(iter(ids))) == tok.decode(ids)
    assert all(tok.decode_stream().stream(ids))  # no empty pieces yielded


def test_stream_bad_input():
    tok = load("cl100k")
    s = tok.decode_stream()
    with pytest.raises(KeyError, match="unknown token id"):
        s.step(10**9)
    with pytest.raises(KeyError):
        s.step(-1)
    with pytest.raises(TypeError):
        s.step("5")  # type: ignore[arg-type]
    with pytest.raises(LookupError):
        tok.decode_stream(errors="no-such-handler")
    assert s.step(np.uint32(15339)) == tok.decode([15339])


def test_stream_rule_extension_point(monkeypatch):
    """A family's hold rule delays text that a later token could still change; the total is unchanged."""
    tok = load("bert")
    held = StreamRule(context=2, hold=lambda b: 2 if b.endswith(b" '") else 0)
    monkeypatch.setattr(tok, "stream_rule", lambda: held)
    ids = tok.encode("it ' s")
    parts = stream_all(tok, ids)
    assert "".join(parts) == tok.decode(ids)
    quote = tok.token_to_id("'")
    at = ids.index(quote)
    assert parts[at] == ""  # " '" was held back
    assert parts[at + 1].startswith(" '")
    assert tok.decode_stream()._rule is held
    monkeypatch.setattr(tok, "stream_rule", lambda: StreamRule(context=0))
    with pytest.raises(ValueError, match="context"):
        tok.decode_stream()


def test_generic_rule_is_exact_for_bytelevel_too(monkeypatch):
    tok = load("gpt2")
    monkeypatch.setattr(tok, "stream_rule", lambda: GENERIC)
    ids = tok.encode(sample_text())
    assert "".join(stream_all(tok, ids)) == tok.decode(ids)


# ------------------------------------------------------------------------------------------------- counting
@pytest.mark.parametrize("name", list(TOKENIZERS))
def test_count(name):
    tok = load(name)
    text = sample_text()
    n = len(tok.encode(text))
    assert tok.count(text) == n
    assert tok.count("") == 0
    assert tok.count_till_limit(text, n) == n
    assert tok.count_till_limit(text, n + 100) == n
    assert tok.count_till_limit(text, n - 1) is None
    assert tok.count_till_limit(text, 0) is None


def test_count_special_token_rules_follow_encode():
    tok = load("cl100k")
    with pytest.raises(ValueError, match="endoftext"):
        tok.count("a<|endoftext|>")
    assert tok.count("a<|endoftext|>", allowed_special="all") == 2
    assert tok.count("a<|endoftext|>", disallowed_special=()) == len(tok.encode_ordinary("a<|endoftext|>"))
    assert tok.count("a\ud800b") == len(tok.encode("a\ud800b"))  # lone surrogate repaired as encode() does
    with pytest.raises(ValueError, match="limit"):
        tok.count_till_limit("a", -1)
    with pytest.raises(TypeError):
        tok.count(b"bytes")  # type: ignore[arg-type]


# ------------------------------------------------------------------------------------------------- truncate
@pytest.mark.parametrize("name", list(TOKENIZERS))
@pytest.mark.parametrize("side", ["right", "left"])
def test_truncate_is_a_token_prefix(name, side):
    tok = load(name)
    text = sample_text()
    ids = tok.encode(text)
    for n in (0, 1, 7, 64, 300, len(ids) - 1, len(ids), len(ids) + 5):
        cut = tok.truncate(text, n, side=side)
        got = tok.encode(cut)
        assert len(got) <= n
        if side == "right":
            assert text.startswith(cut)
            assert got == ids[:len(got)]
        else:
            assert text.endswith(cut)
            assert got == ids[len(ids) - len(got):]
        if n >= len(ids):
            assert cut == text
    # cuts are tight on ordinary prose for the byte-level and WordPiece tokenizers
    if name in ("cl100k", "gpt2", "bert"):
        assert len(tok.encode(tok.truncate(text, 64, side=side))) >= 60


@given(st.text(max_size=80), st.integers(min_value=0, max_value=30))
@settings(max_examples=150, deadline=None)
def test_truncate_property_bytelevel(text, n):
    tok = load("cl100k")
    ids = tok.encode_ordinary(text)
    cut = tok.truncate(text, n, disallowed_special=())
    got = tok.encode_ordinary(cut)
    fixed = text.encode("utf-16", "surrogatepass").decode("utf-16", "replace")
    assert fixed.startswith(cut)
    assert len(got) <= n and got == ids[:len(got)]


def test_truncate_bad_input():
    tok = load("cl100k")
    with pytest.raises(ValueError, match="max_tokens"):
        tok.truncate("abc", -1)
    with pytest.raises(ValueError, match="side"):
        tok.truncate("abc", 1, side="middle")
    with pytest.raises(TypeError):
        tok.truncate(b"abc", 1)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="endoftext"):
        tok.truncate("a<|endoftext|>", 1)
    assert tok.truncate("a<|endoftext|>b", 2, allowed_special="all") == "a<|endoftext|>"
