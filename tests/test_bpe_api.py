"""Byte-level BPE API semantics: special tokens, decoding, batching, numpy, pickling, bad input."""
from __future__ import annotations

import os
import pickle
import random

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from _refs import fastlm_encoding, tiktoken_encoding
from conftest import data_path

import fastlm


@pytest.fixture(scope="module")
def cl():
    return fastlm_encoding("cl100k_base")


@pytest.fixture(scope="module")
def cl_ref():
    return tiktoken_encoding("cl100k_base")


def test_disallowed_special_raises_and_names_token(cl):
    with pytest.raises(ValueError, match="<\\|endoftext\\|>"):
        cl.encode("hello <|endoftext|>")
    with pytest.raises(ValueError, match="fim_prefix"):
        cl.encode("x<|fim_prefix|>y", allowed_special={"<|endoftext|>"})


def test_special_token_semantics_match_tiktoken(cl, cl_ref):
    text = "a<|endoftext|>b<|fim_prefix|>c<|endofprompt|>"
    for kw in (
        dict(allowed_special="all"),
        dict(allowed_special={"<|endoftext|>"}, disallowed_special=()),
        dict(disallowed_special=()),
        dict(allowed_special={"<|endoftext|>", "<|fim_prefix|>", "<|endofprompt|>"}),
    ):
        assert cl.encode(text, **kw) == cl_ref.encode(text, **kw), kw
    assert cl.encode_ordinary(text) == cl_ref.encode_ordinary(text)
    assert cl.encode(text, allowed_special="all")[1] == 100257


def test_decode_roundtrip_and_errors(cl):
    text = "Hello, wörld! 日本語 🎉\n\t<|endoftext|>"
    ids = cl.encode(text, allowed_special="all")
    assert cl.decode(ids) == text
    assert cl.decode_bytes(ids) == text.encode()
    assert cl.decode(np.asarray(ids, dtype=np.int64)) == text
    with pytest.raises(KeyError, match="unknown token id 999999"):
        cl.decode([1, 999999])
    with pytest.raises(KeyError):
        cl.decode([-1])
    assert cl.decode([]) == ""
    # a token that splits a multi-byte character decodes with replacement / strict error
    b = "é".encode()
    ids = cl.encode_bytes(b[:1])
    assert cl.decode_bytes(ids) == b[:1]
    assert cl.decode(ids) == "\ufffd"
    with pytest.raises(UnicodeDecodeError):
        cl.decode(ids, errors="strict")


@settings(max_examples=200, deadline=None)
@given(text=st.text(max_size=80))
def test_decode_encode_roundtrip_any_str(text):
    tok = fastlm_encoding("o200k_base")
    assert tok.decode(tok.encode_ordinary(text)) == text


@settings(max_examples=200, deadline=None)
@given(data=st.binary(max_size=80))
def test_bytes_api_roundtrips_arbitrary_bytes(data):
    tok = fastlm_encoding("cl100k_base")
    assert tok.decode_bytes(tok.encode_bytes(data)) == data


def test_lone_surrogates_like_tiktoken(cl, cl_ref):
    for s in ["a\ud800b", "\udfff", "x\ud83d\ude00y", "\ud83d"]:
        assert cl.encode(s) == cl_ref.encode(s)
        assert cl.encode_batch([s, "ok"]) == [cl_ref.encode(s), cl_ref.encode("ok")]


def test_nul_empty_and_large(cl, cl_ref):
    assert cl.encode("") == []
    assert cl.encode("\x00") == cl_ref.encode("\x00")
    assert cl.encode("a\x00b\x00\x00") == cl_ref.encode("a\x00b\x00\x00")
    big = ("The quick brown fox jumps over the lazy dog. " * 1200000)[: 50 * 1024 * 1024]
    ids = cl.encode_to_numpy(big)
    assert ids.dtype == np.uint32 and len(ids) > 10_000_000
    assert ids[:20].tolist() == cl_ref.encode(big[:100])[:20]


