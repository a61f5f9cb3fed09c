"""Pieces shared by the generators of the per-code-point tables (gen_unicode_norm.py, gen_pipeline_unicode.py).

Every table has the same layout: each code point maps to a record (a tuple of properties, interned so equal
records share one index), and the per-code-point record indices are compressed into two stages -- stage1 holds,
for each block of code points, the index of its block in stage2, and stage2 holds each distinct block once.
"""
from __future__ import annotations

from typing import Callable, Hashable, List, Tuple


class RecordInterner:
    """Gives each distinct record a uint16 index, in order of first appearance."""

    def __init__(self) -> None:
        self.records: List[Hashable] = []
        self._index: dict = {}

    def index(self, key: Hashable) -> int:
        r = self._index.get(key)
        if r is None:
            r = len(self.records)
            assert r < 65536, "record indices are uint16"
            self._index[key] = r
            self.records.append(key)
        return r


def two_stage(per_cp: List[int], block: int) -> Tuple[List[int], List[int], int]:
    """(stage1, stage2, number of distinct blocks) for per-code-point values in blocks of `block` code points."""
    blocks: dict = {}
    stage1: List[int] = []
    stage2: List[int] = []
    for b0 in range(0, len(per_cp), block):
        blk = tuple(per_cp[b0:b0 + block])
        if blk not in blocks:
            blocks[blk] = len(blocks)
            stage2.extend(blk)
        stage1.append(blocks[blk])
    return stage1, stage2, len(blocks)


def write_u16_array(w: Callable[[str], object], name: str, values: List[int]) -> None:
    """A `static const uint16_t name[n] = {...};` definition, 24 values a line."""
    w(f"static const uint16_t {name}[{len(values)}] = {{\n")
    for i in range(0, len(values), 24):
        w("  " + ", ".join(str(x) for x in values[i:i + 24]) + ",\n")
    w("};\n")
