"""Atomic writes: a writer killed with SIGKILL in the middle of a write never leaves a partial file under the
final name (fastlm/_io.py: temp file in the same directory, fsync, rename).

Each case starts a child process that writes version 1 of a file completely, then starts writing version 2
and is killed while the temp file exists (tokenizer files: inside the fsync, slowed down by the child itself
so the kill lands at a known point; token shards: while the encoder is still streaming tokens into the temp
file). The final name must hold version 1, byte for byte, or nothing.
"""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from conftest import data_path

import fastlm
import fastlm.shards
from fastlm._io import atomic_write_bytes, atomic_writer



def _run_and_kill(script: str, out_dir: Path, final: str, wait_for_tmp_bytes: int = 1) -> None:
    """Run `script` (python source) in a child; once it printed READY and a temp file for `final` holds at least
    `wait_for_tmp_bytes` bytes, SIGKILL it."""
    env = dict(os.environ)  # the child imports the installed fastlm, like the parent
    p = subprocess.Popen([sys.executable, "-c", textwrap.dedent(script)], stdout=subprocess.PIPE, env=env, text=True)
    try:
        assert p.stdout is not None
        line = p.stdout.readline()
        assert line.strip() == "READY", f"child did not get ready: {line!r}"
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            tmps = [t for t in out_dir.glob(f".{final}.*.tmp") if t.stat().st_size >= wait_for_tmp_bytes]
            if tmps:
                break
            assert p.poll() is None, "child exited before it could be killed"
            time.sleep(0.005)
        else:
            pytest.fail("the child never started the second write")
        os.kill(p.pid, signal.SIGKILL)
        p.wait(timeout=30)
        assert p.returncode == -signal.SIGKILL
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()


SLOW_FSYNC = """
import os, sys, time
import fastlm._io as io_mod
real = os.fsync
def slow(fd):
    time.sleep(60)   # the parent kills us here: data written to the temp file, not yet renamed
    real(fd)
"""


@pytest.mark.parametrize("kind", ["tokenizer.json", "ranks.tiktoken", "model.model"])
def test_killed_tokenizer_save_leaves_the_old_file(tmp_path, kind):
    if kind == "model.model":
        src = data_path("tokenizers", "sentencepiece", "llama2_tokenizer.model")
        other = data_path("tokenizers", "sentencepiece", "botchan_en_bpe_1000.model")
    else:
        src = data_path("tokenizers", "tiktoken", "r50k_base.tiktoken")
        other = data_path("tokenizers", "tiktoken", "p50k_base.tiktoken")
    final = tmp_path / kind
    script = SLOW_FSYNC + f"""
import fastlm
import fastlm.shards
a = fastlm.load({str(src)!r})
b = fastlm.load({str(other)!r})
a.save({str(final)!r})
io_mod.os.fsync = slow
print("READY", flush=True)
b.save({str(final)!r})
"""
    _run_and_kill(script, tmp_path, kind)
    expected = tmp_path / ("expected_" + kind)
    fastlm.load(src).save(expected)
    assert final.read_bytes() == expected.read_bytes(), "the final name holds something other than version 1"
    fastlm.load(final) if kind != "ranks.tiktoken" else fastlm.load(final, pattern="r50k")


def test_killed_first_write_leaves_no_file(tmp_path):
    final = tmp_path / "tokenizer.json"
    src = data_path("tokenizers", "bert-base-uncased", "vocab.txt")
    script = SLOW_FSYNC + f"""
import fastlm
import fastlm.shards
a = fastlm.load({str(src)!r})
io_mod.os.fsync = slow
print("READY", flush=True)
a.save({str(final)!r})
"""
    _run_and_kill(script, tmp_path, "tokenizer.json")
    assert not final.exists()


def test_killed_shard_encoder_mid_stream(tmp_path):
    """`fastlm encode` killed while tokens stream into the shard's temp file: no .bin under the final name
    (the first input's shard, finished before, stays intact and listed in index.json)."""
    import json

    corpus = tmp_path / "in"
    corpus.mkdir()
    line = "The quick brown fox jumps over the lazy dog, again and again; 12345 times.\n"
    (corpus / "a.txt").write_text(line * 200, encoding="utf-8")
    (corpus / "b.txt").write_text(line * 400_000, encoding="utf-8")  # ~30 MB, several 4 MB batches
    out = tmp_path / "shards"
    tok = data_path("tokenizers", "tiktoken", "cl100k_base.tiktoken")
    script = f"""
import fastlm.shards as sh
print("READY", flush=True)
sh.encode_files([{str(corpus / 'a.txt')!r}, {str(corpus / 'b.txt')!r}], {str(tok)!r}, {str(out)!r},
                progress=False, num_threads=1)
"""
    out.mkdir()
    _run_and_kill(script, out, "b.txt.bin", wait_for_tmp_bytes=1 << 20)
    assert not (out / "b.txt.bin").exists() and not (out / "b.txt.idx.npy").exists()
    index = json.loads((out / "index.json").read_text())
    assert [s["name"] for s in index["shards"]] == ["a.txt"]
    tokens, offsets = fastlm.shards.read_shard(out, "a.txt")
    assert len(offsets) == 201 and int(offsets[-1]) == len(tokens)
    # resuming finishes the job and cleans nothing it should not
    fastlm.shards.encode_files([corpus / "a.txt", corpus / "b.txt"], tok, out, progress=False)
    assert (out / "b.txt.bin").exists()


def test_atomic_writer_removes_its_temp_file_on_error(tmp_path):
    p = tmp_path / "x.bin"
    atomic_write_bytes(p, b"old")
    with pytest.raises(RuntimeError):
        with atomic_writer(p) as f:
            f.write(b"partial")
            raise RuntimeError("boom")
    assert p.read_bytes() == b"old"
    assert [q.name for q in tmp_path.iterdir()] == ["x.bin"]


def test_atomic_writer_keeps_the_mode_of_the_file_it_replaces(tmp_path):
    p = tmp_path / "x.bin"
    p.write_bytes(b"a")
    os.chmod(p, 0o640)
    atomic_write_bytes(p, b"b")
    assert p.read_bytes() == b"b" and (p.stat().st_mode & 0o777) == 0o640
    q = tmp_path / "new.bin"
    atomic_write_bytes(q, b"c")
    umask = os.umask(0)
    os.umask(umask)
    assert (q.stat().st_mode & 0o777) == 0o666 & ~umask


def test_every_saver_goes_through_the_atomic_writer(tmp_path, monkeypatch):
    """A failure inside the write (disk full) leaves the previous file and no temp file, for each format."""
    import fastlm._io as io_mod

    toks = {
        "t.json": fastlm.load(data_path("tokenizers", "bert-base-uncased", "vocab.txt")),
        "t.tiktoken": fastlm.load(data_path("tokenizers", "tiktoken", "r50k_base.tiktoken")),
        "t.model": fastlm.load(data_path("tokenizers", "sentencepiece", "botchan_en_unigram_1000.model")),
    }
    for name, tok in toks.items():
        tok.save(tmp_path / name)
    before = {n: (tmp_path / n).read_bytes() for n in toks}

    def full(fd):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(io_mod.os, "fsync", full)
    for name, tok in toks.items():
        with pytest.raises(OSError, match="No space"):
            tok.save(tmp_path / name)
        assert (tmp_path / name).read_bytes() == before[name]
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(toks)
