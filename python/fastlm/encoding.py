"""HF-style encodings: ids, type_ids, attention_mask, offsets, with padding and truncation."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Dict, Iterator, List, Optional, Sequence, Tuple


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

    def numpy(self) -> Dict[str, Any]:
        import numpy as np

        return {
            "input_ids": np.asarray(self.ids, dtype=np.int64),
            "attention_mask": np.asarray(self.attention_mask, dtype=np.int64),
            "token_type_ids": np.asarray(self.type_ids, dtype=np.int64),
        }

    def torch(self) -> Dict[str, Any]:
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

    def numpy(self) -> Dict[str, Any]:
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

    def torch(self) -> Dict[str, Any]:
        import torch

        return {k: torch.from_numpy(v) for k, v in self.numpy().items()}

    def to_dict(self) -> Dict[str, Any]:
        """Arrow/`datasets`-friendly columns of plain lists."""
        return {
            "input_ids": self.ids,
            "attention_mask": self.attention_mask,
            "token_type_ids": self.type_ids,
        }


def pad_encoding(enc: Encoding, length: int, pad_id: int, pad_type_id: int = 0, side: str = "right") -> Encoding:
    """Pads in place to `length` (and every overflowing encoding too, as HF does)."""
    for o in enc.overflowing:
        pad_encoding(o, length, pad_id, pad_type_id, side)
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


# ------------------------------------------------------------------------------------- truncation with overflow
def truncated_lengths(la: int, lb: Optional[int], strategy: Optional[str], max_length: Optional[int],
                      n_added: int) -> Tuple[int, Optional[int]]:
    """Lengths to keep of A and B (HF `truncate_encodings`). max_length counts the n_added special tokens."""
    if strategy is None:
        return la, lb
    if max_length is None or not isinstance(max_length, int) or isinstance(max_length, bool) or max_length < 0:
        raise ValueError(f"truncation needs max_length (an int >= 0), got {max_length!r}")
    limit = max_length - n_added
    if limit < 0:
        # HF tokenizers leaves the sequences whole when max_length cannot even hold the special tokens
        return la, lb
    if limit == 0:
        return 0, (0 if lb is not None else None)
    total = la + (lb or 0)
    if total <= limit:
        return la, lb
    remove = total - limit
    if strategy == "longest_first":
        if lb is None:
            return limit, None
        n1, n2, swap = la, lb, False
        if n1 > n2:
            n1, n2, swap = n2, n1, True
        n2 = n1 if n1 > limit else max(n1, limit - n1)
        if n1 + n2 > limit:
            n1 = limit // 2
            n2 = n1 + limit % 2
        return (n2, n1) if swap else (n1, n2)
    if strategy == "only_first":
        if la <= remove:
            raise ValueError(f"only_first truncation cannot fit max_length={max_length}: the first sequence has {la} "
                             f"tokens and {remove} would have to go; use 'longest_first' or a larger max_length")
        return la - remove, lb
    if strategy == "only_second":
        if lb is None:
            raise ValueError("only_second truncation needs a pair (a second sequence)")
        if lb <= remove:
            raise ValueError(f"only_second truncation cannot fit max_length={max_length}: the second sequence has {lb} "
                             f"tokens and {remove} would have to go; use 'longest_first' or a larger max_length")
        return la, lb - remove
    raise ValueError(f"unknown truncation strategy {strategy!r}")


UNSET = -1  # sequence id of a part no processor assigned (HF: no sequence range); see `finalize_sequence_ids`


def plain(ids: List[int], offs: List[Tuple[int, int]], seq: Optional[int], type_id: int = 0,
          special: int = 0) -> Encoding:
    n = len(ids)
    return Encoding(ids=list(ids), type_ids=[type_id] * n, attention_mask=[1] * n, offsets=list(offs),
                    special_tokens_mask=[special] * n, sequence_ids=[seq] * n)


def window(ids: List[int], offs: List[Tuple[int, int]], max_len: Optional[int], stride: int, seq: int,
           type_id: int = 0, side: str = "right") -> Encoding:
    """Keep max_len tokens; the rest goes to `overflowing` as windows of max_len tokens that start every
    max_len - stride tokens (HF `Encoding::truncate`). side="right" keeps the start and windows run forward;
    side="left" keeps the end and windows run backward from it."""
    n = len(ids)
    if max_len is None or max_len >= n:
        return plain(ids, offs, seq, type_id)
    if max_len == 0:
        e = plain([], [], seq, type_id)
        e.overflowing = [plain(ids, offs, seq, type_id)]
        return e
    if stride >= max_len:
        raise ValueError(f"stride={stride} must be smaller than the number of tokens kept per sequence ({max_len}; "
                         "max_length minus the special tokens, shared between the pair)")
    step = max_len - stride
    ranges: List[Tuple[int, int]] = []
    if side == "right":
        for start in range(0, n, step):
            stop = min(start + max_len, n)
            ranges.append((start, stop))
            if stop == n:
                break
    else:
        for last in range(n - 1, -1, -step):
            stop = last + 1
            start = max(stop - max_len, 0)
            ranges.append((start, stop))
            if start == 0:
                break
    parts = [plain(ids[a:b], offs[a:b], seq, type_id) for a, b in ranges]
    first = parts[0]
    first.overflowing = parts[1:]
    return first
def _copy(e: Encoding) -> Encoding:
    return Encoding(ids=list(e.ids), type_ids=list(e.type_ids), attention_mask=list(e.attention_mask),
                    offsets=list(e.offsets), special_tokens_mask=list(e.special_tokens_mask),
                    sequence_ids=list(e.sequence_ids), overflowing=[_copy(o) for o in e.overflowing])


def merge_with(e: Encoding, other: Encoding) -> None:
    """Appends `other` to `e` in place, combining overflowing parts as HF `Encoding::merge_with` does: each of e's
    overflowing parts with other and with each of other's parts, then e itself with each of other's parts."""
    over: List[Encoding] = []
    for eo in e.overflowing:
        x = _copy(eo)
        merge_with(x, _copy(other))
        over.append(x)
        for oo in other.overflowing:
            x = _copy(eo)
            merge_with(x, _copy(oo))
            over.append(x)
    for oo in other.overflowing:
        x = _copy(e)
        merge_with(x, _copy(oo))
        over.append(x)
    e.ids += other.ids
    e.type_ids += other.type_ids
    e.attention_mask += other.attention_mask
    e.offsets += other.offsets
    e.special_tokens_mask += other.special_tokens_mask
    e.sequence_ids += other.sequence_ids
    e.overflowing = over


def finalize_sequence_ids(e: Encoding) -> None:
    """HF sequence ids: if no part had a sequence assigned, every token is sequence 0; otherwise unassigned
    tokens (special tokens) have none."""
    for o in e.overflowing:
        finalize_sequence_ids(o)
    if all(s == UNSET for s in e.sequence_ids):
        e.sequence_ids = [0] * len(e.ids)
    else:
        e.sequence_ids = [None if s == UNSET else s for s in e.sequence_ids]


def assemble(parts: List[Encoding], post: Any, add_special_tokens: bool, token_text: Any) -> Encoding:
    """Post-process A (and B), each possibly with overflowing windows, and concatenate (HF `post_process`). With no
    post-processor a pair keeps its raw type ids (A 0, B 1) and gets sequence ids 0 / 1."""
    if post is None:
        pieces = parts
        if len(parts) == 2:
            for k, p in enumerate(parts):
                _set_sequence(p, k)
    else:
        pieces = post.process(parts, add_special_tokens, token_text)
    out = plain([], [], UNSET)
    for p in pieces:
        merge_with(out, p)
    finalize_sequence_ids(out)
    return out


def _set_sequence(e: Encoding, seq: int) -> None:
    e.sequence_ids = [seq] * len(e.ids)
    for o in e.overflowing:
        _set_sequence(o, seq)


# ------------------------------------------------------------------------------------------------ settings
@dataclass(frozen=True)
class TruncationParams:
    """A tokenizer's truncation setting (HF `TruncationParams`): applied by `tok(...)` when the call passes no
    truncation option. strategy: longest_first / only_first / only_second; direction: right / left."""

    max_length: int
    stride: int = 0
    strategy: str = "longest_first"
    direction: str = "right"

    def __post_init__(self) -> None:
        if not isinstance(self.max_length, int) or isinstance(self.max_length, bool) or self.max_length < 0:
            raise ValueError(f"truncation max_length must be an int >= 0, not {self.max_length!r}")
        if not isinstance(self.stride, int) or isinstance(self.stride, bool) or self.stride < 0:
            raise ValueError(f"truncation stride must be an int >= 0, not {self.stride!r}")
        if self.strategy not in ("longest_first", "only_first", "only_second"):
            raise ValueError(f"truncation strategy must be 'longest_first', 'only_first' or 'only_second', "
                             f"not {self.strategy!r}")
        if self.direction not in ("right", "left"):
            raise ValueError(f"truncation direction must be 'right' or 'left', not {self.direction!r}")


@dataclass(frozen=True)
class PaddingParams:
    """A tokenizer's padding setting (HF `PaddingParams`): length=None pads a batch to its longest encoding
    (BatchLongest), an int pads to that length (Fixed)."""

    length: Optional[int] = None
    direction: str = "right"
    pad_to_multiple_of: Optional[int] = None
    pad_id: int = 0
    pad_type_id: int = 0
    pad_token: str = "[PAD]"

    def __post_init__(self) -> None:
        if self.length is not None and (not isinstance(self.length, int) or isinstance(self.length, bool)
                                        or self.length < 0):
            raise ValueError(f"padding length must be None or an int >= 0, not {self.length!r}")
        if self.direction not in ("right", "left"):
            raise ValueError(f"padding direction must be 'right' or 'left', not {self.direction!r}")
        if self.pad_to_multiple_of is not None and (not isinstance(self.pad_to_multiple_of, int)
                                                    or self.pad_to_multiple_of < 0):
            raise ValueError(f"pad_to_multiple_of must be None or an int >= 0, not {self.pad_to_multiple_of!r}")


def truncation_for_call(setting: Optional[TruncationParams], strategy: Optional[str], use_setting: bool,
                        max_length: Optional[int], stride: int) -> Optional[TruncationParams]:
    """The truncation of one HF-style call: the tokenizer's setting when the call passes none, else the call's
    strategy (None: no truncation) with its max_length and stride (the setting's direction, if any)."""
    if use_setting:
        return setting
    if strategy is None:
        return None
    if max_length is None or not isinstance(max_length, int) or isinstance(max_length, bool) or max_length < 0:
        raise ValueError(f"truncation needs max_length (an int >= 0), got {max_length!r}")
    direction = setting.direction if setting is not None else "right"
    return TruncationParams(max_length=max_length, stride=stride, strategy=strategy, direction=direction)


def pad_for_call(encs: List[Encoding], setting: Optional[PaddingParams], padding: Any, max_length: Optional[int],
                 pad_to_multiple_of: Optional[int], side: Optional[str], pad_id: Any) -> None:
    """Pads the encodings of one HF-style call: with the tokenizer's setting when the call passes no padding
    option (Fixed length or the batch's longest, HF `pad_encodings`), else with the call's options (the setting
    still gives the pad id, type id and side). `pad_id()` finds a pad id when there is no setting."""
    if padding is None:
        if setting is None:
            return
        target = setting.length if setting.length is not None else max((len(e) for e in encs), default=0)
        m = setting.pad_to_multiple_of
        if m and target % m:
            target += m - target % m
        pid, type_id, where = setting.pad_id, setting.pad_type_id, side or setting.direction
    else:
        t = padded_length([len(e) for e in encs], padding, max_length, pad_to_multiple_of)
        if t is None:
            return
        target = t
        pid, type_id = (setting.pad_id, setting.pad_type_id) if setting is not None else (int(pad_id()), 0)
        where = side or (setting.direction if setting is not None else "right")
    for e in encs:
        pad_encoding(e, target, pid, type_id, side=where)
