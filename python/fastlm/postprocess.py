"""Post-processors: what `tok(text, pair)` adds around the model's tokens, with the semantics of HF tokenizers'
post-processors (the `post_processor` of a tokenizer.json).

* TemplateProcessing: a template per single / pair input; each item is ("A" | "B", type_id) for a sequence or
  (token, type_id) for a special token, e.g. BERT single = [("[CLS]", 0), ("A", 0), ("[SEP]", 0)]. A special token
  may stand for several ids (`token_ids`).
* BertProcessing(sep, cls): [CLS] A [SEP] (B [SEP]); the sequences keep their type ids (A 0, B 1).
* RobertaProcessing(sep, cls, trim_offsets, add_prefix_space): <s> A </s> (</s> B </s>), every type id 0, and
  byte-level offsets trimmed of the spaces a token carries.
* ByteLevelProcessing(trim_offsets, add_prefix_space): only the offset trimming.
* SequenceProcessing([...]): each in turn.

Every processor works on the list of encodings (A, and B for a pair) after truncation, each possibly with
overflowing windows, and returns a list that `encoding.assemble` concatenates (HF `process_encodings` followed by
`Encoding::merge`). With add_special_tokens=False each does what HF does then (a template still sets its type ids;
BERT and RoBERTa leave the sequences as they are, RoBERTa still zeroes the type ids).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple, Union

from .encoding import UNSET, Encoding, plain

Item = Tuple[str, int]
TokenText = Callable[[int], str]  # id -> the token's string as HF spells it (byte-level tokens in their alphabet)

_BYTE_LEVEL_SPACE = "\u0120"  # 'Ġ', the byte-level spelling of b' '
_SPACES = frozenset({_BYTE_LEVEL_SPACE, " "})


def _space_run(text: str) -> int:
    """Length of the run of spaces (byte-level 'Ġ' or Unicode whitespace) that starts the text."""
    n = 0
    for ch in text:
        if ch != _BYTE_LEVEL_SPACE and not ch.isspace():
            break
        n += 1
    return n


def _set_type(e: Encoding, type_id: int) -> None:
    e.type_ids = [type_id] * len(e.ids)
    for o in e.overflowing:
        _set_type(o, type_id)


def _set_sequence(e: Encoding, seq: int) -> None:
    e.sequence_ids = [seq] * len(e.ids)
    for o in e.overflowing:
        _set_sequence(o, seq)


def trim_offsets(e: Encoding, add_prefix_space: bool, token_text: TokenText) -> None:
    """HF's byte-level offset trimming (`process_offsets`): a token's offsets lose the spaces it starts or ends
    with (a leading one is kept on the first token when add_prefix_space added it)."""
    for o in e.overflowing:
        trim_offsets(o, add_prefix_space, token_text)
    for i, (tid, (s, t)) in enumerate(zip(e.ids, e.offsets)):
        text = token_text(tid)
        if not text or not (text[0] in _SPACES or text[-1] in _SPACES or text[0].isspace() or text[-1].isspace()):
            continue
        lead = _space_run(text)
        trail = _space_run(text[::-1])
        if lead:
            if (i == 0 or s == 0) and add_prefix_space and lead == 1:
                lead = 0
            s = min(s + lead, t)
        if trail and t >= trail:
            t = max(t - trail, s)
        e.offsets[i] = (s, t)


@dataclass(frozen=True)
class TemplateProcessing:
    single: Tuple[Item, ...]
    pair: Tuple[Item, ...]
    special_tokens: Dict[str, int] = field(default_factory=dict)
    # tokens that stand for several ids (HF allows a list); overrides special_tokens for those names
    token_ids: Dict[str, Tuple[int, ...]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for tmpl, name in ((self.single, "single"), (self.pair, "pair")):
            for tok, _ in tmpl:
                if tok not in ("A", "B") and tok not in self.special_tokens and tok not in self.token_ids:
                    raise ValueError(f"template {name!r} uses the special token {tok!r}, which has no id")
        if sum(1 for t, _ in self.single if t == "A") != 1:
            raise ValueError("the single template must contain 'A' exactly once")

    def ids_of(self, tok: str) -> Tuple[int, ...]:
        return self.token_ids[tok] if tok in self.token_ids else (self.special_tokens[tok],)

    def num_special_tokens(self, is_pair: bool) -> int:
        return sum(len(self.ids_of(t)) for t, _ in (self.pair if is_pair else self.single) if t not in ("A", "B"))

    def apply(
        self,
        a: Sequence[int],
        b: Optional[Sequence[int]] = None,
        a_offsets: Optional[Sequence[Tuple[int, int]]] = None,
        b_offsets: Optional[Sequence[Tuple[int, int]]] = None,
    ) -> Tuple[List[int], List[int], List[int], List[Tuple[int, int]], List[Optional[int]]]:
        """Returns (ids, type_ids, special_tokens_mask, offsets, sequence_ids) for plain id lists."""
        parts = [plain(list(a), list(a_offsets) if a_offsets is not None else [(0, 0)] * len(a), UNSET)]
        if b is not None:
            parts.append(plain(list(b), list(b_offsets) if b_offsets is not None else [(0, 0)] * len(b), UNSET, 1))
        from .encoding import assemble

        e = assemble(parts, self, True, lambda i: "")
        return e.ids, e.type_ids, e.special_tokens_mask, e.offsets, e.sequence_ids

    def process(self, encs: List[Encoding], add_special_tokens: bool, token_text: TokenText) -> List[Encoding]:
        out: List[Encoding] = []
        for tok, tid in (self.pair if len(encs) == 2 else self.single):
            if tok in ("A", "B"):
                k = 0 if tok == "A" else 1
                e = encs[k]
                _set_type(e, tid)
                _set_sequence(e, k)
                out.append(e)
            elif add_special_tokens:
                ids = list(self.ids_of(tok))
                out.append(plain(ids, [(0, 0)] * len(ids), None, tid, 1))
        return out

    def to_json(self) -> Dict[str, Any]:
        def conv(t: Sequence[Item]) -> List[Dict[str, Any]]:
            return [{"Sequence": {"id": tok, "type_id": tid}} if tok in ("A", "B")
                    else {"SpecialToken": {"id": tok, "type_id": tid}} for tok, tid in t]

        names = {t for t, _ in (*self.single, *self.pair) if t not in ("A", "B")} | set(self.special_tokens)
        specials = {}
        for t in sorted(names):
            ids = list(self.ids_of(t))
            specials[t] = {"id": t, "ids": ids, "tokens": [t] * len(ids) if t in self.token_ids else [t]}
        return {"type": "TemplateProcessing", "single": conv(self.single), "pair": conv(self.pair),
                "special_tokens": specials}


@dataclass(frozen=True)
class BertProcessing:
    sep: Tuple[str, int]
    cls: Tuple[str, int]

    def num_special_tokens(self, is_pair: bool) -> int:
        return 3 if is_pair else 2

    def process(self, encs: List[Encoding], add_special_tokens: bool, token_text: TokenText) -> List[Encoding]:
        if not add_special_tokens:
            return encs
        out = [plain([self.cls[1]], [(0, 0)], None, 0, 1)]
        _set_sequence(encs[0], 0)
        out += [encs[0], plain([self.sep[1]], [(0, 0)], None, 0, 1)]
        if len(encs) == 2:
            _set_sequence(encs[1], 1)
            out += [encs[1], plain([self.sep[1]], [(0, 0)], None, 1, 1)]
        return out

    def to_json(self) -> Dict[str, Any]:
        return {"type": "BertProcessing", "sep": [self.sep[0], self.sep[1]], "cls": [self.cls[0], self.cls[1]]}


@dataclass(frozen=True)
class RobertaProcessing:
    sep: Tuple[str, int]
    cls: Tuple[str, int]
    trim_offsets: bool = True
    add_prefix_space: bool = True

    def num_special_tokens(self, is_pair: bool) -> int:
        return 4 if is_pair else 2

    def process(self, encs: List[Encoding], add_special_tokens: bool, token_text: TokenText) -> List[Encoding]:
        if self.trim_offsets:
            for e in encs:
                trim_offsets(e, self.add_prefix_space, token_text)
        for e in encs:
            _set_type(e, 0)
        if not add_special_tokens:
            return encs
        sep, cls = self.sep[1], self.cls[1]
        _set_sequence(encs[0], 0)
        out = [plain([cls], [(0, 0)], None, 0, 1), encs[0], plain([sep], [(0, 0)], None, 0, 1)]
        if len(encs) == 2:
            _set_sequence(encs[1], 1)
            out += [plain([sep], [(0, 0)], None, 0, 1), encs[1], plain([sep], [(0, 0)], None, 0, 1)]
        return out

    def to_json(self) -> Dict[str, Any]:
        return {"type": "RobertaProcessing", "sep": [self.sep[0], self.sep[1]], "cls": [self.cls[0], self.cls[1]],
                "trim_offsets": self.trim_offsets, "add_prefix_space": self.add_prefix_space}


@dataclass(frozen=True)
class ByteLevelProcessing:
    trim_offsets: bool = True
    add_prefix_space: bool = True
    use_regex: bool = True  # carried for the JSON form; the processor itself ignores it

    def num_special_tokens(self, is_pair: bool) -> int:
        return 0

    def process(self, encs: List[Encoding], add_special_tokens: bool, token_text: TokenText) -> List[Encoding]:
        if self.trim_offsets:
            for e in encs:
                trim_offsets(e, self.add_prefix_space, token_text)
        for k, e in enumerate(encs):
            e.sequence_ids = [k] * len(e.ids)
        return encs

    def to_json(self) -> Dict[str, Any]:
        return {"type": "ByteLevel", "add_prefix_space": self.add_prefix_space, "trim_offsets": self.trim_offsets,
                "use_regex": self.use_regex}


@dataclass(frozen=True)
class SequenceProcessing:
    processors: Tuple["PostProcessor", ...]

    def num_special_tokens(self, is_pair: bool) -> int:
        return sum(p.num_special_tokens(is_pair) for p in self.processors)

    def process(self, encs: List[Encoding], add_special_tokens: bool, token_text: TokenText) -> List[Encoding]:
        for p in self.processors:
            encs = p.process(encs, add_special_tokens, token_text)
        return encs

    def to_json(self) -> Dict[str, Any]:
        return {"type": "Sequence", "processors": [p.to_json() for p in self.processors]}


PostProcessor = Union[TemplateProcessing, BertProcessing, RobertaProcessing, ByteLevelProcessing, SequenceProcessing]
