"""SentencePiece encode throughput: fastlm vs the `sentencepiece` library, same .model, same lines.

    python -m pytest bench/bench_unigram.py --benchmark-min-rounds=3

Input: every line of the shared corpora (en, ja, ko, code) encoded as a batch, as data pipelines do. Output is
asserted identical. Training benchmarks are not here yet (the trainer is not implemented).
"""
from __future__ import annotations

import pytest

from conftest import best_of, record

import fastlm

CORPORA = ["en_tinyshakespeare.txt", "en_sherlock_holmes.txt", "ja_wagahaiwa_nekodearu.txt",
           "ko_chatbot_qa.txt", "code_lodash.js.txt"]
MODELS = ["xlnet_spiece", "llama2_tokenizer", "kyoto_ja_unigram_8000"]


@pytest.fixture(scope="module")
def lines(data_dir):
    out = []
    for n in CORPORA:
        out += (data_dir / "text" / n).read_text(encoding="utf-8").split("\n")
    return out


@pytest.mark.parametrize("threads", [1, 2])
@pytest.mark.parametrize("model", MODELS)
def test_encode_vs_sentencepiece(benchmark, data_dir, lines, model, threads):
    spm = pytest.importorskip("sentencepiece")
    path = data_dir / "tokenizers" / "sentencepiece" / f"{model}.model"
    ref = spm.SentencePieceProcessor(model_file=str(path))
    tok = fastlm.load(path)
    expected = ref.encode(lines, num_threads=threads)
    got = benchmark.pedantic(tok.encode_batch, args=(lines,), kwargs={"num_threads": threads}, rounds=3,
                             iterations=1, warmup_rounds=1)
    assert got == expected
    record(benchmark, suite=f"sentencepiece-{model}-{threads}thread", case="lines", anchor="sentencepiece",
           mbytes=sum(len(x.encode()) for x in lines) / 1e6,
           anchor_s=best_of(lambda: ref.encode(lines, num_threads=threads), repeat=3))
