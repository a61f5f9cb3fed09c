"""Post-processors: add the model's special tokens around one sequence or a pair (HF TemplateProcessing semantics).

A template is a list of items; each item is either ("A"|"B", type_id) for a sequence or (token, type_id) for a
special token, e.g. BERT single = [("[CLS]", 0), ("A", 0), ("[SEP]", 0)].
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional, Sequence, Tuple

Item = Tuple[str, int]


@dataclass(frozen=True)
class TemplateProcessing:
    single: Tuple[Item, ...]
    pair: Tuple[Item, ...]
    special_tokens: Dict[str, int] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for tmpl, name in ((self.single, "single"), (self.pair, "pair")):
            for tok, _ in tmpl:
                if tok not in ("A", "B") and tok not in self.special_tokens:
                    raise ValueError(f"template {name!r} uses the special token {tok!r}, which has no id")
        if sum(1 for t, _ in self.single if t == "A") != 1:
            raise ValueError("the single template must contain 'A' exactly once")

    def num_special_tokens(self, is_pair: bool) -> int:
        return sum(1 for t, _ in (self.pair if is_pair else self.single) if t not in ("A", "B"))

    def apply(
        self,
        a: Sequence[int],
        b: Optional[Sequence[int]] = None,
        a_offsets: Optional[Sequence[Tuple[int, int]]] = None,
        b_offsets: Optional[Sequence[Tuple[int, int]]] = None,
    ) -> Tuple[List[int], List[int], List[int], List[Tuple[int, int]], List[Optional[int]]]:
        """Returns (ids, type_ids, special_tokens_mask, offsets, sequence_ids)."""
        tmpl = self.pair if b is not None else self.single
        ids: List[int] = []
        types: List[int] = []
        special: List[int] = []
        offs: List[Tuple[int, int]] = []
        seq: List[Optional[int]] = []
        for tok, tid in tmpl:
            if tok == "A" or tok == "B":
                part = a if tok == "A" else b
                if part is None:
                    continue
                po = a_offsets if tok == "A" else b_offsets
                ids.extend(part)
                types.extend([tid] * len(part))
                special.extend([0] * len(part))
                offs.extend(po if po is not None else [(0, 0)] * len(part))
                seq.extend([0 if tok == "A" else 1] * len(part))
            else:
                ids.append(self.special_tokens[tok])
                types.append(tid)
                special.append(1)
                offs.append((0, 0))
                seq.append(None)
        return ids, types, special, offs, seq

    def to_json(self) -> Dict[str, Any]:
        def conv(t: Sequence[Item]) -> List[Dict[str, Any]]:
            return [
                {"Sequence": {"id": tok, "type_id": tid}} if tok in ("A", "B") else {"SpecialToken": {"id": tok, "type_id": tid}}
                for tok, tid in t
            ]

        return {
            "type": "TemplateProcessing",
            "single": conv(self.single),
            "pair": conv(self.pair),
            "special_tokens": {t: {"id": t, "ids": [i], "tokens": [t]} for t, i in self.special_tokens.items()},
        }
