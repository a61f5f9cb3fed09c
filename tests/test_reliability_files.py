"""Truncated and bit-flipped copies of the shared tokenizer files, one corpus per format (deterministic seed).

Every corrupted file either loads into a tokenizer that works (a flipped bit inside a token's text is still a
valid file) or raises ValueError/OSError naming the file; formats whose every truncation is invalid (JSON,
protobuf) must raise, and the message must give a position (line:column, byte offset or line number).
Nothing else: no crash, no hang, no other exception type.
"""
from __future__ import annotations

import random
import re
from pathlib import Path
from typing import Callable, List, Tuple

import pytest

from conftest import data_path

import fastlm

SEED = 20240607
N_TRUNC = 6
N_FLIP = 6


def _corruptions(data: bytes, seed: int) -> List[Tuple[str, bytes]]:
    rnd = random.Random(seed)
    out = [("empty", b""), ("one byte", data[:1])]
    for _ in range(N_TRUNC):
        n = rnd.randrange(1, len(data))
        out.append((f"truncated at {n}", data[:n]))
    for _ in range(N_FLIP):
        b = bytearray(data)
        where = []
        for _ in range(rnd.choice([1, 1, 4, 32])):
            i = rnd.randrange(len(b))
            b[i] ^= 1 << rnd.randrange(8)
            where.append(i)
        out.append((f"bits flipped at {sorted(where)[:4]}", bytes(b)))
    garbage = bytes(rnd.randrange(256) for _ in range(4096))
    out.append(("random bytes", garbage))
    out.append(("header + random bytes", data[:64] + garbage))
    return out


def _works(tok) -> None:
    for text in ("hello world", "Héllo, wörld! 123", "日本語 😀", ""):
        ids = tok.encode(text, disallowed_special=())
        assert all(0 <= i < tok.n_vocab for i in ids)
        tok.decode(ids)


POSITION = re.compile(r"(:\d+|byte \d+|offset \d+|lines? \d+|position \d+|#\d+|at \d+|\d+ bytes|id \d+)")

# name, shared file, file name to write, loader(path), truncation always invalid
FORMATS: List[Tuple[str, Tuple[str, ...], str, Callable[[Path], object], bool]] = [
    ("tiktoken", ("tokenizers", "tiktoken", "r50k_base.tiktoken"), "r.tiktoken",
     lambda p: fastlm.load(p, pattern="r50k"), False),
    ("encoder.json", ("tokenizers", "gpt2", "encoder.json"), "encoder.json",
     lambda p: fastlm.Tokenizer.from_gpt2(p, data_path("tokenizers", "gpt2", "vocab.bpe")), True),
    ("vocab.bpe", ("tokenizers", "gpt2", "vocab.bpe"), "vocab.bpe",
     lambda p: fastlm.Tokenizer.from_gpt2(data_path("tokenizers", "gpt2", "encoder.json"), p), False),
    ("vocab.txt", ("tokenizers", "bert-base-uncased", "vocab.txt"), "vocab.txt", lambda p: fastlm.load(p), False),
    ("tokenizer.json", ("tokenizers", "bert-base-uncased", "tokenizer.json"), "tokenizer.json",
     lambda p: fastlm.load(p), True),
    ("sp unigram", ("tokenizers", "sentencepiece", "xlnet_spiece.model"), "x.model", lambda p: fastlm.load(p), False),
    ("sp bpe", ("tokenizers", "sentencepiece", "llama2_tokenizer.model"), "l.model", lambda p: fastlm.load(p), False),
]


@pytest.mark.parametrize("fmt", FORMATS, ids=[f[0] for f in FORMATS])
def test_corrupted_files_raise_clear_errors(tmp_path, fmt):
    name, rel, fname, loader, trunc_invalid = fmt
    data = data_path(*rel).read_bytes()
    outcomes = {"loaded": 0, "rejected": 0}
    for k, (what, bad) in enumerate(_corruptions(data, SEED + len(name))):
        p = tmp_path / str(k) / fname
        p.parent.mkdir()
        p.write_bytes(bad)
        try:
            tok = loader(p)
        except (ValueError, OSError) as e:
            msg = str(e)
            assert str(p) in msg or p.name in msg, f"{name}, {what}: the error does not name the file: {msg[:300]}"
            assert len(msg) < 2000, f"{name}, {what}: the error message is {len(msg)} characters long"
            if what.startswith("truncated"):
                assert POSITION.search(msg.replace(str(p), "")), f"{name}, {what}: no position in {msg[:300]!r}"
            outcomes["rejected"] += 1
            continue
        assert not (trunc_invalid and what.startswith("truncated")), f"{name}, {what}: a truncated file loaded"
        _works(tok)
        outcomes["loaded"] += 1
    assert outcomes["rejected"] >= 3, outcomes  # the empty, random and most truncated files


def test_a_missing_file_and_a_directory_are_os_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="nope.json"):
        fastlm.load(tmp_path / "nope.json")
    with pytest.raises(OSError, match="nope.tiktoken"):
        fastlm.Tokenizer.from_tiktoken(tmp_path / "nope.tiktoken", pattern="cl100k")
    with pytest.raises((OSError, ValueError)):
        fastlm.load(tmp_path)
