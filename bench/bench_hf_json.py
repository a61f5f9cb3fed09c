"""tokenizer.json on the general pipeline (csrc/core/pipeline) vs HF tokenizers: encode throughput on files that
the specialised encoders do not cover, converted offline from the shared tokenizer files (tests/_hf_convert.py).
Same file, same input, one process, one thread each; ids asserted equal.

    pip install ".[bench]" && python -m pytest bench/bench_hf_json.py --benchmark-min-rounds=3

Input: the first 3000 non-empty lines of en_sherlock_holmes.txt and of ja_wagahaiwa_nekodearu.txt, and 200 kB of
one repeated character / no whitespace / spaces (the worst-case inputs of DESIGN.md).
"""
from __future__ import annotations

import sys
from pathlib import Path

import pytest

from conftest import best_of, record

import fastlm

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
import _hf_convert as conv  # noqa: E402

CASES = {
    "llama2 (BPE, byte fallback)": lambda: conv.spm_json("llama", "llama2_tokenizer.model"),
    "xlnet (Unigram, NFKD)": lambda: conv.spm_json("xlnet", "xlnet_spiece.model"),
    "t5 (Unigram, Precompiled)": lambda: conv.spm_json("t5", "botchan_en_unigram_1000.model"),
    "gpt2 add_prefix_space": lambda: conv.gpt2_json(True),
}


@pytest.fixture(scope="module")
def lines(data_dir):
    out = []
    for name in ("en_sherlock_holmes.txt", "ja_wagahaiwa_nekodearu.txt"):
        text = (data_dir / "text" / name).read_text(encoding="utf-8")
        out += [x for x in text.splitlines() if x.strip()][:3000]
    return out


def _mb(texts):
    return sum(len(t.encode("utf-8")) for t in texts) / 1e6


@pytest.mark.parametrize("case", sorted(CASES))
def test_pipeline_vs_hf(benchmark, lines, case):
    tokenizers = pytest.importorskip("tokenizers")
    hf = tokenizers.Tokenizer.from_str(CASES[case]())
    tok = fastlm.Tokenizer.from_hf(hf)
    assert type(tok._core.encoder).__name__ == "PipelineEncoder"
    want = [hf.encode(t, add_special_tokens=False).ids for t in lines]
    got = benchmark.pedantic(lambda: tok.encode_batch(lines, num_threads=1, disallowed_special=()), rounds=3,
                             iterations=1, warmup_rounds=1)
    assert got == want
    record(benchmark, suite="tokenizer.json pipeline 1-thread", case=case, anchor="HF tokenizers",
           mbytes=_mb(lines), anchor_s=best_of(lambda: [hf.encode(t, add_special_tokens=False) for t in lines],
                                               repeat=2))


@pytest.mark.parametrize("kind", ["repeated", "no-whitespace", "spaces"])
def test_worst_case_input(benchmark, kind):
    tokenizers = pytest.importorskip("tokenizers")
    text = {"repeated": "a" * 200_000, "no-whitespace": "ab1." * 50_000, "spaces": " " * 200_000}[kind]
    hf = tokenizers.Tokenizer.from_str(CASES["llama2 (BPE, byte fallback)"]())
    tok = fastlm.Tokenizer.from_hf(hf)
    want = hf.encode(text, add_special_tokens=False).ids
    got = benchmark.pedantic(lambda: tok.encode_ordinary(text), rounds=3, iterations=1, warmup_rounds=1)
    assert got == want
    record(benchmark, suite="tokenizer.json pipeline worst case", case=f"llama2 {kind} 200 kB",
           anchor="HF tokenizers", mbytes=_mb([text]),
           anchor_s=best_of(lambda: hf.encode(text, add_special_tokens=False), repeat=2))
