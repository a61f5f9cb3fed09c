"""Encoding with a custom pre-tokenizer pattern (Tokenizer(pattern=...) that the C++ scanners do not cover):
the `regex` module splits the text, the C++ BPE model merges each piece."""
from __future__ import annotations

from typing import TYPE_CHECKING, List, Optional, Union, cast

from . import _core

if TYPE_CHECKING:
    from .tokenizer import Tokenizer


def encode(tok: "Tokenizer", text: Union[str, bytes], a: Optional[bytes], d: Optional[bytes]) -> List[int]:
    """General path for custom patterns: `regex` splits, the C++ model merges."""
    import regex

    if isinstance(text, bytes):
        text = text.decode("utf-8", "surrogateescape")
    toks = tok._special_order
    if d is not None:
        dis = [t for t, m in zip(toks, d) if m]
        if dis:
            m = regex.search("|".join(regex.escape(t) for t in sorted(dis, key=len, reverse=True)), text)
            if m:
                raise ValueError(
                    f"Encountered text corresponding to disallowed special token {m.group()!r}.\n"
                    f"To encode it as a special token, pass it in allowed_special; to encode it as ordinary text, "
                    f"pass disallowed_special=() or leave it out of disallowed_special."
                )
    allowed = [t for t, m in zip(toks, a) if m] if a is not None else []
    model = cast("_core.BpeEncoder", tok._core.encoder).model
    out: List[int] = []

    def ordinary(seg: str) -> None:
        if seg:
            if tok._split_gaps:
                parts, pos = [], 0
                for m in tok._regex.finditer(seg):
                    if m.start() > pos:
                        parts.append(seg[pos:m.start()])
                    if m.end() > m.start():
                        parts.append(m.group())
                    pos = m.end()
                if pos < len(seg):
                    parts.append(seg[pos:])
            else:
                parts = tok._regex.findall(seg)
            pieces = [p.encode("utf-8", "surrogateescape") for p in parts]
            out.extend(model.encode_pieces(pieces))

    if allowed:
        sp = regex.compile("|".join(regex.escape(t) for t in sorted(allowed, key=len, reverse=True)))
        pos = 0
        for m in sp.finditer(text):
            ordinary(text[pos:m.start()])
            out.append(tok._special_tokens[m.group()])
            pos = m.end()
        ordinary(text[pos:])
    else:
        ordinary(text)
    return out
