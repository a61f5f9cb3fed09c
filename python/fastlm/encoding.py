"""HF-style encodings: ids, type_ids, attention_mask, offsets, with padding and truncation."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Iterator, List, Optional, Sequence, Tuple


@dataclass
class Encoding:
    """One encoded sequence (or pair). Offsets are (start, end) positions in the original text (code points)."""

    ids: List[int]
    type_ids: List[int]
    attention_mask: List[int]
    offsets: List[Tuple[int, int]]
    special_tokens_mask: List[int]
    sequence_ids: List[Optional[int]] = field(default_factory=list)
    overflowing: List["Encoding"] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.ids)

    def numpy(self) -> dict:
        import numpy as np

        return {
            "input_ids": np.asarray(self.ids, dtype=np.int64),
            "attention_mask": np.asarray(self.attention_mask, dtype=np.int64),
            "token_type_ids": np.asarray(self.type_ids, dtype=np.int64),
        }

    def torch(self) -> dict:
        import torch

        return {k: torch.from_numpy(v) for k, v in self.numpy().items()}


@dataclass
class BatchEncoding:
    """A batch of encodings with column access (`batch["input_ids"]`) and tensor conversion."""

    encodings: List[Encoding]

    def __len__(self) -> int:
        return len(self.encodings)

    def __iter__(self) -> Iterator[Encoding]:
        return iter(self.encodings)

    def __getitem__(self, key: Any) -> Any:
        if isinstance(key, str):
            col = {
                "input_ids": "ids",
                "ids": "ids",
                "attention_mask": "attention_mask",
                "token_type_ids": "type_ids",
                "type_ids": "type_ids",
                "offsets": "offsets",
                "offset_mapping": "offsets",
                "special_tokens_mask": "special_tokens_mask",
            }.get(key)
            if col is None:
                raise KeyError(key)
            return [getattr(e, col) for e in self.encodings]
        return self.encodings[key]

    @property
    def ids(self) -> List[List[int]]:
        return [e.ids for e in self.encodings]

    @property
    def attention_mask(self) -> List[List[int]]:
        return [e.attention_mask for e in self.encodings]

    @property
    def type_ids(self) -> List[List[int]]:
        return [e.type_ids for e in self.encodings]

    @property
    def offsets(self) -> List[List[Tuple[int, int]]]:
        return [e.offsets for e in self.encodings]

    def numpy(self) -> dict:
        import numpy as np

        lens = {len(e) for e in self.encodings}
        if len(lens) > 1:
            raise ValueError("sequences have different lengths; pass padding=True (or 'max_length') to stack them")
        n = lens.pop() if lens else 0
        out = {}
        for key, col in (("input_ids", "ids"), ("attention_mask", "attention_mask"), ("token_type_ids", "type_ids")):
            arr = np.asarray([getattr(e, col) for e in self.encodings], dtype=np.int64)
            out[key] = arr.reshape(len(self.encodings), n)
        return out

    def torch(self) -> dict:
        import torch

        return {k: torch.from_numpy(v) for k, v in self.numpy().items()}

    def to_dict(self) -> dict:
        """Arrow/`datasets`-friendly columns of plain lists."""
        return {
            "input_ids": self.ids,
            "attention_mask": self.attention_mask,
            "token_type_ids": self.type_ids,
        }


def pad_encoding(enc: Encoding, length: int, pad_id: int, pad_type_id: int = 0, side: str = "right") -> Encoding:
    n = length - len(enc.ids)
    if n <= 0:
        return enc
    if side == "right":
        enc.ids += [pad_id] * n
        enc.type_ids += [pad_type_id] * n
        enc.attention_mask += [0] * n
        enc.offsets += [(0, 0)] * n
        enc.special_tokens_mask += [1] * n
        enc.sequence_ids += [None] * n
    else:
        enc.ids[:0] = [pad_id] * n
        enc.type_ids[:0] = [pad_type_id] * n
        enc.attention_mask[:0] = [0] * n
        enc.offsets[:0] = [(0, 0)] * n
        enc.special_tokens_mask[:0] = [1] * n
        enc.sequence_ids[:0] = [None] * n
    return enc


def padded_length(lengths: Sequence[int], padding: Any, max_length: Optional[int], multiple: Optional[int]) -> Optional[int]:
    if padding in (False, None, "do_not_pad"):
        return None
    if padding in (True, "longest"):
        target = max(lengths) if lengths else 0
    elif padding == "max_length":
        if max_length is None:
            raise ValueError("padding='max_length' needs max_length")
        target = max_length
    else:
        raise ValueError(f"padding must be True, False, 'longest', 'max_length' or 'do_not_pad', not {padding!r}")
    if multiple:
        target = -(-target // multiple) * multiple
    return target
