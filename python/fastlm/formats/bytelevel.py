"""The GPT-2 byte <-> printable-unicode mapping used by GPT-2 `encoder.json`/`vocab.bpe` and HF ByteLevel files.

Bytes that are printable Latin-1 map to themselves; the other 68 bytes map, in byte order, to U+0100 onwards.
"""
from __future__ import annotations

from functools import lru_cache
from typing import Dict


@lru_cache(maxsize=1)
def byte_to_unicode() -> Dict[int, str]:
    keep = [*range(0x21, 0x7F), *range(0xA1, 0xAD), *range(0xAE, 0x100)]
    table: Dict[int, str] = {b: chr(b) for b in keep}
    extra = 0
    for b in range(256):
        if b not in table:
            table[b] = chr(0x100 + extra)
            extra += 1
    return table


@lru_cache(maxsize=1)
def unicode_to_byte() -> Dict[str, int]:
    return {c: b for b, c in byte_to_unicode().items()}


def token_to_bytes(token: str, *, source: str = "<vocab>") -> bytes:
    """Decode a byte-level token string ('Ġthe') to its raw bytes (b' the')."""
    table = unicode_to_byte()
    try:
        return bytes(table[c] for c in token)
    except KeyError as e:
        raise ValueError(
            f"{source}: token {token!r} has the character {e.args[0]!r}, which is not in the byte-level alphabet"
        ) from None


def bytes_to_token(data: bytes) -> str:
    table = byte_to_unicode()
    return "".join(table[b] for b in data)
