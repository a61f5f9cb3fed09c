"""Memory: encoding a 100 MB file into shards streams; the process never holds a multiple of the input.

The child process measures its own peak RSS (getrusage ru_maxrss) after loading the tokenizer and after
encoding, so the figure is the encoder's, not the test runner's. The file is generated in a temp dir.
"""
from __future__ import annotations

import json
import os
import random
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from conftest import data_path

SIZE = 100 << 20


def _make_corpus(path: Path, size: int) -> None:
    rnd = random.Random(0)
    words = ("the of and to in is was he for it with as his on be at by had not are but from or have an they which "
             "one you were her all she there would their we him been has when who will more no if out so said what "
             "up its about into than them can only other new some time could these two may then do first any my now "
             "Holmes Watson Baker street 221B 1887 London évidemment naïve 東京 😀").split()
    block = []
    for _ in range(20000):
        block.append(" ".join(rnd.choice(words) for _ in range(rnd.randint(3, 25))) + ".\n")
    data = "".join(block).encode("utf-8")
    with open(path, "wb") as f:
        written = 0
        while written + len(data) <= size:
            f.write(data)
            written += len(data)
        pad = size - written  # short ASCII lines to the exact size (a cut could split a character)
        f.write((b"and so on\n" * (pad // 10 + 1))[: pad - 1] + b"\n")


CHILD = """
import json, resource, sys
import fastlm
from fastlm.cli import main
tok_path, src, out = sys.argv[1:4]
fastlm.load(tok_path).encode("warm up")
base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
rc = main(["encode", "--tokenizer", tok_path, src, "-o", out, "--no-progress"])
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
print(json.dumps({"rc": rc, "base": base, "peak": peak}))
"""


def test_encoding_a_100mb_file_streams(tmp_path):
    src = tmp_path / "big.txt"
    _make_corpus(src, SIZE)
    out = tmp_path / "shards"
    tok = data_path("tokenizers", "tiktoken", "cl100k_base.tiktoken")
    env = dict(os.environ)  # the child imports the installed fastlm, like the parent
    r = subprocess.run([sys.executable, "-c", textwrap.dedent(CHILD), str(tok), str(src), str(out)],
                       capture_output=True, text=True, env=env, timeout=900)
    assert r.returncode == 0, r.stderr[-3000:]
    m = json.loads(r.stdout.strip().splitlines()[-1])
    assert m["rc"] == 0
    growth = m["peak"] - m["base"]
    index = json.loads((out / "index.json").read_text())
    (shard,) = index["shards"]
    assert (out / "big.txt.bin").stat().st_size == shard["n_tokens"] * 4 > 0
    # Streaming keeps one 4 MB text batch, its ids and the document offsets; the ids of the whole file alone would
    # be ~100 MB here, so half the input is a bound that holding the tokens (uint32 here) cannot meet.
    assert growth < SIZE // 2, f"peak RSS grew by {growth / 2**20:.0f} MiB while encoding a 100 MiB file"
    print(f"RSS growth {growth / 2**20:.1f} MiB for {SIZE / 2**20:.0f} MiB of input "
          f"({shard['n_tokens']} tokens, {shard['n_docs']} documents)")


def test_memory_does_not_grow_with_the_file_size(tmp_path):
    """fastlm.shards.encode_files (GPT-2 tokenizer, uint16 shards) on an 8 MiB file, then on a 48 MiB file in the
    same process: the second, six times larger, raises the peak RSS by at most a few MiB."""
    small, large = tmp_path / "small.txt", tmp_path / "large.txt"
    _make_corpus(small, 8 << 20)
    _make_corpus(large, 48 << 20)
    code = textwrap.dedent("""
        import json, resource, sys
        import fastlm, fastlm.shards
        peak = lambda: resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
        tok = fastlm.load(sys.argv[1]); tok.encode("warm up")
        base = peak()
        fastlm.shards.encode_files([sys.argv[2]], tok, sys.argv[4] + "/a", progress=False)
        after_small = peak()
        fastlm.shards.encode_files([sys.argv[3]], tok, sys.argv[4] + "/b", progress=False)
        print(json.dumps({"base": base, "small": after_small, "large": peak()}))
    """)
    env = dict(os.environ)  # the child imports the installed fastlm, like the parent
    r = subprocess.run([sys.executable, "-c", code, str(data_path("tokenizers", "gpt2")), str(small), str(large),
                        str(tmp_path)], capture_output=True, text=True, env=env, timeout=900)
    assert r.returncode == 0, r.stderr[-3000:]
    m = json.loads(r.stdout.strip().splitlines()[-1])
    extra = m["large"] - m["small"]
    assert extra < 12 << 20, (f"peak RSS rose by {extra / 2**20:.1f} MiB from an 8 MiB to a 48 MiB file "
                              f"(first file: +{(m['small'] - m['base']) / 2**20:.1f} MiB)")
