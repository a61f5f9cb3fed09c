"""The tokenizer half of `fastlm demo`: train a byte-level BPE tokenizer on a corpus every machine has (the
Python standard library's own source, found through `sysconfig`) and report its speed. No network, no data files.
"""
from __future__ import annotations

import sysconfig
import time
from pathlib import Path
from typing import Callable, List, Optional, Tuple

from .tokenizer import Tokenizer


def stdlib_corpus(max_bytes: int = 8 << 20) -> List[Path]:
    """Python source files of the standard library, up to about max_bytes, in a stable order."""
    root = Path(sysconfig.get_paths()["stdlib"])
    files: List[Path] = []
    total = 0
    skip = {"site-packages", "test", "tests", "encodings", "pydoc_data", "idlelib", "lib2to3", "turtledemo"}
    # top-level modules first (ordinary code and docstrings), then packages; codec tables are skipped
    for p in sorted(root.rglob("*.py"), key=lambda q: (len(q.relative_to(root).parts), str(q))):
        if skip.intersection(q for q in p.relative_to(root).parts):
            continue
        try:
            size = p.stat().st_size
        except OSError:
            continue
        files.append(p)
        total += size
        if total >= max_bytes:
            break
    if not files:
        raise RuntimeError(f"no Python sources found under {root}")
    return files


def _read(files: List[Path]) -> List[str]:
    out = []
    for p in files:
        try:
            out.append(p.read_text(encoding="utf-8"))
        except (UnicodeDecodeError, OSError):
            continue
    return out


def run(*, vocab_size: int = 4096, max_bytes: int = 8 << 20, progress: bool = True,
        printer: Callable[[str], object] = print) -> Tuple[Tokenizer, List[str]]:
    from .train import train

    files = stdlib_corpus(max_bytes)
    texts = _read(files)
    nbytes = sum(len(t.encode()) for t in texts)
    printer(f"corpus: {len(texts)} files of the Python standard library, {nbytes / 1e6:.1f} MB")
    t0 = time.perf_counter()
    tok = train("bpe", texts, vocab_size=vocab_size, pattern="o200k", special_tokens=["<|endoftext|>"],
                progress=progress)
    printer(f"trained a byte-level BPE tokenizer: {tok.vocab_size} tokens in {time.perf_counter() - t0:.2f} s")
    t0 = time.perf_counter()
    ids = tok.encode_ordinary_batch(texts, num_threads=1)
    dt1 = time.perf_counter() - t0
    t0 = time.perf_counter()
    tok.encode_ordinary_batch(texts)
    dtn = time.perf_counter() - t0
    ntok = sum(len(x) for x in ids)
    printer(f"encode: {nbytes / 1e6 / dt1:.1f} MB/s on 1 thread, {nbytes / 1e6 / dtn:.1f} MB/s on all cores; "
            f"{nbytes / ntok:.2f} bytes/token")
    assert tok.decode(ids[0]) == texts[0], "round trip failed"
    sample = "def greet(name: str) -> str:\n    return f'Hello, {name}!'\n"
    pieces = [tok.decode_single_token_bytes(i).decode("utf-8", "replace") for i in tok.encode(sample)]
    printer(f"sample: {pieces}")
    return tok, texts


def main(argv: Optional[List[str]] = None) -> int:
    run()
    return 0
