"""tokenizer.json components -> the C++ pipeline's components (csrc/core/pipeline), with validation.

Each `*_from_json` takes the JSON object of one component and returns the `_core` object that reproduces it, or
raises ValueError naming the field (`normalizer.normalizers[1].type`, ...) and saying what is supported: an
unsupported component or option value is never silently encoded differently.
"""
from __future__ import annotations

import base64
import binascii
from typing import Any, Dict, List, Optional, Tuple, Union, cast

from .. import _core

JsonObj = Dict[str, Any]

NORMALIZERS = ("NFC", "NFD", "NFKC", "NFKD", "Lowercase", "StripAccents", "BertNormalizer", "Precompiled", "Replace",
               "Prepend", "Strip", "Sequence")
PRE_TOKENIZERS = ("ByteLevel", "Split", "Whitespace", "WhitespaceSplit", "BertPreTokenizer", "Metaspace", "Digits",
                  "Punctuation", "Sequence")
DECODERS = ("ByteLevel", "WordPiece", "Metaspace", "ByteFallback", "Fuse", "Strip", "Replace", "Sequence")
BEHAVIORS = {"Removed": "removed", "Isolated": "isolated", "MergedWithPrevious": "merged_with_previous",
             "MergedWithNext": "merged_with_next", "Contiguous": "contiguous"}
PREPEND_SCHEMES = ("always", "first", "never")


class Where:
    """Names a field for error messages: '<file>: field `pre_tokenizer.pretokenizers[0].behavior`'."""

    def __init__(self, source: str, path: str) -> None:
        self.source = source
        self.path = path

    def sub(self, key: Union[str, int]) -> "Where":
        return Where(self.source, f"{self.path}[{key}]" if isinstance(key, int) else f"{self.path}.{key}")

    def error(self, msg: str) -> ValueError:
        return ValueError(f"{self.source}: field '{self.path}' {msg}")

    def unsupported(self, what: str, supported: Tuple[str, ...]) -> ValueError:
        return ValueError(f"{self.source}: field '{self.path}' = {what!r} is not supported by fastlm "
                          f"(supported: {', '.join(supported)})")


def field(obj: JsonObj, key: str, types: Union[type, Tuple[type, ...]], where: Where, default: Any = ...) -> Any:
    """obj[key] checked against `types` (bool is not accepted as int); `default` when absent (or null)."""
    if key not in obj or (obj[key] is None and default is not ...):
        if default is ...:
            raise where.sub(key).error("is missing")
        return default
    v = obj[key]
    tt = types if isinstance(types, tuple) else (types,)
    if not isinstance(v, tt) or (isinstance(v, bool) and bool not in tt):
        names = " or ".join(t.__name__ for t in tt)
        raise where.sub(key).error(f"must be {names}, not {type(v).__name__}")
    return v


def type_of(obj: Any, where: Where) -> str:
    if not isinstance(obj, dict):
        raise where.error(f"must be an object, not {type(obj).__name__}")
    t = obj.get("type")
    if not isinstance(t, str):
        raise where.sub("type").error("is missing or not a string")
    return t


def pattern_of(obj: JsonObj, where: Where) -> Tuple[str, bool]:
    """A Split / Replace pattern: ({"String": s} | {"Regex": r}) -> (text, is_regex)."""
    p = field(obj, "pattern", dict, where)
    w = where.sub("pattern")
    if len(p) != 1 or not ({"String", "Regex"} & set(p)):
        raise w.error("must be {\"String\": ...} or {\"Regex\": ...}")
    if "String" in p:
        return field(p, "String", str, w), False
    return field(p, "Regex", str, w), True


def _compiled(pattern: str, regex: bool, where: Where) -> None:
    if regex:
        try:
            _core.Regex(pattern)
        except ValueError as e:
            raise where.sub("pattern").error(f"is a regex fastlm cannot run: {e}") from None


