"""tokenizer.json post_processor, truncation and padding sections <-> fastlm's post-processors and settings."""
from __future__ import annotations

from typing import Any, Dict, List, Optional, Tuple

from ..encoding import PaddingParams, TruncationParams
from ..postprocess import (BertProcessing, ByteLevelProcessing, PostProcessor, RobertaProcessing, SequenceProcessing,
                           TemplateProcessing)
from .hf_components import JsonObj, Where, field, type_of

POST_PROCESSORS = ("TemplateProcessing", "BertProcessing", "RobertaProcessing", "ByteLevel", "Sequence")
_STRATEGIES = {"LongestFirst": "longest_first", "OnlyFirst": "only_first", "OnlySecond": "only_second"}
_DIRECTIONS = {"Right": "right", "Left": "left"}


def _token_pair(obj: JsonObj, key: str, where: Where) -> Tuple[str, int]:
    v = obj.get(key)
    if (not isinstance(v, list) or len(v) != 2 or not isinstance(v[0], str) or not isinstance(v[1], int)
            or isinstance(v[1], bool)):
        raise where.sub(key).error("must be [token, id]")
    return v[0], v[1]


def _template_items(raw: Any, where: Where) -> Tuple[Tuple[str, int], ...]:
    if not isinstance(raw, list):
        raise where.error("must be a list")
    out = []
    for k, it in enumerate(raw):
        w = where.sub(k)
        if not isinstance(it, dict) or len(it) != 1 or not ({"Sequence", "SpecialToken"} & set(it)):
            raise w.error("must be {\"Sequence\": ...} or {\"SpecialToken\": ...}")
        kind = "Sequence" if "Sequence" in it else "SpecialToken"
        body = field(it, kind, dict, w)
        name = field(body, "id", str, w.sub(kind))
        if kind == "Sequence" and name not in ("A", "B"):
            raise w.sub(kind).sub("id").error(f"must be 'A' or 'B', not {name!r}")
        out.append((name, field(body, "type_id", int, w.sub(kind), 0)))
    return tuple(out)


def post_processor_from_json(obj: Any, source: str, where: Optional[Where] = None) -> Optional[PostProcessor]:
    if obj is None:
        return None
    where = where or Where(source, "post_processor")
    t = type_of(obj, where)
    if t == "TemplateProcessing":
        single = _template_items(obj.get("single"), where.sub("single"))
        pair = _template_items(obj.get("pair"), where.sub("pair"))
        specials: Dict[str, int] = {}
        multi: Dict[str, Tuple[int, ...]] = {}
        sp = field(obj, "special_tokens", dict, where, {})
        for name, v in sp.items():
            w = where.sub("special_tokens").sub(name)
            if not isinstance(v, dict):
                raise w.error("must be an object")
            ids = field(v, "ids", list, w)
            if not ids or not all(isinstance(i, int) and not isinstance(i, bool) for i in ids):
                raise w.sub("ids").error("must be a non-empty list of ids")
            if len(ids) == 1:
                specials[name] = ids[0]
            else:
                multi[name] = tuple(ids)
        try:
            return TemplateProcessing(single=single, pair=pair, special_tokens=specials, token_ids=multi)
        except ValueError as e:
            raise where.error(str(e)) from None
    if t == "BertProcessing":
        return BertProcessing(sep=_token_pair(obj, "sep", where), cls=_token_pair(obj, "cls", where))
    if t == "RobertaProcessing":
        return RobertaProcessing(sep=_token_pair(obj, "sep", where), cls=_token_pair(obj, "cls", where),
                                 trim_offsets=field(obj, "trim_offsets", bool, where, True),
                                 add_prefix_space=field(obj, "add_prefix_space", bool, where, True))
    if t == "ByteLevel":
        return ByteLevelProcessing(trim_offsets=field(obj, "trim_offsets", bool, where, True),
                                   add_prefix_space=field(obj, "add_prefix_space", bool, where, True),
                                   use_regex=field(obj, "use_regex", bool, where, True))
    if t == "Sequence":
        items = field(obj, "processors", list, where)
        procs = []
        for k, x in enumerate(items):
            p = post_processor_from_json(x, source, where.sub("processors").sub(k))
            if p is not None:
                procs.append(p)
        return SequenceProcessing(tuple(procs))
    raise where.sub("type").unsupported(t, POST_PROCESSORS)


