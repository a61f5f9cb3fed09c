"""SentencePiece encode throughput: fastlm vs the `sentencepiece` library and HF `tokenizers`, same .model, same lines.

    python -m pytest bench/bench_unigram.py && python bench/report.py

Input: every line of the shared corpora (en, ja, ko, code) encoded as one batch, as data pipelines do, returning
lists of ids. Output is asserted identical to sentencepiece's.

The HF tokenizer is built offline from the same .model file by transformers' `SpmConverter` (its normalizer spec,
Unigram scores or BPE merges ranked by score, user-defined pieces); its ids are asserted equal to sentencepiece's
on every line before it is timed. HF's `encode_batch` runs on its own thread pool: the 1-thread rows time it with
TOKENIZERS_PARALLELISM=false, the 2-thread rows with it on (the pool has one thread per core: 2 on the reference
machine).

Garbage collection stays on, as in a pipeline: building 84k result lists triggers collections that cost every
library here the same (about a third of sentencepiece's time on this machine), which caps the ratios.

The anchor runs right before each timed fastlm round (pytest-benchmark's setup hook, untimed by it), so both see
the same machine load; each side's best round is compared. (Timing the anchor in a separate loop after fastlm's
rounds was the first version: on a shared machine a load change between the two loops moved the ratio by 30%.)
"""
from __future__ import annotations

import os
import time

import pytest

from conftest import record

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


def _model(data_dir, model):
    return data_dir / "tokenizers" / "sentencepiece" / f"{model}.model"


def _hf_from_model(path):
    """An HF `tokenizers.Tokenizer` built from a SentencePiece .model without downloading anything."""
    conv = pytest.importorskip("transformers.convert_slow_tokenizer")
    pb = pytest.importorskip("sentencepiece.sentencepiece_model_pb2")
    proto = pb.ModelProto()
    proto.ParseFromString(path.read_bytes())
    if proto.trainer_spec.model_type == 2:  # BPE: piece -> id; merges are ranked from the scores
        vocab = {p.piece: i for i, p in enumerate(proto.pieces)}
    else:  # Unigram: (piece, score) in id order
        vocab = [(p.piece, p.score) for p in proto.pieces]
    # legacy=True: one dummy prefix even before a leading U+2581, as SentencePiece does
    return conv.SpmConverter.build_tokenizer_from_spm_proto(proto, vocab, legacy=True)


def _interleaved(benchmark, ours, anchor, rounds):
    """Times ours with pytest-benchmark, the anchor once before each round; returns (our output, best anchor s)."""
    anchor_s = []

    def setup():
        t = time.perf_counter()
        anchor()
        anchor_s.append(time.perf_counter() - t)

    got = benchmark.pedantic(ours, setup=setup, rounds=rounds, iterations=1, warmup_rounds=1)
    return got, min(anchor_s)


@pytest.mark.parametrize("threads", [1, 2])
@pytest.mark.parametrize("model", MODELS)
def test_encode_vs_sentencepiece(benchmark, data_dir, lines, model, threads):
    spm = pytest.importorskip("sentencepiece")
    path = _model(data_dir, model)
    ref = spm.SentencePieceProcessor(model_file=str(path))
    tok = fastlm.load(path)
    expected = ref.encode(lines, num_threads=threads)
    got, anchor_s = _interleaved(benchmark, lambda: tok.encode_batch(lines, num_threads=threads),
                                 lambda: ref.encode(lines, num_threads=threads), rounds=7)
    assert got == expected
    record(benchmark, suite=f"sentencepiece-{model}-{threads}thread", case="lines", anchor="sentencepiece",
           mbytes=sum(len(x.encode()) for x in lines) / 1e6, anchor_s=anchor_s)


@pytest.mark.parametrize("threads", [1, 2])
@pytest.mark.parametrize("model", MODELS)
def test_encode_vs_hf_tokenizers(benchmark, data_dir, lines, model, threads):
    spm = pytest.importorskip("sentencepiece")
    pytest.importorskip("tokenizers")
    path = _model(data_dir, model)
    ref = spm.SentencePieceProcessor(model_file=str(path))
    hf = _hf_from_model(path)
    tok = fastlm.load(path)
    expected = ref.encode(lines)
    old = os.environ.get("TOKENIZERS_PARALLELISM")
    os.environ["TOKENIZERS_PARALLELISM"] = "true" if threads > 1 else "false"
    try:
        hf_ids = [e.ids for e in hf.encode_batch(lines, add_special_tokens=False)]
        assert hf_ids == expected, "the HF tokenizer built from the .model differs from sentencepiece"
        got, anchor = _interleaved(benchmark, lambda: tok.encode_batch(lines, num_threads=threads),
                                   lambda: hf.encode_batch(lines, add_special_tokens=False), rounds=3)
        assert got == expected
    finally:
        if old is None:
            os.environ.pop("TOKENIZERS_PARALLELISM", None)
        else:
            os.environ["TOKENIZERS_PARALLELISM"] = old
    record(benchmark, suite=f"sentencepiece-{model}-{threads}thread", case="lines", anchor="hf-tokenizers",
           mbytes=sum(len(x.encode()) for x in lines) / 1e6, anchor_s=anchor)
