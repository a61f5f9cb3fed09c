"""tiktoken rank files (.tiktoken) and {bytes: rank} dicts."""
from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any, Dict, Optional, Union

from .. import _core
from ..tokenizer import Tokenizer
from .patterns import ENCODINGS, resolve_pattern, scanner_for


def _published_name(path: Path) -> Optional[str]:
    stem = path.name
    if stem.endswith(".tiktoken"):
        stem = stem[: -len(".tiktoken")]
    return stem if stem in ENCODINGS else None


def _check_pattern(pattern: object) -> None:
    if not isinstance(pattern, str) or not pattern:
        raise ValueError("pattern must be a non-empty string: a regex or one of 'r50k', 'p50k', 'cl100k', 'o200k'")


def build_bpe(model: "_core.BpeModel", *, pattern: str, special_tokens: Optional[Dict[str, int]], name: str,
              state: Dict[str, Any]) -> Tokenizer:
    _check_pattern(pattern)
    pattern = resolve_pattern(pattern)
    scanner = scanner_for(pattern)
    kind = getattr(_core.PretokKind, scanner) if scanner else _core.PretokKind.NONE
    specials = dict(special_tokens or {})
    for tok, tid in specials.items():
        if not isinstance(tok, str) or not isinstance(tid, int):
            raise TypeError("special_tokens must map str -> int")
        if model.token_bytes(tid) is not None:
            raise ValueError(f"special token {tok!r} has id {tid}, which is already an ordinary token's id")
    ordered = sorted(specials.items(), key=lambda kv: kv[1])
    core = _core.Tokenizer(_core.BpeEncoder(model, kind), ordered)
    st = dict(state)
    st.update(kind="bpe", pattern=pattern, scanner=scanner, special_tokens=specials, name=name)
    return Tokenizer(core, name=name, pattern=pattern, state=st)


def _with_lines(msg: str, data: bytes) -> str:
    """Add the line numbers to a 'duplicate token id N' error (the core checks ids after parsing, without lines).
    Runs only on the error path."""
    m = re.match(r"duplicate token id (\d+)", msg)
    if not m:
        return msg
    rank = m.group(1).encode()
    lines = [i for i, line in enumerate(data.split(b"\n"), 1) if line.rstrip(b"\r").rpartition(b" ")[2] == rank]
    hint = "; the file may be truncated (it does not end with a newline)" if not data.endswith(b"\n") else ""
    return f"{msg} (lines {', '.join(map(str, lines[:4]))} have rank {m.group(1)}){hint}" if lines else msg


def load_tiktoken(path: Union[str, os.PathLike[str]], *, pattern: Optional[str] = None,
                  special_tokens: Optional[Dict[str, int]] = None, name: Optional[str] = None) -> Tokenizer:
    p = Path(path)
    try:
        data = p.read_bytes()
    except OSError as e:
        raise OSError(f"cannot read tiktoken file {str(p)!r}: {e.strerror}") from None
    published = _published_name(p)
    if pattern is None:
        if published is None:
            raise ValueError(
                f"{p.name}: pattern= is required for a .tiktoken file that is not one of the published encodings "
                f"({', '.join(sorted(ENCODINGS))}); pass a regex or a name such as pattern='cl100k'"
            )
        pattern = ENCODINGS[published]["pattern"]
    if special_tokens is None:
        special_tokens = dict(ENCODINGS[published]["special_tokens"]) if published else {}
    try:
        model = _core.BpeModel.from_tiktoken_bytes(data, str(p))
    except ValueError as e:
        msg = _with_lines(str(e), data)
        raise ValueError(msg if msg.startswith(str(p)) else f"{p}: {msg}") from None
    return build_bpe(model, pattern=pattern, special_tokens=special_tokens, name=name or published or p.stem,
                     state={"ranks_tiktoken": data})


def from_ranks(ranks: Dict[bytes, int], *, pattern: str, special_tokens: Optional[Dict[str, int]] = None,
               name: str = "") -> Tokenizer:
    _check_pattern(pattern)
    if not isinstance(ranks, dict):
        raise TypeError("ranks must be a dict {bytes: int}")
    items = []
    for k, v in ranks.items():
        if not isinstance(k, (bytes, bytearray)) or not isinstance(v, int):
            raise TypeError(f"ranks must map bytes -> int; got {type(k).__name__} -> {type(v).__name__}")
        if v < 0:
            raise ValueError(f"rank {v} of {bytes(k)!r} is negative")
        items.append((bytes(k), v))
    model = _core.BpeModel(items, None, True)
    return build_bpe(model, pattern=pattern, special_tokens=special_tokens, name=name, state={})
