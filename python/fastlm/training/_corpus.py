"""Corpus streaming and progress bars shared by the trainers.

Corpus: paths or iterables of str, read in bounded-size chunks (`iter_text_chunks`, `iter_documents`) and grouped
into batches that keep every counting thread busy (`iter_batches`). `count_corpus` feeds the batches to a
counting callback under a byte progress bar.

Progress: `show_progress` (on only for a terminal), `progress_bar` (a tqdm bar, or None when off or tqdm is not
installed; closed on exit) and `progress_callback` (the (done, total) callback the C++ trainers call).
"""
from __future__ import annotations

import os
import sys
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator, List, Optional, Union

CHUNK_BYTES = 1 << 20

# Iterable items are sent to C++ in batches of about this many characters per thread.
BATCH_BYTES = CHUNK_BYTES

Report = Callable[[int, int], None]


def _is_file(p: Path) -> bool:
    try:
        return p.is_file()
    except OSError:  # e.g. a long text mistaken for a path: "File name too long"
        return False


def _paths(obj: Any) -> Union[List[Path], None]:
    if isinstance(obj, (str, os.PathLike)):
        return [Path(obj)]
    if isinstance(obj, (list, tuple)) and obj and all(isinstance(x, (str, os.PathLike)) for x in obj):
        # a list of strings is a list of paths only if every one exists as a file
        ps = [Path(x) for x in obj]
        if all(_is_file(p) for p in ps):
            return ps
        # Some exist, or all look like file names (["data/train.txt"] with a typo): a missing file is an error,
        # not a one-line text to train on. Real texts have spaces or no file suffix, so they pass through.
        if (isinstance(obj[0], os.PathLike) or (isinstance(obj[0], str) and _is_file(Path(obj[0])))
                or all(_looks_like_path(x) for x in obj)):
            missing = [str(p) for p in ps if not _is_file(p)]
            raise FileNotFoundError(f"corpus file(s) not found: {', '.join(missing[:5])}")
    return None


_SUFFIXES = {".txt", ".text", ".json", ".jsonl", ".csv", ".tsv", ".md", ".gz", ".bz2", ".xz", ".zst", ".raw", ".tok"}


def _looks_like_path(x: Union[str, "os.PathLike[str]"]) -> bool:
    if isinstance(x, os.PathLike):
        return True
    if not x or len(x) > 4096 or any(c.isspace() for c in x):
        return False
    return os.sep in x or Path(x).suffix.lower() in _SUFFIXES


def _iter_items(corpus: Any) -> Iterator[str]:
    """The items of an iterable corpus, each checked to be a str."""
    if isinstance(corpus, (bytes, bytearray)):
        raise TypeError("corpus must be paths or an iterable of str, not bytes")
    try:
        it = iter(corpus)
    except TypeError:
        raise TypeError(f"corpus must be a path, a list of paths or an iterable of str, not {type(corpus).__name__}") from None
    for i, t in enumerate(it):
        if not isinstance(t, str):
            raise TypeError(f"corpus item {i} is {type(t).__name__}, expected str")
        yield t


def _groups(items: Iterable[str], limit: int) -> Iterator[List[str]]:
    """Consecutive items grouped until their total length reaches `limit` (the last group may be shorter)."""
    buf: List[str] = []
    size = 0
    for t in items:
        buf.append(t)
        size += len(t)
        if size >= limit:
            yield buf
            buf, size = [], 0
    if buf:
        yield buf


def iter_text_chunks(corpus: Any, *, errors: str = "strict", chunk_bytes: Optional[int] = None) -> Iterator[str]:
    """Yield text in chunks of about `chunk_bytes` (default CHUNK_BYTES), cut only at line ends (a longer line is
    one chunk).

    `corpus`: a path, a list of paths, or an iterable of str. Invalid UTF-8 in a file raises ValueError naming the
    file and byte offset (errors="strict") or is replaced with U+FFFD (errors="replace").
    """
    size = CHUNK_BYTES if chunk_bytes is None else chunk_bytes
    paths = _paths(corpus)
    if paths is not None:
        for p in paths:
            if not p.is_file():
                raise FileNotFoundError(f"corpus file not found: {str(p)!r}")
            yield from _file_chunks(p, errors, size)
        return
    for group in _groups(_iter_items(corpus), size):
        yield "\n".join(group)


