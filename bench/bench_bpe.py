"""Byte-level BPE encode throughput: fastlm vs tiktoken, rs-bpe and HF tokenizers on the shared corpora.

    pip install ".[bench]" rs-bpe && python -m pytest bench/bench_bpe.py --benchmark-min-rounds=5
"""
from __future__ import annotations

import pytest

from conftest import best_of, record

import fastlm
from fastlm.formats.patterns import ENCODINGS

CORPORA = ["en_tinyshakespeare.txt", "en_sherlock_holmes.txt", "ja_wagahaiwa_nekodearu.txt",
           "ko_chatbot_qa.txt", "code_lodash.js.txt", "code_typing_extensions.py.txt"]


@pytest.fixture(scope="module")
def corpus(data_dir):
    texts = {n: (data_dir / "text" / n).read_text(encoding="utf-8") for n in CORPORA}
    texts["all"] = "".join(texts[n] for n in CORPORA)
    return texts


def _tiktoken(name, data_dir):
    tiktoken = pytest.importorskip("tiktoken")
    import tiktoken.load

    spec = ENCODINGS[name]
    ranks = tiktoken.load.load_tiktoken_bpe(str(data_dir / "tokenizers" / "tiktoken" / f"{name}.tiktoken"))
    return tiktoken.Encoding(name, pat_str=spec["pattern"], mergeable_ranks=ranks, special_tokens=spec["special_tokens"])


@pytest.mark.parametrize("name", ["cl100k_base", "o200k_base"])
@pytest.mark.parametrize("case", ["all", "en_sherlock_holmes.txt", "ja_wagahaiwa_nekodearu.txt",
                                  "ko_chatbot_qa.txt", "code_lodash.js.txt"])
def test_single_thread_vs_tiktoken(benchmark, corpus, data_dir, name, case):
    text = corpus[case]
    tok = fastlm.load(data_dir / "tokenizers" / "tiktoken" / f"{name}.tiktoken")
    ref = _tiktoken(name, data_dir)
    expected = ref.encode_ordinary(text)
    got = benchmark.pedantic(tok.encode_ordinary, args=(text,), rounds=5, iterations=1, warmup_rounds=1)
    assert got == expected
    record(benchmark, suite=f"bpe-{name}-1thread", case=case, anchor="tiktoken",
           mbytes=len(text.encode()) / 1e6, anchor_s=best_of(lambda: ref.encode_ordinary(text)))


@pytest.mark.parametrize("name", ["cl100k_base", "o200k_base"])
def test_single_thread_vs_rs_bpe(benchmark, corpus, data_dir, name):
    rs = pytest.importorskip("rs_bpe.bpe")
    text = corpus["all"]
    ref = getattr(rs.openai, name)()
    tok = fastlm.load(data_dir / "tokenizers" / "tiktoken" / f"{name}.tiktoken")
    expected = list(ref.encode(text))
    got = benchmark.pedantic(tok.encode_ordinary, args=(text,), rounds=5, iterations=1, warmup_rounds=1)
    assert got == expected
    record(benchmark, suite=f"bpe-{name}-1thread", case="all", anchor="rs-bpe",
           mbytes=len(text.encode()) / 1e6, anchor_s=best_of(lambda: ref.encode(text)))


def test_gpt2_vs_hf_tokenizers(benchmark, corpus, data_dir):
    tokenizers = pytest.importorskip("tokenizers")
    text = corpus["all"]
    lines = text.splitlines(keepends=True)
    enc, merges = data_dir / "tokenizers" / "gpt2" / "encoder.json", data_dir / "tokenizers" / "gpt2" / "vocab.bpe"
    hf = tokenizers.Tokenizer(tokenizers.models.BPE.from_file(str(enc), str(merges)))
    hf.pre_tokenizer = tokenizers.pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok = fastlm.Tokenizer.from_gpt2(enc, merges)
    expected = [e.ids for e in hf.encode_batch(lines, add_special_tokens=False)]
    got = benchmark.pedantic(tok.encode_ordinary_batch, args=(lines,), kwargs={"num_threads": 1}, rounds=3,
                             iterations=1, warmup_rounds=1)
    assert got == expected
    # HF's batch uses its own thread pool (RAYON_NUM_THREADS); compare against its single-text encode loop
    anchor = best_of(lambda: [hf.encode(t, add_special_tokens=False) for t in lines], repeat=2)
    record(benchmark, suite="bpe-gpt2-1thread", case="all", anchor="hf-tokenizers",
           mbytes=len(text.encode()) / 1e6, anchor_s=anchor)


@pytest.mark.parametrize("name", ["cl100k_base", "o200k_base"])
def test_batch_two_threads(benchmark, corpus, data_dir, name):
    lines = corpus["all"].splitlines(keepends=True)
    mb = len(corpus["all"].encode()) / 1e6
    tok = fastlm.load(data_dir / "tokenizers" / "tiktoken" / f"{name}.tiktoken")
    ref = _tiktoken(name, data_dir)
    expected = ref.encode_ordinary_batch(lines, num_threads=2)
    got = benchmark.pedantic(tok.encode_ordinary_batch, args=(lines,), kwargs={"num_threads": 2}, rounds=5,
                             iterations=1, warmup_rounds=1)
    assert got == expected
    record(benchmark, suite=f"bpe-{name}-2threads", case="all", anchor="tiktoken",
           mbytes=mb, anchor_s=best_of(lambda: ref.encode_ordinary_batch(lines, num_threads=2)))
    # scaling against fastlm's own single thread
    single = best_of(lambda: tok.encode_ordinary_batch(lines, num_threads=1))
    record(benchmark, suite=f"bpe-{name}-2threads", case="all", anchor="fastlm-1thread", mbytes=mb, anchor_s=single)


@pytest.mark.parametrize("case,make", [
    ("1MB-one-char", lambda: "a" * 1_000_000),
    ("1MB-no-whitespace", lambda: ("Thequickbrownfoxjumpsoverthelazydog" * 30000)[:1_000_000]),
    ("1MB-spaces", lambda: " " * 1_000_000),
    ("1MB-one-CJK-char", lambda: "語" * 333_333),
])
def test_adversarial_per_mb_vs_prose(benchmark, corpus, data_dir, case, make):
    """Time per MB on adversarial input, relative to prose (ratio = prose time per MB / adversarial time per MB)."""
    tok = fastlm.load(data_dir / "tokenizers" / "tiktoken" / "o200k_base.tiktoken")
    text = make()
    prose = corpus["en_sherlock_holmes.txt"]
    benchmark.pedantic(tok.encode_ordinary, args=(text,), rounds=3, iterations=1, warmup_rounds=1)
    prose_s = best_of(lambda: tok.encode_ordinary(prose)) / (len(prose.encode()) / 1e6)
    record(benchmark, suite="bpe-o200k-adversarial", case=case, anchor="fastlm-prose",
           mbytes=len(text.encode()) / 1e6, anchor_s=prose_s * len(text.encode()) / 1e6)
