"""Atomic file writes: temp file in the same directory, fsync, then rename.

Every file fastlm writes (tokenizer.json, .model, .tiktoken, token shards, index.json) goes through here, so a
process killed at any point leaves either the old file or the new one under the final name, never a prefix of
the new one. The temp file lives in the target's directory (a rename across file systems is not atomic) and is
named `.<name>.<random>.tmp`; it is removed on any error. After the rename the directory is fsynced so the new
name survives a power loss too.

Rejected: writing in place and truncating (a kill leaves a torn file), and a temp file in /tmp (often another
file system, where os.replace fails or copies).
"""
from __future__ import annotations

import os
import tempfile
from contextlib import contextmanager
from typing import IO, Iterator, Union

PathLike = Union[str, "os.PathLike[str]"]


def _umask() -> int:
    # os.umask can only be read by setting it; do it once, at import, rather than on every write (two calls
    # would briefly leave the process umask at 0 for other threads creating files meanwhile).
    m = os.umask(0o022)
    os.umask(m)
    return m


_UMASK = _umask()


def _fsync_dir(d: str) -> None:
    try:
        dfd = os.open(d, os.O_RDONLY)
    except OSError:
        return  # e.g. a platform without directory fds
    try:
        os.fsync(dfd)
    except OSError:
        pass
    finally:
        os.close(dfd)


@contextmanager
def atomic_writer(path: PathLike) -> Iterator[IO[bytes]]:
    """`with atomic_writer(path) as f: f.write(...)`: the data appears under `path` only when the block completes.

    The file gets the mode an ordinary `open(path, "wb")` would give (0o666 minus the umask), or the mode of the
    file it replaces."""
    path = os.fspath(path)
    d = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(prefix="." + os.path.basename(path) + ".", suffix=".tmp", dir=d)
    try:
        try:
            mode = os.stat(path).st_mode & 0o7777
        except OSError:
            mode = 0o666 & ~_UMASK
        os.fchmod(fd, mode)
        with os.fdopen(fd, "wb") as f:
            fd = -1
            yield f
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        if fd >= 0:
            os.close(fd)
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
    _fsync_dir(d)


def atomic_write_bytes(path: PathLike, data: bytes) -> None:
    with atomic_writer(path) as f:
        f.write(data)


def atomic_write_text(path: PathLike, text: str) -> None:
    atomic_write_bytes(path, text.encode("utf-8"))
