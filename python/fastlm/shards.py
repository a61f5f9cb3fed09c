"""Corpus encoding into token shards: flat uint16/uint32 `.bin` files plus document offsets.

Layout (readable with numpy.memmap, as nanoGPT / Megatron-style loaders expect):
    OUT/<name>.bin        all token ids of one input file, concatenated (dtype in index.json)
    OUT/<name>.idx.npy    int64 document start offsets into the .bin, plus the final length (n_docs + 1)
    OUT/index.json        {"version": 1, "tokenizer": ..., "dtype": ..., "shards": [{name, source, size, mtime,
                           n_tokens, n_docs}]}
Documents are the lines of each input file (blank lines skipped); `eot` (default: the tokenizer's end-of-text
token, if any) is appended after each document. Every output is written to a temp file and renamed, so a killed
run never leaves a half-written shard; re-running skips inputs whose shard is already complete (resume).
"""
from __future__ import annotations

import json
import os
import sys
import tempfile
from pathlib import Path
from typing import IO, Any, Dict, Iterator, List, Optional, Sequence, Tuple, Union

import numpy as np

from ._io import atomic_write_text, atomic_writer
from .tokenizer import Tokenizer

# Text per encode_batch call (characters). Memory while encoding a file is about 10x this batch (the str list,
# UTF-8 copies, ids), whatever the file size: tokens and offsets go straight to temp files. 1 MB keeps that
# near 10 MB and is still ~100k tokens per call, so the call overhead and thread start-up stay negligible.
BATCH_BYTES = 1 << 20

PathArg = Union[str, "os.PathLike[str]"]


def _dtype_for(tok: Tokenizer, dtype: str) -> "np.dtype[Any]":
    if dtype == "auto":
        return np.dtype(np.uint16 if tok.n_vocab <= 65536 else np.uint32)
    dt = np.dtype(dtype)
    if dt not in (np.dtype(np.uint16), np.dtype(np.uint32)):
        raise ValueError("dtype must be 'auto', 'uint16' or 'uint32'")
    if dt == np.uint16 and tok.n_vocab > 65536:
        raise ValueError(f"uint16 cannot hold ids up to {tok.n_vocab - 1}; use uint32 or auto")
    return dt


def _batches(path: Path) -> Iterator[List[str]]:
    batch: List[str] = []
    size = 0
    with open(path, "r", encoding="utf-8", errors="strict", newline="") as f:
        lineno = 0
        try:
            for line in f:
                lineno += 1
                line = line.rstrip("\r\n")
                if not line.strip():
                    continue
                batch.append(line)
                size += len(line)
                if size >= BATCH_BYTES:
                    yield batch
                    batch, size = [], 0
        except UnicodeDecodeError as e:
            raise ValueError(f"{path}: invalid UTF-8 after line {lineno} (byte {e.start} of its block)") from None
    if batch:
        yield batch


def _with_eot(ids: "np.ndarray[Any, Any]", offs: "np.ndarray[Any, Any]", eot: int) -> Tuple["np.ndarray[Any, Any]", "np.ndarray[Any, Any]"]:
    """Insert `eot` after each document of a flat batch: (ids, offsets) -> (ids with eot, shifted offsets)."""
    n = len(offs) - 1
    lens = np.diff(offs)
    out = np.empty(len(ids) + n, dtype=np.uint32)
    starts = offs[:-1] + np.arange(n)
    mask = np.ones(len(out), dtype=bool)
    mask[starts + lens] = False
    out[mask] = ids
    out[~mask] = eot
    return out, offs + np.arange(n + 1)


def _encode_one(tok: Tokenizer, src: Path, f: IO[bytes], offs_f: IO[bytes], dt: "np.dtype[Any]",
                eot: Optional[int], num_threads: Optional[int], bar: Any) -> Tuple[int, int]:
    """Stream the tokens of `src` into `f` and the document end offsets (raw int64) into `offs_f`; returns
    (number of tokens, number of documents). Memory: one batch, whatever the file size."""
    total = n_docs = 0
    for batch in _batches(src):
        ids, offs = tok.encode_batch_to_numpy(batch, num_threads=num_threads, disallowed_special=())
        if eot is not None:
            ids, offs = _with_eot(ids, offs, eot)
        f.write(ids.astype(dt, copy=False).tobytes())
        offs_f.write((offs[1:] + total).astype(np.int64).tobytes())
        total += len(ids)
        n_docs += len(batch)
        bar.update(sum(len(s) for s in batch))
    return total, n_docs


