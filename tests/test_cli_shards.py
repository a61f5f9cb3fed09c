"""Corpus encoding into token shards (`fastlm encode`, fastlm.shards); the command line as a whole: test_cli.py."""
from __future__ import annotations

import json

import numpy as np
import pytest

from _refs import fastlm_encoding
from conftest import data_path

from fastlm.cli import main
from fastlm.shards import encode_files, read_shard


def test_info_describes_a_tokenizer(capsys):
    assert main(["info", str(data_path("tokenizers", "tiktoken", "o200k_base.tiktoken"))]) == 0
    out = capsys.readouterr().out
    assert "o200k_base" in out and "BPE" in out and "200019" in out and "<|endoftext|>=199999" in out


def test_encode_files_layout_and_content(tmp_path):
    tok = fastlm_encoding("cl100k_base")
    src = tmp_path / "corpus.txt"
    lines = data_path("text", "en_tweets_emotion_train.txt").read_text(encoding="utf-8").splitlines()[:300]
    src.write_text("\n".join(lines) + "\n\n  \n", encoding="utf-8")
    out = tmp_path / "shards"
    assert main(["encode", "--tokenizer", str(data_path("tokenizers", "tiktoken", "cl100k_base.tiktoken")),
                 str(src), "-o", str(out), "--no-progress"]) == 0
    index = json.loads((out / "index.json").read_text())
    assert index["dtype"] == "uint32" and index["eot"] == 100257
    (shard,) = index["shards"]
    tokens, offsets = read_shard(out, shard["name"])
    docs = [l for l in lines if l.strip()]
    assert shard["n_docs"] == len(docs) == len(offsets) - 1
    assert int(offsets[-1]) == len(tokens) == shard["n_tokens"]
    for i in (0, 5, len(docs) - 1):
        doc = tokens[offsets[i]:offsets[i + 1]].tolist()
        assert doc == tok.encode_ordinary(docs[i]) + [100257]


def test_encode_files_uint16_resume_and_atomic(tmp_path, monkeypatch):
    src = tmp_path / "a.txt"
    src.write_text("hello world\nsecond line\n", encoding="utf-8")
    gpt2 = data_path("tokenizers", "gpt2")
    out = tmp_path / "o"
    idx = encode_files([src], gpt2, out, progress=False)
    assert idx["dtype"] == "uint16"
    tokens, offs = read_shard(out, "a.txt")
    assert tokens.dtype == np.uint16 and offs.tolist() == [0, 3, 6]
    mtime = (out / "a.txt.bin").stat().st_mtime_ns
    # resume: an unchanged input is not re-encoded
    encode_files([src], gpt2, out, progress=False)
    assert (out / "a.txt.bin").stat().st_mtime_ns == mtime
    # a writer killed mid-way leaves no file under the final name
    b = tmp_path / "b.txt"
    b.write_text("x\n", encoding="utf-8")
    import fastlm.shards as shards

    def boom(*a, **k):
        raise KeyboardInterrupt

    monkeypatch.setattr(shards, "atomic_writer", boom)
    with pytest.raises(KeyboardInterrupt):
        encode_files([b], gpt2, out, progress=False)
    assert not (out / "b.txt.bin").exists()
    assert not [p for p in out.iterdir() if p.name.endswith(".tmp")]


def test_encode_rejects_bad_input(tmp_path):
    bad = tmp_path / "bad.txt"
    bad.write_bytes(b"ok\n\xff\xfe bad\n")
    with pytest.raises(ValueError, match="bad.txt: invalid UTF-8"):
        encode_files([bad], data_path("tokenizers", "gpt2"), tmp_path / "o", progress=False)
    with pytest.raises(ValueError, match="uint16 cannot hold"):
        encode_files([bad], data_path("tokenizers", "tiktoken", "o200k_base.tiktoken"), tmp_path / "o",
                     dtype="uint16", progress=False)
