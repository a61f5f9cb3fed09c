"""Serving helpers: per-prompt token counting vs tiktoken, streaming decode vs HF tokenizers' DecodeStream, and
pickle round trips vs HF tokenizers. Same input, one process; outputs asserted equal.

    python -m pytest bench/bench_serving.py --benchmark-min-rounds=3

Inputs: the non-empty lines of en_sherlock_holmes.txt (counting: one call per line, as a server counts
prompts); the ids of the first 100 kB of en_sherlock_holmes.txt + ja_wagahaiwa_nekodearu.txt (streaming: one
`step` per id, as a server streams generated tokens).
"""
from __future__ import annotations

import pickle

import pytest

from conftest import best_of, record

import fastlm


@pytest.fixture(scope="module")
def lines(data_dir):
    text = (data_dir / "text" / "en_sherlock_holmes.txt").read_text(encoding="utf-8")
    return [ln for ln in text.splitlines() if ln.strip()]


@pytest.fixture(scope="module")
def mixed(data_dir):
    en = (data_dir / "text" / "en_sherlock_holmes.txt").read_text(encoding="utf-8")[:50000]
    ja = (data_dir / "text" / "ja_wagahaiwa_nekodearu.txt").read_text(encoding="utf-8")[:17000]
    return en + ja


def _mb(texts):
    return sum(len(t.encode("utf-8")) for t in texts) / 1e6


def test_count_vs_tiktoken(benchmark, data_dir, lines):
    tiktoken = pytest.importorskip("tiktoken")
    import tiktoken.load

    path = data_dir / "tokenizers" / "tiktoken" / "cl100k_base.tiktoken"
    tok = fastlm.load(path)
    ref = tiktoken.Encoding("cl100k_base", pat_str=tok.pattern, special_tokens=tok.special_tokens,
                            mergeable_ranks=tiktoken.load.load_tiktoken_bpe(str(path)))
    want = [len(ref.encode(ln)) for ln in lines]
    got = benchmark.pedantic(lambda: [tok.count(ln) for ln in lines], rounds=5, iterations=1, warmup_rounds=1)
    assert got == want
    record(benchmark, suite="serving-count", case="cl100k, one call per line", anchor="tiktoken len(encode)",
           mbytes=_mb(lines), anchor_s=best_of(lambda: [len(ref.encode(ln)) for ln in lines]))


def _hf_stream(hf, ids):
    from tokenizers.decoders import DecodeStream

    s = DecodeStream(skip_special_tokens=False)
    out = []
    for i in ids:
        piece = s.step(hf, i)
        if piece is not None:
            out.append(piece)
    return "".join(out)


def _ours_stream(tok, ids):
    s = tok.decode_stream()
    step = s.step
    return "".join([step(i) for i in ids]) + s.finish()


@pytest.mark.parametrize("name", ["gpt2", "bert-base-uncased"])
def test_stream_decode_vs_hf(benchmark, data_dir, mixed, tmp_path, name):
    tokenizers = pytest.importorskip("tokenizers")
    if name == "gpt2":
        tok = fastlm.load(data_dir / "tokenizers" / "gpt2" / "encoder.json")
        path = tmp_path / "tokenizer.json"
        tok.save(path)  # HF reads fastlm's tokenizer.json
    else:
        path = data_dir / "tokenizers" / name / "tokenizer.json"
        tok = fastlm.load(path)
    hf = tokenizers.Tokenizer.from_file(str(path))
    hf.no_truncation()  # the file's truncation/padding settings are not part of this comparison
    hf.no_padding()
    ids = tok.encode(mixed)
    assert ids == hf.encode(mixed, add_special_tokens=False).ids
    want = _hf_stream(hf, ids)
    got = benchmark.pedantic(lambda: _ours_stream(tok, ids), rounds=3, iterations=1, warmup_rounds=1)
    assert got == want == tok.decode(ids)
    record(benchmark, suite="serving-stream-decode", case=f"{name}, {len(ids)} ids one at a time",
           anchor="HF tokenizers DecodeStream", mbytes=_mb([mixed]),
           anchor_s=best_of(lambda: _hf_stream(hf, ids), repeat=3))


def test_pickle_roundtrip_vs_hf(benchmark, data_dir, lines):
    tokenizers = pytest.importorskip("tokenizers")
    path = data_dir / "tokenizers" / "bert-base-uncased" / "tokenizer.json"
    tok = fastlm.load(path)
    hf = tokenizers.Tokenizer.from_file(str(path))
    hf.no_truncation()
    hf.no_padding()
    sample = lines[:200]
    back = benchmark.pedantic(lambda: pickle.loads(pickle.dumps(tok)), rounds=10, iterations=1, warmup_rounds=1)
    hf_back = pickle.loads(pickle.dumps(hf))
    assert back(sample).ids == [e.ids for e in hf_back.encode_batch(sample)]
    record(benchmark, suite="serving-pickle", case="bert-base-uncased dumps+loads (warm process)",
           anchor="HF tokenizers pickle", mbytes=0.0,
           anchor_s=best_of(lambda: pickle.loads(pickle.dumps(hf)), repeat=5))
