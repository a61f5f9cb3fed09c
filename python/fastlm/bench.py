"""`fastlm bench`: fastlm against every installed anchor library on the user's own files.

For each tokenizer, the same text is encoded by fastlm and by each anchor that can load the same vocabulary
(tiktoken for .tiktoken, HF `tokenizers` for tokenizer.json and GPT-2 files, sentencepiece for .model). Outputs
are compared; the table reports MB/s and the ratio, and a PNG bar chart is written.
"""
from __future__ import annotations

import time
from pathlib import Path
from typing import Callable, Dict, List, Optional, Sequence, Tuple

from .api import load
from .formats.patterns import ENCODINGS
from .tokenizer import Tokenizer


def best_of(fn: Callable[[], object], repeat: int = 5) -> float:
    """The fastest of `repeat` calls of fn, in seconds (wall clock). The one timing helper of `fastlm bench` and of
    the pytest-benchmark suites in bench/ (bench/conftest.py), so both measure the anchors the same way."""
    best = float("inf")
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t)
    return best


def _anchors(tok: Tokenizer, path: Optional[Path]) -> Dict[str, Callable[[List[str]], List[List[int]]]]:
    out: Dict[str, Callable[[List[str]], List[List[int]]]] = {}
    state = tok._state
    if state.get("kind") == "bpe" and "ranks_tiktoken" in state:
        try:
            import base64

            import tiktoken

            ranks = {}
            for line in state["ranks_tiktoken"].splitlines():
                if line.strip():
                    b, r = line.split()
                    ranks[base64.b64decode(b)] = int(r)
            ref = tiktoken.Encoding(tok.name or "custom", pat_str=tok.pattern or "", mergeable_ranks=ranks,
                                    special_tokens=tok.special_tokens)
            # tiktoken's batch call pays a thread-pool hop per text; its plain loop is its fastest single thread
            out["tiktoken"] = lambda lines: [ref.encode_ordinary(t) for t in lines]
        except ImportError:
            pass
    if path is not None and path.suffix == ".json":
        try:
            import tokenizers

            hf = tokenizers.Tokenizer.from_file(str(path))
            hf.no_padding()
            hf.no_truncation()
            out["hf-tokenizers"] = lambda lines: [e.ids for e in hf.encode_batch(lines, add_special_tokens=False)]
        except ImportError:
            pass
    if path is not None and path.suffix == ".model":
        try:
            import sentencepiece as spm

            sp = spm.SentencePieceProcessor(model_file=str(path))
            out["sentencepiece"] = lambda lines: sp.encode(lines)
        except ImportError:
            pass
    return out


def run_cli_bench(files: Sequence[str], *, tokenizer: Optional[str] = None, plot: Optional[str] = None,
                  threads: int = 2) -> int:
    if isinstance(threads, bool) or not isinstance(threads, int) or threads < 1:
        raise ValueError(f"--threads must be a positive integer (num_threads), got {threads!r}")
    parts = []
    for f in files:
        try:
            parts.append(Path(f).read_text(encoding="utf-8"))
        except UnicodeDecodeError as e:
            raise ValueError(f"{f}: not UTF-8 text (byte {e.start}: {e.reason})") from None
    text = "".join(parts)
    lines = text.splitlines(keepends=True)
    mb = len(text.encode()) / 1e6
    if tokenizer is not None:
        toks: List[Tuple[str, Tokenizer, Optional[Path]]] = [(Path(tokenizer).name, load(tokenizer), Path(tokenizer))]
    else:
        toks = []
        for name in ("cl100k_base", "o200k_base"):
            p = _find_builtin(name)
            if p is not None:
                toks.append((name, load(p), p))
        if not toks:
            raise ValueError("no tokenizer given and no built-in rank file found; pass --tokenizer PATH")
    rows = []
    for label, tok, path in toks:
        ours = tok.encode_ordinary_batch(lines, num_threads=1)
        t1 = best_of(lambda: tok.encode_ordinary_batch(lines, num_threads=1), repeat=3)
        tn = best_of(lambda: tok.encode_ordinary_batch(lines, num_threads=threads), repeat=3)
        rows.append((label, "fastlm", "1 thread", mb / t1, 1.0, True))
        rows.append((label, "fastlm", f"{threads} threads", mb / tn, t1 / tn, True))
        for aname, fn in _anchors(tok, path).items():
            same = fn(lines) == ours
            ta = best_of(lambda: fn(lines), repeat=3)
            rows.append((label, aname, "1 thread", mb / ta, ta / t1, same))
    print(f"{len(files)} file(s), {mb:.2f} MB, {len(lines)} lines")
    w = max([len("tokenizer")] + [len(r[0]) for r in rows])
    print(f"{'tokenizer':{w}s} {'library':14s} {'threads':10s} {'MB/s':>8s} {'fastlm x':>9s}  same ids")
    for label, lib, th, mbps, ratio, same in rows:
        print(f"{label:{w}s} {lib:14s} {th:10s} {mbps:8.1f} {ratio:9.2f}  {'yes' if same else 'NO'}")
    if plot:
        try:
            import matplotlib

            matplotlib.use("Agg")
            import matplotlib.pyplot as plt

            fig, ax = plt.subplots(figsize=(8, 0.5 * len(rows) + 1))
            ax.barh([f"{r[0]} {r[1]} ({r[2]})" for r in rows], [r[3] for r in rows], color="#3a7")
            ax.set_xlabel(f"MB/s on {mb:.2f} MB")
            ax.invert_yaxis()
            fig.tight_layout()
            fig.savefig(plot, dpi=100)
            print(f"plot written to {plot}")
        except ImportError:
            print("matplotlib is not installed: no plot written (pip install 'fastlm[bench]')")
    return 0 if all(r[5] for r in rows) else 1


def _find_builtin(name: str) -> Optional[Path]:
    import os

    for d in [os.environ.get("FASTLM_DATA", ""), str(Path.cwd()), str(Path.cwd() / "shared" / "data" / "tokenizers" / "tiktoken"),
              str(Path.cwd().parent / "shared" / "data" / "tokenizers" / "tiktoken"),
              str(Path(__file__).resolve().parents[3] / "shared" / "data" / "tokenizers" / "tiktoken")]:
        if d and (Path(d) / f"{name}.tiktoken").exists():
            return Path(d) / f"{name}.tiktoken"
    return None


__all__ = ["run_cli_bench", "best_of", "ENCODINGS"]