def iter_documents(corpus: Any, *, errors: str = "strict") -> Iterator[str]:
    """Yield documents: each item of an iterable, or each line of each file (newline kept)."""
    paths = _paths(corpus)
    if paths is None:
        yield from _iter_items(corpus)
        return
    for chunk in iter_text_chunks(corpus, errors=errors):
        yield from chunk.splitlines(keepends=True)


def iter_batches(corpus: Any, *, threads: int, errors: str = "strict",
                 paths: Optional[List[Path]] = None) -> Iterator[List[str]]:
    """Yield lists of texts of about `threads` x BATCH_BYTES in all, so that every counting thread has work.

    Files (`paths`, or `corpus` when it names files; a single str always names a file) are streamed in chunks cut
    at line ends; the items of any other iterable are passed through whole (one item = one document).
    """
    if paths is None:
        paths = _paths(corpus)
    src = iter_text_chunks(paths, errors=errors) if paths is not None else _iter_items(corpus)
    yield from _groups(src, BATCH_BYTES * max(1, threads))


def corpus_size(paths: Optional[List[Path]]) -> Optional[int]:
    """Total bytes of the files (the byte bar's total), None for an iterable corpus."""
    return sum(p.stat().st_size for p in paths if p.is_file()) if paths else None


def count_corpus(corpus: Any, count: Callable[[List[str]], None], *, threads: int, errors: str, show: bool,
                 desc: str) -> None:
    """Feed `corpus` to `count` batch by batch (see iter_batches), under a byte progress bar when `show`."""
    paths = _paths(corpus)
    with progress_bar(show, total=corpus_size(paths), desc=desc, unit="B", unit_scale=True) as bar:
        for batch in iter_batches(corpus, threads=threads, errors=errors, paths=paths):
            count(batch)
            if bar is not None:
                bar.update(sum(len(x.encode("utf-8", "surrogatepass")) for x in batch))


def _file_chunks(p: Path, errors: str, chunk_bytes: int) -> Iterator[str]:
    offset = 0
    carry = b""
    with open(p, "rb") as f:
        while True:
            block = f.read(chunk_bytes)
            if not block:
                break
            data = carry + block
            cut = data.rfind(b"\n") + 1
            if cut == 0:
                carry = data
                continue
            piece, carry = data[:cut], data[cut:]
            yield _decode(piece, p, offset, errors)
            offset += len(piece)
    if carry:
        yield _decode(carry, p, offset, errors)


def _decode(b: bytes, p: Path, offset: int, errors: str) -> str:
    try:
        return b.decode("utf-8")
    except UnicodeDecodeError as e:
        if errors == "replace":
            return b.decode("utf-8", "replace")
        raise ValueError(
            f"{p}: invalid UTF-8 at byte {offset + e.start}; pass errors='replace' to replace invalid bytes"
        ) from None


# ------------------------------------------------------------------------------------------------ progress bars
def show_progress(progress: bool) -> bool:
    """Whether to draw bars: asked for, and stderr is a terminal (no bars in logs and CI output)."""
    return bool(progress) and sys.stderr.isatty()


@contextmanager
def progress_bar(enabled: bool, *, total: Optional[int], desc: str, unit: str = "it",
                 unit_scale: bool = False) -> Iterator[Optional[Any]]:
    """A tqdm bar (closed on exit), or None when `enabled` is false or tqdm is not installed."""
    bar = None
    if enabled:
        try:
            from tqdm.auto import tqdm
        except ImportError:  # tqdm is optional (the [torch] extra): no bar
            tqdm = None
        if tqdm is not None:
            bar = tqdm(total=total, desc=desc, unit=unit, unit_scale=unit_scale)
    try:
        yield bar
    finally:
        if bar is not None:
            bar.close()


def progress_callback(bar: Optional[Any]) -> Optional[Report]:
    """The (done, total) callback for a C++ trainer that moves `bar` to `done`; None without a bar."""
    if bar is None:
        return None

    def report(done: int, total: int) -> None:
        bar.update(done - bar.n)

    return report