def test_batch_matches_single_and_numpy_layout(cl):
    rng = random.Random(0)
    lines = data_path("text", "en_tweets_emotion_train.txt").read_text(encoding="utf-8").splitlines()
    rng.shuffle(lines)
    lines = lines[:500] + ["", "日本語"]
    single = [cl.encode(t) for t in lines]
    for nt in (None, 1, 2, 3):
        assert cl.encode_batch(lines, num_threads=nt) == single
    ids, offs = cl.encode_batch_to_numpy(lines, num_threads=2)
    assert ids.dtype == np.uint32 and offs.dtype == np.int64 and offs.shape == (len(lines) + 1,)
    for i in (0, 7, len(lines) - 1):
        assert ids[offs[i]:offs[i + 1]].tolist() == single[i]
    with pytest.raises(ValueError, match="num_threads"):
        cl.encode_batch(lines, num_threads=0)
    with pytest.raises(TypeError):
        cl.encode_batch("not a list")
    with pytest.raises(TypeError, match="texts\\[1\\]"):
        cl.encode_batch(["ok", 3])


def test_batch_disallowed_special_raises(cl):
    with pytest.raises(ValueError, match="endoftext"):
        cl.encode_batch(["fine", "bad <|endoftext|>"], num_threads=2)


def test_tokenize_entry_point(cl, data_dir):
    p = data_path("tokenizers", "tiktoken", "cl100k_base.tiktoken")
    assert fastlm.tokenize("hello world", p) == cl.encode("hello world")
    assert fastlm.tokenize(["a", "b c"], cl) == [cl.encode("a"), cl.encode("b c")]
    ids, offs = fastlm.tokenize(["a", "b c"], cl, return_tensors="np")
    assert offs.tolist() == [0, 1, 3]
    # pipeline default: special-token text is ordinary text, never an error
    assert fastlm.tokenize("<|endoftext|>", cl) == cl.encode_ordinary("<|endoftext|>")


def test_pickle_roundtrip(cl):
    tok2 = pickle.loads(pickle.dumps(cl))
    text = "pickled tokenizers encode the same <|endoftext|>"
    assert tok2.encode(text, allowed_special="all") == cl.encode(text, allowed_special="all")
    assert tok2.name == cl.name


def test_from_ranks_with_builtin_and_custom_patterns(cl_ref):
    ranks = cl_ref._mergeable_ranks
    fast = fastlm.Tokenizer.from_ranks(ranks, pattern="cl100k", special_tokens={"<|endoftext|>": 100257})
    text = data_path("text", "code_typing_extensions.py.txt").read_text(encoding="utf-8")[:20000]
    assert fast.encode_ordinary(text) == cl_ref.encode_ordinary(text)
    # a custom regex runs on the general path and matches tiktoken with the same regex
    import tiktoken

    pat = r"""\p{L}+|\p{N}|[^\p{L}\p{N}]+"""
    ref2 = tiktoken.Encoding("custom", pat_str=pat, mergeable_ranks=ranks, special_tokens={"<|endoftext|>": 100257})
    fast2 = fastlm.Tokenizer.from_ranks(ranks, pattern=pat, special_tokens={"<|endoftext|>": 100257})
    assert fast2.encode_ordinary(text) == ref2.encode_ordinary(text)
    assert fast2.encode("x<|endoftext|>", allowed_special="all") == ref2.encode("x<|endoftext|>", allowed_special="all")
    with pytest.raises(ValueError, match="endoftext"):
        fast2.encode("x<|endoftext|>")


def test_tiktoken_file_roundtrip(tmp_path, cl):
    out = tmp_path / "mine.tiktoken"
    cl.save(out)
    assert out.read_bytes() == data_path("tokenizers", "tiktoken", "cl100k_base.tiktoken").read_bytes()
    with pytest.raises(ValueError, match="pattern= is required"):
        fastlm.load(out)
    again = fastlm.load(out, pattern="cl100k")
    assert again.encode_ordinary("round trip") == cl.encode_ordinary("round trip")


