"""Corpus streaming shared by the trainers: paths or iterables of str, in bounded-size chunks."""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Iterable, Iterator, List, Union

CHUNK_BYTES = 1 << 20


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
        if isinstance(obj[0], os.PathLike) or (isinstance(obj[0], str) and _is_file(Path(obj[0]))):
            missing = [str(p) for p in ps if not _is_file(p)]
            raise FileNotFoundError(f"corpus file(s) not found: {', '.join(missing[:5])}")
    return None


def iter_text_chunks(corpus: Any, *, errors: str = "strict", chunk_bytes: int = CHUNK_BYTES) -> Iterator[str]:
    """Yield text in chunks of about `chunk_bytes`, cut only at line ends (a line longer than that is one chunk).

    `corpus`: a path, a list of paths, or an iterable of str. Invalid UTF-8 in a file raises ValueError naming the
    file and byte offset (errors="strict") or is replaced with U+FFFD (errors="replace").
    """
    paths = _paths(corpus)
    if paths is not None:
        for p in paths:
            if not p.is_file():
                raise FileNotFoundError(f"corpus file not found: {str(p)!r}")
            yield from _file_chunks(p, errors, chunk_bytes)
        return
    if isinstance(corpus, (bytes, bytearray)):
        raise TypeError("corpus must be paths or an iterable of str, not bytes")
    try:
        it = iter(corpus)
    except TypeError:
        raise TypeError(f"corpus must be a path, a list of paths or an iterable of str, not {type(corpus).__name__}") from None
    buf: List[str] = []
    size = 0
    for i, t in enumerate(it):
        if not isinstance(t, str):
            raise TypeError(f"corpus item {i} is {type(t).__name__}, expected str")
        buf.append(t)
        size += len(t)
        if size >= chunk_bytes:
            yield "\n".join(buf)
            buf, size = [], 0
    if buf:
        yield "\n".join(buf)


def iter_documents(corpus: Any, *, errors: str = "strict") -> Iterator[str]:
    """Yield documents: each item of an iterable, or each line of each file (newline kept)."""
    paths = _paths(corpus)
    if paths is None:
        for i, t in enumerate(corpus):
            if not isinstance(t, str):
                raise TypeError(f"corpus item {i} is {type(t).__name__}, expected str")
            yield t
        return
    for chunk in iter_text_chunks(corpus, errors=errors):
        yield from chunk.splitlines(keepends=True)


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