def _write_npy_int64(f: IO[bytes], raw: IO[bytes], n: int) -> None:
    """Write an int64[n + 1] .npy: the leading 0, then the n values held raw in `raw`, copied in chunks."""
    np.lib.format.write_array_header_1_0(f, {"descr": np.dtype(np.int64).str, "fortran_order": False,
                                             "shape": (n + 1,)})
    f.write(np.zeros(1, dtype=np.int64).tobytes())
    raw.seek(0)
    while True:
        chunk = raw.read(1 << 20)
        if not chunk:
            break
        f.write(chunk)


def encode_files(
    files: Sequence[PathArg],
    tokenizer: Union[Tokenizer, PathArg],
    out_dir: PathArg,
    *,
    dtype: str = "auto",
    eot: Optional[int] = -1,
    num_threads: Optional[int] = None,
    progress: bool = True,
) -> Dict[str, Any]:
    """Encode text files into token shards in `out_dir` (see the module docstring). Returns the index."""
    from .api import _cached

    tok = tokenizer if isinstance(tokenizer, Tokenizer) else _cached(tokenizer)
    dt = _dtype_for(tok, dtype)
    if eot == -1:
        try:
            eot = tok.eot_token
        except AttributeError:
            eot = None
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    index_path = out / "index.json"
    index: Dict[str, Any] = {"version": 1, "tokenizer": tok.name, "dtype": dt.name, "eot": eot, "shards": []}
    if index_path.exists():
        try:
            old = json.loads(index_path.read_text())
            if old.get("dtype") == dt.name and old.get("eot") == eot:
                index["shards"] = old.get("shards", [])
        except (OSError, ValueError):
            pass
    done: Dict[str, Dict[str, Any]] = {s["name"]: s for s in index["shards"]}
    paths = [Path(f) for f in files]
    for p in paths:
        if not p.is_file():
            raise FileNotFoundError(f"input file not found: {str(p)!r}")
    names = _unique_names(paths)
    bar = _progress(sum(p.stat().st_size for p in paths), progress)
    try:
        for p, name in zip(paths, names):
            st = p.stat()
            prev = done.get(name)
            if (prev and prev.get("size") == st.st_size and prev.get("mtime") == st.st_mtime
                    and (out / f"{name}.bin").exists() and (out / f"{name}.idx.npy").exists()):
                bar.update(st.st_size)
                continue
            # The .bin is renamed into place only after its .idx.npy is written: a run killed anywhere leaves
            # no shard without its offsets, and index.json (written last) lists only complete shards.
            # The offsets stream into an unnamed temp file (gone with the process, whatever kills it).
            with atomic_writer(out / f"{name}.bin") as f, tempfile.TemporaryFile(dir=out) as raw:
                total, n_docs = _encode_one(tok, p, f, raw, dt, eot, num_threads, bar)
                with atomic_writer(out / f"{name}.idx.npy") as g:
                    _write_npy_int64(g, raw, n_docs)
            entry = {"name": name, "source": str(p.resolve()), "size": st.st_size, "mtime": st.st_mtime,
                     "n_tokens": int(total), "n_docs": int(n_docs)}
            done[name] = entry
            index["shards"] = [done[n] for n in names if n in done]
            atomic_write_text(index_path, json.dumps(index, indent=2))
    finally:
        bar.close()
    index["shards"] = [done[n] for n in names if n in done]
    atomic_write_text(index_path, json.dumps(index, indent=2))
    return index


def read_shard(out_dir: PathArg, name: str) -> Tuple["np.memmap[Any, Any]", "np.ndarray[Any, Any]"]:
    """(tokens memmap, doc offsets) of one shard."""
    out = Path(out_dir)
    index = json.loads((out / "index.json").read_text())
    tokens: "np.memmap[Any, Any]" = np.memmap(out / f"{name}.bin", dtype=np.dtype(index["dtype"]), mode="r")
    offsets: "np.ndarray[Any, Any]" = np.load(out / f"{name}.idx.npy")
    return tokens, offsets


def _unique_names(paths: Sequence[Path]) -> List[str]:
    seen: Dict[str, int] = {}
    names = []
    for p in paths:
        base = p.name
        k = seen.get(base, 0)
        seen[base] = k + 1
        names.append(base if k == 0 else f"{base}.{k}")
    return names


class _NoBar:
    def update(self, n: int) -> None:
        pass

    def close(self) -> None:
        pass


def _progress(total: int, enabled: bool) -> Any:
    if not enabled or not sys.stderr.isatty():
        return _NoBar()
    try:
        from tqdm import tqdm
    except ImportError:
        return _NoBar()
    return tqdm(total=total, unit="B", unit_scale=True, desc="encode")
