"""HF tokenizer.json for byte-level BPE: save (any fastlm BPE tokenizer) and load (GPT-2/RoBERTa-style files and
the files fastlm writes).

Saving. Vocabulary and merges are written in the GPT-2 byte alphabet (formats/bytelevel.py). A tiktoken-rank model
(trained or loaded from .tiktoken) becomes merges that reproduce the rank rule: every split of every token into
two tokens, ordered by the merged token's rank, with `ignore_merges: true` (a piece that is a whole token is that
token, as in tiktoken). A merge-list model (GPT-2 files, HF files) keeps its merges in order. The pre-tokenizer is
`Sequence[Split(regex, Isolated), ByteLevel(use_regex=false)]`, the decoder ByteLevel; special tokens are added
tokens with `special: true`.

Loading. `model.type == "BPE"` with byte-level vocab; merges as "a b" strings or [a, b] lists; `ignore_merges`;
pre-tokenizer ByteLevel (its built-in GPT-2 regex when `use_regex` is true) or Sequence[Split(Regex), ByteLevel].
What fastlm cannot reproduce exactly (a normalizer, add_prefix_space=true, byte_fallback, dropout, word
suffixes/prefixes) raises ValueError naming the component instead of giving different ids.
"""
from __future__ import annotations

from typing import Any, Dict, List, Optional, Tuple

from .. import _core
from ..postprocess import TemplateProcessing
from ..tokenizer import Tokenizer
from .bytelevel import bytes_to_token, token_to_bytes
from .hf_json import MODEL_LOADERS, MODEL_SAVERS
from .patterns import GPT2_ORIGINAL_PATTERN, PATTERNS
from .tiktoken import build_bpe

VERSION = "1.0"

# HF's regex engine (Oniguruma, Ruby syntax) reads an interval followed by "+" as a repetition of the interval,
# not as a possessive interval: cl100k's `\p{N}{1,3}+` would match a whole digit run there. In these patterns
# nothing follows the interval inside its alternative, so the greedy `{1,3}` matches exactly what the possessive
# form matches in tiktoken; the saver writes that form and the loader maps it back to the built-in pattern.
_HF_FORM = {p: p.replace("{1,3}+", "{1,3}") for p in set(PATTERNS.values())}
_FROM_HF = {hf: p for p, hf in _HF_FORM.items()}