def post_processor_to_json(p: Optional[PostProcessor]) -> Optional[JsonObj]:
    return None if p is None else p.to_json()


def truncation_from_json(obj: Any, source: str) -> Optional[TruncationParams]:
    if obj is None:
        return None
    where = Where(source, "truncation")
    if not isinstance(obj, dict):
        raise where.error("must be an object or null")
    strategy = field(obj, "strategy", str, where, "LongestFirst")
    if strategy not in _STRATEGIES:
        raise where.sub("strategy").unsupported(strategy, tuple(_STRATEGIES))
    direction = field(obj, "direction", str, where, "Right")
    if direction not in _DIRECTIONS:
        raise where.sub("direction").unsupported(direction, tuple(_DIRECTIONS))
    try:
        return TruncationParams(max_length=field(obj, "max_length", int, where), stride=field(obj, "stride", int, where, 0),
                                strategy=_STRATEGIES[strategy], direction=_DIRECTIONS[direction])
    except ValueError as e:
        raise where.error(str(e)) from None


def truncation_to_json(t: Optional[TruncationParams]) -> Optional[JsonObj]:
    if t is None:
        return None
    rs = {v: k for k, v in _STRATEGIES.items()}
    rd = {v: k for k, v in _DIRECTIONS.items()}
    return {"direction": rd[t.direction], "max_length": t.max_length, "strategy": rs[t.strategy], "stride": t.stride}


def padding_from_json(obj: Any, source: str) -> Optional[PaddingParams]:
    if obj is None:
        return None
    where = Where(source, "padding")
    if not isinstance(obj, dict):
        raise where.error("must be an object or null")
    st = obj.get("strategy", "BatchLongest")
    length: Optional[int]
    if st == "BatchLongest":
        length = None
    elif isinstance(st, dict) and set(st) == {"Fixed"} and isinstance(st["Fixed"], int):
        length = st["Fixed"]
    else:
        raise where.sub("strategy").error(f"must be \"BatchLongest\" or {{\"Fixed\": n}}, not {st!r}")
    direction = field(obj, "direction", str, where, "Right")
    if direction not in _DIRECTIONS:
        raise where.sub("direction").unsupported(direction, tuple(_DIRECTIONS))
    try:
        return PaddingParams(length=length, direction=_DIRECTIONS[direction],
                             pad_to_multiple_of=field(obj, "pad_to_multiple_of", int, where, None),
                             pad_id=field(obj, "pad_id", int, where, 0), pad_type_id=field(obj, "pad_type_id", int, where, 0),
                             pad_token=field(obj, "pad_token", str, where, "[PAD]"))
    except ValueError as e:
        raise where.error(str(e)) from None


def padding_to_json(p: Optional[PaddingParams]) -> Optional[JsonObj]:
    if p is None:
        return None
    rd = {v: k for k, v in _DIRECTIONS.items()}
    strategy: Any = "BatchLongest" if p.length is None else {"Fixed": p.length}
    return {"strategy": strategy, "direction": rd[p.direction], "pad_to_multiple_of": p.pad_to_multiple_of,
            "pad_id": p.pad_id, "pad_type_id": p.pad_type_id, "pad_token": p.pad_token}


def specials_used(p: Optional[PostProcessor]) -> List[Tuple[str, int]]:
    """(token, id) pairs a post-processor inserts, for checks against the vocabulary."""
    if p is None:
        return []
    if isinstance(p, TemplateProcessing):
        out = list(p.special_tokens.items())
        for name, ids in p.token_ids.items():
            out += [(name, i) for i in ids]
        return out
    if isinstance(p, (BertProcessing, RobertaProcessing)):
        return [p.cls, p.sep]
    if isinstance(p, SequenceProcessing):
        return [x for q in p.processors for x in specials_used(q)]
    return []