@pytest.mark.parametrize(
    "content,msg",
    [
        (b"", "no tokens"),
        (b"IQ== 0\nIg== x\n", ":2: invalid rank"),
        (b"IQ== 0\n!!!! 1\n", ":2: invalid base64"),
        (b"IQ== 0\nIg==\n", ":2: missing rank"),
        (b"IQ== 0\nIQ== 1\n", "duplicate token bytes"),
        (b"IQ== 0\nIg== 0\n", "duplicate token id"),
        (b"IQ== 0\n", "single byte"),
    ],
)
def test_corrupt_rank_files_name_file_and_line(tmp_path, content, msg):
    p = tmp_path / "bad.tiktoken"
    p.write_bytes(content)
    with pytest.raises(ValueError, match=msg) as ei:
        fastlm.load(p, pattern="r50k")
    if ":" in msg:
        assert "bad.tiktoken" in str(ei.value)


def test_truncated_published_file_fails_cleanly(tmp_path):
    src = data_path("tokenizers", "tiktoken", "r50k_base.tiktoken").read_bytes()
    for cut in (len(src) // 3, len(src) // 2 + 7, len(src) - 3):
        p = tmp_path / "r50k_base.tiktoken"
        p.write_bytes(src[:cut])
        try:
            tok = fastlm.load(p)
        except ValueError as e:
            assert "r50k_base.tiktoken" in str(e)
        else:  # a cut at a line end is a valid (smaller) vocabulary
            assert tok.decode(tok.encode_ordinary("hello")) == "hello"


def test_bad_arguments(cl):
    with pytest.raises(TypeError):
        cl.encode("x", allowed_special="<|endoftext|>")
    with pytest.raises(TypeError):
        cl.encode_bytes("not bytes")
    with pytest.raises(FileNotFoundError):
        fastlm.load("/nonexistent/file.tiktoken")
    with pytest.raises(ValueError, match="pattern"):
        fastlm.Tokenizer.from_ranks({b"a": 0}, pattern="")


def test_adversarial_inputs_linear_and_exact():
    tok = fastlm_encoding("o200k_base")
    ref = tiktoken_encoding("o200k_base")
    for s in ("a" * 20000, "é" * 5000, "1" * 9999, "!" * 10000, "ab" * 6000, " " * 9000 + "x"):
        assert tok.encode_ordinary(s) == ref.encode_ordinary(s)


@pytest.mark.parametrize("name", ["cl100k_base", "o200k_base"])
def test_long_pieces_exact(name):
    """Pieces over 1 KB take the rank-bucket path (or its exact fallback); both must equal tiktoken."""
    tok, ref = fastlm_encoding(name), tiktoken_encoding(name)
    rng = random.Random(7)
    ja = data_path("text", "ja_wagahaiwa_nekodearu.txt").read_text(encoding="utf-8")
    letters = "".join(ch for ch in ja if ch.isalpha())[:4000]
    samples = [
        "a" * 3000, " " * 5000, "ab" * 2000, "abc" * 1500, "é" * 1500, "語" * 1200, letters,
        "".join(rng.choice("abcdefghij") for _ in range(6000)),
        "".join(rng.choice("ーのはにを日本語漢字") for _ in range(2000)),
        "x" + "\u0301" * 3000, "\n" * 3000, "9" * 4000, "!?" * 2500,
    ]
    for s in samples:
        assert tok.encode_ordinary(s) == ref.encode_ordinary(s), s[:20]


def test_thread_pool_survives_fork_and_concurrent_callers(cl):
    """The persistent worker pool: forked children and concurrent Python threads get correct results."""
    import multiprocessing as mp
    import threading

    lines = data_path("text", "en_tinyshakespeare.txt").read_text(encoding="utf-8").splitlines()[:4000]
    expected = [cl.encode(t) for t in lines]
    assert cl.encode_batch(lines, num_threads=2) == expected  # starts the pool in this process
    with mp.get_context("fork").Pool(2) as pool:
        got = pool.starmap(_encode_chunk, [(lines[:2000],), (lines[2000:],)])
    assert got[0] + got[1] == expected
    results = {}

    def worker(i):
        results[i] = cl.encode_batch(lines, num_threads=2)

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert all(results[i] == expected for i in range(6))


def _encode_chunk(chunk):
    return fastlm_encoding("cl100k_base").encode_batch(chunk, num_threads=2)