# ------------------------------------------------------------------------------------------------------ saving
def _byte_level(use_regex: bool) -> dict:
    return {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": True, "use_regex": use_regex}


def save_bpe(tok: Tokenizer) -> dict:
    model = tok._core.encoder.model
    pattern = tok.pattern
    if pattern is None:
        raise ValueError("this BPE tokenizer has no pre-tokenizer pattern to save")
    name = bytes_to_token
    vocab = {name(bytes(b)): int(i) for b, i in model.vocab()}
    merges = [[name(bytes(model.token_bytes(l))), name(bytes(model.token_bytes(r)))]
              for l, r, _, _ in model.merge_table()]
    specials = sorted(tok.special_tokens.items(), key=lambda kv: kv[1])
    added = [{"id": i, "content": t, "single_word": False, "lstrip": False, "rstrip": False, "normalized": False,
              "special": True} for t, i in specials]
    if pattern == GPT2_ORIGINAL_PATTERN:
        pre = _byte_level(True)
    else:
        pre = {"type": "Sequence", "pretokenizers": [
            {"type": "Split", "pattern": {"Regex": _HF_FORM.get(pattern, pattern)}, "behavior": "Isolated",
             "invert": False},
            _byte_level(False),
        ]}
    return {
        "version": VERSION,
        "truncation": None,
        "padding": None,
        "added_tokens": added,
        "normalizer": None,
        "pre_tokenizer": pre,
        "post_processor": None,
        "decoder": {"type": "ByteLevel", "add_prefix_space": True, "trim_offsets": True, "use_regex": True},
        "model": {
            "type": "BPE",
            "dropout": None,
            "unk_token": None,
            "continuing_subword_prefix": None,
            "end_of_word_suffix": None,
            "fuse_unk": False,
            "byte_fallback": False,
            "ignore_merges": bool(model.whole_piece_lookup),
            "vocab": vocab,
            "merges": merges,
        },
    }


# ----------------------------------------------------------------------------------------------------- loading
def _unsupported(source: str, what: str) -> ValueError:
    return ValueError(f"{source}: {what} is not supported for byte-level BPE (fastlm would give different ids)")


def _pattern(pre: Any, source: str) -> str:
    if not isinstance(pre, dict):
        raise _unsupported(source, "a missing pre_tokenizer (byte-level BPE needs ByteLevel)")
    t = pre.get("type")
    if t == "ByteLevel":
        if pre.get("add_prefix_space"):
            raise _unsupported(source, "pre_tokenizer ByteLevel with add_prefix_space=true")
        if not pre.get("use_regex", True):
            return r"(?s).+"  # the whole text is one piece
        return GPT2_ORIGINAL_PATTERN
    if t == "Sequence":
        parts = pre.get("pretokenizers") or []
        if (len(parts) == 2 and isinstance(parts[0], dict) and isinstance(parts[1], dict)
                and parts[0].get("type") == "Split" and parts[1].get("type") == "ByteLevel"):
            split, bl = parts
            pat = split.get("pattern") or {}
            if not isinstance(pat, dict) or not isinstance(pat.get("Regex"), str):
                raise _unsupported(source, "a Split pre-tokenizer without a Regex pattern")
            if split.get("behavior", "Isolated") != "Isolated" or split.get("invert"):
                raise _unsupported(source, f"Split behavior {split.get('behavior')!r} / invert={split.get('invert')}")
            if bl.get("use_regex", True):
                raise _unsupported(source, "ByteLevel(use_regex=true) after a Split")
            if bl.get("add_prefix_space"):
                raise _unsupported(source, "pre_tokenizer ByteLevel with add_prefix_space=true")
            return _FROM_HF.get(pat["Regex"], pat["Regex"])
        raise _unsupported(source, "this pre_tokenizer Sequence (expected [Split(Regex), ByteLevel(use_regex=false)])")
    raise _unsupported(source, f"pre_tokenizer {t!r}")


def _merges(raw: Any, source: str) -> List[Tuple[bytes, bytes]]:
    if not isinstance(raw, list):
        raise ValueError(f"{source}: model.merges must be a list")
    out = []
    for k, m in enumerate(raw):
        if isinstance(m, str):
            parts = m.split(" ")
        elif isinstance(m, list):
            parts = m
        else:
            parts = []
        if len(parts) != 2 or not all(isinstance(p, str) and p for p in parts):
            raise ValueError(f"{source}: merge #{k + 1} must be 'a b' or [a, b], got {m!r}")
        where = f"{source}: merge #{k + 1}"
        out.append((token_to_bytes(parts[0], source=where), token_to_bytes(parts[1], source=where)))
    return out


def _post_processor(pp: Any, specials: Dict[str, int], source: str) -> Optional[TemplateProcessing]:
    if pp is None or (isinstance(pp, dict) and pp.get("type") == "ByteLevel"):
        return None
    t = pp.get("type") if isinstance(pp, dict) else None
    if t == "RobertaProcessing":
        cls, sep = pp["cls"][0], pp["sep"][0]
        ids = {cls: int(pp["cls"][1]), sep: int(pp["sep"][1])}
        return TemplateProcessing(single=((cls, 0), ("A", 0), (sep, 0)),
                                  pair=((cls, 0), ("A", 0), (sep, 0), (sep, 0), ("B", 0), (sep, 0)),
                                  special_tokens=ids)
    if t == "TemplateProcessing":
        def items(seq: list) -> tuple:
            out = []
            for it in seq:
                if "Sequence" in it:
                    out.append((it["Sequence"]["id"], int(it["Sequence"].get("type_id", 0))))
                else:
                    out.append((it["SpecialToken"]["id"], int(it["SpecialToken"].get("type_id", 0))))
            return tuple(out)

        ids = {}
        for k, v in (pp.get("special_tokens") or {}).items():
            if len(v.get("ids", [])) != 1:
                raise _unsupported(source, f"post_processor special token {k!r} with {len(v.get('ids', []))} ids")
            ids[k] = int(v["ids"][0])
        return TemplateProcessing(single=items(pp["single"]), pair=items(pp["pair"]), special_tokens=ids)
    raise _unsupported(source, f"post_processor {t!r}")


def load_bpe(obj: dict, source: str = "<tokenizer.json>", **options: Any) -> Tokenizer:
    if options:
        raise TypeError(f"unexpected options for a BPE tokenizer.json: {', '.join(sorted(options))}")
    m = obj["model"]
    if obj.get("normalizer") is not None:
        raise _unsupported(source, f"normalizer {obj['normalizer'].get('type')!r}")
    if m.get("byte_fallback"):
        raise _unsupported(source, "model.byte_fallback=true")
    if m.get("dropout") not in (None, 0, 0.0):
        raise _unsupported(source, f"model.dropout={m.get('dropout')}")
    for k in ("continuing_subword_prefix", "end_of_word_suffix"):
        if m.get(k):
            raise _unsupported(source, f"model.{k}={m[k]!r}")
    dec = obj.get("decoder")
    if dec is not None and dec.get("type") != "ByteLevel":
        raise _unsupported(source, f"decoder {dec.get('type')!r}")
    pattern = _pattern(obj.get("pre_tokenizer"), source)
    raw_vocab = m.get("vocab")
    if not isinstance(raw_vocab, dict):
        raise ValueError(f"{source}: model.vocab must be an object mapping tokens to ids")
    added = obj.get("added_tokens") or []
    added_ids = {int(a["id"]) for a in added}
    vocab: Dict[bytes, int] = {}
    for t, i in raw_vocab.items():
        if not isinstance(i, int) or isinstance(i, bool) or i < 0:
            raise ValueError(f"{source}: token {t!r} has id {i!r}; ids must be non-negative integers")
        if i in added_ids:
            continue  # an added token lives in the vocab too; fastlm keeps it only as a special token
        vocab[token_to_bytes(t, source=f"{source}: model.vocab")] = i
    merges = _merges(m.get("merges", []), source)
    specials = {a["content"]: int(a["id"]) for a in added}
    model = _core.BpeModel(list(vocab.items()), merges, bool(m.get("ignore_merges", False)))
    tok = build_bpe(model, pattern=pattern, special_tokens=specials, name="", state={"split_gaps": True})
    tok.post_processor = _post_processor(obj.get("post_processor"), specials, source)
    if model.uses_merges:
        # The merge list is the rule (not ranks), so pickling must rebuild from this object, not from .tiktoken
        # ranks; the "hf_bpe" kind routes pickle and save here.
        tok._state.update(kind="hf_bpe", hf_json=obj)
    return tok


def rebuild(state: dict) -> Tokenizer:
    return load_bpe(state["hf_json"], "<pickle>")


MODEL_SAVERS["bpe"] = save_bpe
MODEL_SAVERS["hf_bpe"] = save_bpe
MODEL_LOADERS["BPE"] = load_bpe