# ------------------------------------------------------------------------------------------------ normalizers
def normalizer_from_json(obj: Any, where: Where) -> "_core.Normalizer":
    t = type_of(obj, where)
    if t in ("NFC", "NFD", "NFKC", "NFKD"):
        return _core.Normalizer.unicode(t)
    if t == "Lowercase":
        return _core.Normalizer.lowercase()
    if t == "StripAccents":
        return _core.Normalizer.strip_accents()
    if t == "BertNormalizer":
        lower = field(obj, "lowercase", bool, where, True)
        strip = field(obj, "strip_accents", bool, where, None)
        return _core.Normalizer.bert(field(obj, "clean_text", bool, where, True),
                                     field(obj, "handle_chinese_chars", bool, where, True),
                                     lower if strip is None else strip, lower)
    if t == "Precompiled":
        raw = field(obj, "precompiled_charsmap", str, where, "")
        try:
            blob = base64.b64decode(raw, validate=True)
        except (binascii.Error, ValueError):
            raise where.sub("precompiled_charsmap").error("is not valid base64") from None
        if not blob:
            return _core.Normalizer.sequence([])  # an empty charsmap is the identity
        try:
            return _core.Normalizer.precompiled(blob)
        except ValueError as e:
            raise where.sub("precompiled_charsmap").error(f"is malformed: {e}") from None
    if t == "Replace":
        pat, regex = pattern_of(obj, where)
        _compiled(pat, regex, where)
        return _core.Normalizer.replace(pat, regex, field(obj, "content", str, where))
    if t == "Prepend":
        return _core.Normalizer.prepend(field(obj, "prepend", str, where))
    if t == "Strip":
        return _core.Normalizer.strip(field(obj, "strip_left", bool, where, True),
                                      field(obj, "strip_right", bool, where, True))
    if t == "Sequence":
        items = field(obj, "normalizers", list, where)
        return _core.Normalizer.sequence([normalizer_from_json(x, where.sub("normalizers").sub(i))
                                          for i, x in enumerate(items)])
    raise where.sub("type").unsupported(t, NORMALIZERS)


# ------------------------------------------------------------------------------------------------ pre-tokenizers
def prepend_scheme(obj: JsonObj, where: Where) -> str:
    if "prepend_scheme" in obj and obj["prepend_scheme"] is not None:
        s: str = field(obj, "prepend_scheme", str, where)
        if s not in PREPEND_SCHEMES:
            raise where.sub("prepend_scheme").unsupported(s, PREPEND_SCHEMES)
        return s
    # files written before prepend_scheme existed
    return "always" if field(obj, "add_prefix_space", bool, where, True) else "never"


def replacement_of(obj: JsonObj, where: Where) -> str:
    r: str = field(obj, "replacement", str, where, "\u2581")
    if len(r) != 1:
        raise where.sub("replacement").error(f"must be one character, not {r!r}")
    return r


def behavior_of(obj: JsonObj, where: Where, default: str) -> str:
    b = field(obj, "behavior", str, where, default)
    if b not in BEHAVIORS:
        raise where.sub("behavior").unsupported(b, tuple(BEHAVIORS))
    return BEHAVIORS[b]


def pre_tokenizer_from_json(obj: Any, where: Where) -> "_core.PreTokenizer":
    t = type_of(obj, where)
    if t == "ByteLevel":
        return _core.PreTokenizer.byte_level(field(obj, "add_prefix_space", bool, where, True),
                                             field(obj, "use_regex", bool, where, True))
    if t == "Split":
        pat, regex = pattern_of(obj, where)
        _compiled(pat, regex, where)
        return _core.PreTokenizer.split(pat, regex, behavior_of(obj, where, "Removed"),
                                        field(obj, "invert", bool, where, False))
    if t == "Whitespace":
        return _core.PreTokenizer.whitespace()
    if t == "WhitespaceSplit":
        return _core.PreTokenizer.whitespace_split()
    if t == "BertPreTokenizer":
        return _core.PreTokenizer.bert()
    if t == "Metaspace":
        return _core.PreTokenizer.metaspace(replacement_of(obj, where), prepend_scheme(obj, where),
                                            field(obj, "split", bool, where, True))
    if t == "Digits":
        return _core.PreTokenizer.digits(field(obj, "individual_digits", bool, where, False))
    if t == "Punctuation":
        return _core.PreTokenizer.punctuation(behavior_of(obj, where, "Isolated"))
    if t == "Sequence":
        items = field(obj, "pretokenizers", list, where)
        return _core.PreTokenizer.sequence([pre_tokenizer_from_json(x, where.sub("pretokenizers").sub(i))
                                            for i, x in enumerate(items)])
    raise where.sub("type").unsupported(t, PRE_TOKENIZERS)


