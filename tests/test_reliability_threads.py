"""Concurrency: 8 Python threads share one tokenizer and hammer encode / encode_batch / decode / offsets.

Every result must equal the serial result computed first; a deadlock (a C++ call waiting on the GIL while holding
a lock another thread needs) shows up as the join timeout. Each round interleaves the calls differently (each
thread shuffles its own work with its own seed), and the whole stress runs ROUNDS times per tokenizer.

A ThreadSanitizer build of the extension finds the races this cannot see; see RELIABILITY.md for the command.
"""
from __future__ import annotations

import random
import threading
from typing import Any, Callable, List, Tuple

import pytest

from conftest import data_path

import fastlm

THREADS = 8
ROUNDS = 6
TOKENIZERS = [
    ("tiktoken", "cl100k_base.tiktoken"),
    ("gpt2", "encoder.json"),
    ("bert-base-uncased", "tokenizer.json"),
    ("sentencepiece", "xlnet_spiece.model"),
    ("sentencepiece", "llama2_tokenizer.model"),
]


def _texts() -> List[str]:
    lines = data_path("text", "en_sherlock_holmes.txt").read_text(encoding="utf-8").splitlines()
    ja = data_path("text", "ja_wagahaiwa_nekodearu.txt").read_text(encoding="utf-8").splitlines()
    rnd = random.Random(0)
    out = [l for l in lines if l.strip()][:300] + [l[:400] for l in ja if l.strip()][:100]
    out += ["", " ", "a" * 5000, "\ud800 lone", "<|endoftext|> [CLS] </s>"]
    rnd.shuffle(out)
    return out


def _work(tok: Any, texts: List[str]) -> List[Tuple[str, Callable[[], Any]]]:
    """(key, call) pairs; the same key always gives the same result."""
    calls: List[Tuple[str, Callable[[], Any]]] = []
    for i, t in enumerate(texts[:120]):
        calls.append((f"enc{i}", lambda t=t: tok.encode(t, disallowed_special=())))
    for j in range(0, 400, 50):
        chunk = texts[j:j + 50]
        calls.append((f"batch{j}", lambda c=chunk: tok.encode_batch(c, num_threads=2, disallowed_special=())))
        calls.append((f"flat{j}", lambda c=chunk: [a.tolist() for a in tok.encode_batch_to_numpy(
            c, num_threads=2, disallowed_special=())]))
        calls.append((f"call{j}", lambda c=chunk: tok(c, truncation=True, max_length=64).ids))
    ids = [tok.encode(t, disallowed_special=()) for t in texts[:60]]
    for i, x in enumerate(ids):
        calls.append((f"dec{i}", lambda x=x: tok.decode(x)))
    calls.append(("decbatch", lambda: tok.decode_batch(ids)))
    calls.append(("count", lambda: [tok.count(t) for t in texts[:40]]))
    return calls


@pytest.mark.parametrize("where", TOKENIZERS, ids=[w[1] for w in TOKENIZERS])
def test_eight_threads_share_one_tokenizer(where):
    tok = fastlm.load(data_path("tokenizers", *where))
    texts = _texts()
    calls = _work(tok, texts)
    serial = {k: fn() for k, fn in calls}
    for rnd in range(ROUNDS):
        errors: List[str] = []

        def worker(seed: int) -> None:
            mine = list(calls)
            random.Random(seed).shuffle(mine)
            for k, fn in mine[: len(mine) * 2 // 3]:
                try:
                    got = fn()
                except BaseException as e:  # noqa: BLE001
                    errors.append(f"{k}: {type(e).__name__}: {e}")
                    return
                if got != serial[k]:
                    errors.append(f"{k}: result differs from the serial run")
                    return

        threads = [threading.Thread(target=worker, args=(rnd * 100 + i,), daemon=True) for i in range(THREADS)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=120)
        assert not any(t.is_alive() for t in threads), f"round {rnd}: a thread is stuck (deadlock?)"
        assert not errors, f"round {rnd}: {errors[:5]}"


def test_threads_and_a_concurrent_load_of_the_same_path(tmp_path):
    """fastlm.tokenize's per-process cache under concurrent first use: one tokenizer, identical results."""
    path = data_path("tokenizers", "tiktoken", "r50k_base.tiktoken")
    texts = _texts()[:50]
    want = fastlm.load(path).encode_batch(texts, disallowed_special=())
    out: List[Any] = [None] * THREADS

    def worker(i: int) -> None:
        out[i] = fastlm.tokenize(texts, path, add_special_tokens=False)

    threads = [threading.Thread(target=worker, args=(i,), daemon=True) for i in range(THREADS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert all(o == want for o in out)


def test_tokenizers_are_immutable_after_construction():
    """The C++ core exposes no setter, and training returns a new object: sharing a tokenizer across threads
    cannot change what another thread gets."""
    tok = fastlm.load(data_path("tokenizers", "bert-base-uncased", "vocab.txt"))
    core = tok._core
    for name in dir(core):
        if name.startswith("_"):
            continue
        with pytest.raises(AttributeError):
            setattr(core, name, None)
    enc = core.encoder
    for name in ("id_bound", "type", "vocab_size"):
        with pytest.raises(AttributeError):
            setattr(enc, name, 1)
    before = tok.encode("hello world")
    trained = fastlm.train("wordpiece", ["hello world"] * 50, vocab_size=120, progress=False)
    assert trained is not tok and trained._core is not tok._core
    assert tok.encode("hello world") == before