# ------------------------------------------------------------------------------------------------ decoders
def decoder_from_json(obj: Any, where: Where) -> "_core.Decoder":
    t = type_of(obj, where)
    if t == "ByteLevel":
        return _core.Decoder.byte_level()
    if t == "WordPiece":
        return _core.Decoder.wordpiece(field(obj, "prefix", str, where, "##"), field(obj, "cleanup", bool, where, True))
    if t == "Metaspace":
        return _core.Decoder.metaspace(replacement_of(obj, where), prepend_scheme(obj, where) != "never")
    if t == "ByteFallback":
        return _core.Decoder.byte_fallback()
    if t == "Fuse":
        return _core.Decoder.fuse()
    if t == "Strip":
        content = field(obj, "content", str, where, " ")
        if len(content) != 1:
            raise where.sub("content").error(f"must be one character, not {content!r}")
        start = field(obj, "start", int, where, 0)
        stop = field(obj, "stop", int, where, 0)
        if start < 0 or stop < 0:
            raise where.error("start and stop must be >= 0")
        return _core.Decoder.strip(content, start, stop)
    if t == "Replace":
        pat, regex = pattern_of(obj, where)
        _compiled(pat, regex, where)
        return _core.Decoder.replace(pat, regex, field(obj, "content", str, where))
    if t == "Sequence":
        items = field(obj, "decoders", list, where)
        return _core.Decoder.sequence([decoder_from_json(x, where.sub("decoders").sub(i))
                                       for i, x in enumerate(items)])
    raise where.sub("type").unsupported(t, DECODERS)


# ------------------------------------------------------------------------------------------------ added tokens
AddedSpec = Tuple[str, int, bool, bool, bool, bool, bool]  # content, id, special, single_word, lstrip, rstrip, normalized


def added_tokens_from_json(raw: Any, source: str) -> List[AddedSpec]:
    where = Where(source, "added_tokens")
    if raw is None:
        return []
    if not isinstance(raw, list):
        raise where.error("must be a list")
    out: List[AddedSpec] = []
    seen: Dict[str, int] = {}
    for k, a in enumerate(raw):
        w = where.sub(k)
        if not isinstance(a, dict) or not isinstance(a.get("content"), str) or not isinstance(a.get("id"), int) \
                or isinstance(a.get("id"), bool):
            raise w.error("needs 'id' (int) and 'content' (str)")
        content = cast(str, a["content"])
        tid = cast(int, a["id"])
        if tid < 0:
            raise w.sub("id").error(f"must be >= 0, not {tid}")
        if not content:
            raise w.sub("content").error("must not be empty")
        if content in seen and seen[content] != tid:
            raise w.sub("content").error(f"{content!r} is listed twice, with ids {seen[content]} and {tid}")
        seen[content] = tid
        special = field(a, "special", bool, w, False)
        out.append((content, tid, special, field(a, "single_word", bool, w, False), field(a, "lstrip", bool, w, False),
                    field(a, "rstrip", bool, w, False), field(a, "normalized", bool, w, not special)))
    return out


def plain_specials(added: List[AddedSpec], has_normalizer: bool) -> Optional[Dict[str, int]]:
    """The added tokens as plain special tokens, when a specialised encoder can match them exactly (all special,
    no single_word / lstrip / rstrip, and not normalized under a normalizer); else None."""
    out: Dict[str, int] = {}
    for content, tid, special, single, lstrip, rstrip, normalized in added:
        if not special or single or lstrip or rstrip or (normalized and has_normalizer):
            return None
        out[content] = tid
    return out


def added_to_json(added: List[AddedSpec]) -> List[JsonObj]:
    return [{"id": tid, "content": c, "single_word": sw, "lstrip": ls, "rstrip": rs, "normalized": nm, "special": sp}
            for c, tid, sp, sw, ls, rs, nm in sorted(added, key=lambda a: a[1])]


# The ids HF gives added tokens. HF's reader ignores the ids written in `added_tokens`: a token whose content is in
# the model's vocabulary takes that id, any other takes the next free one past the vocabulary (len(vocab), then one
# past the largest added id), in file order. The loader uses these ids, so fastlm reads every file as HF does; the
# savers write the added tokens into the vocabulary when their own ids would read back differently. (Taking the
# written ids instead would read a hand-edited file the way its author meant, but differently from HF.)
def _vocab_ids(model: JsonObj) -> Tuple[Dict[str, int], int]:
    v = model.get("vocab")
    if isinstance(v, dict):
        return {k: i for k, i in v.items() if isinstance(i, int) and not isinstance(i, bool)}, len(v)
    if isinstance(v, list):  # Unigram: [[piece, score], ...], the id is the position
        return {e[0]: i for i, e in enumerate(v) if isinstance(e, list) and e and isinstance(e[0], str)}, len(v)
    return {}, 0


def hf_added_ids(added: List[AddedSpec], model: JsonObj) -> List[int]:
    vocab, size = _vocab_ids(model)
    given: Dict[str, int] = {}
    out: List[int] = []
    for a in added:
        c = a[0]
        if c in given:
            tid = given[c]
        elif c in vocab:
            tid = vocab[c]
        elif not given:
            tid = size
        else:
            top = max(given.values())
            tid = top + 1 if top >= size or size == 0 else size
        given[c] = tid
        out.append(tid)
    return out


def added_as_hf_reads(added: List[AddedSpec], model: JsonObj, source: str) -> List[AddedSpec]:
    """`added` with the ids HF gives them. An id that lands on another vocabulary token raises ValueError (HF
    would give two tokens one id)."""
    ids = hf_added_ids(added, model)
    vocab, _ = _vocab_ids(model)
    owner = {i: t for t, i in vocab.items()}
    out: List[AddedSpec] = []
    for k, (a, tid) in enumerate(zip(added, ids)):
        other = owner.get(tid)
        if other is not None and other != a[0]:
            raise Where(source, "added_tokens").sub(k).error(
                f"{a[0]!r} (id {a[1]}) is not in model.vocab, so it reads as id {tid}, which is the id of vocabulary "
                f"token {other!r}; list it in model.vocab with its id")
        out.append((a[0], tid) + a[2:])
    return out


def place_added_in_vocab(obj: JsonObj) -> None:
    """Make a tokenizer.json written by a saver read back with its added tokens' ids: tokens HF would number
    differently go into model.vocab (a {token: id} vocabulary) under their ids. Raises ValueError if that cannot
    be done (the id belongs to another token, or the vocabulary is Unigram's list)."""
    model = obj["model"]
    added = [(a["content"], a["id"], True, False, False, False, False) for a in obj.get("added_tokens") or []]
    if [a[1] for a in added] == hf_added_ids(added, model):
        return
    vocab = model.get("vocab")
    taken = set(vocab.values()) if isinstance(vocab, dict) else set()
    for content, tid, *_ in added:
        if not isinstance(vocab, dict) or (content not in vocab and tid in taken):
            raise ValueError(f"added token {content!r} (id {tid}) has no tokenizer.json form: HF would give it another "
                             "id")
        vocab.setdefault(content, tid)
    if [a[1] for a in added] != hf_added_ids(added, model):
        raise ValueError("the added tokens' ids have no tokenizer.json form: HF would read other ids")
