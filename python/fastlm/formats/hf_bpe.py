"""HF tokenizer.json for byte-level BPE: save (any fastlm BPE tokenizer) and load (GPT-2/RoBERTa-style files and
the files fastlm writes).

Saving. Vocabulary and merges are written in the GPT-2 byte alphabet (formats/bytelevel.py). A tiktoken-rank model
(trained or loaded from .tiktoken) becomes merges that reproduce the rank rule: every split of every token into
two tokens, ordered by the merged token's rank, with `ignore_merges: true` (a piece that is a whole token is that
token, as in tiktoken). A merge-list model (GPT-2 files, HF files) keeps its merges in order. The pre-tokenizer is
`Sequence[Split(regex, Isolated), ByteLevel(use_regex=false)]`, the decoder ByteLevel; special tokens are added
tokens with `special: true`.

Loading (the fast path). A file that is exactly byte-level BPE with a built-in pre-tokenizer (GPT-2's ByteLevel
regex, or Split with the r50k / cl100k / o200k pattern + ByteLevel(use_regex=false)), no normalizer, every byte in
the vocabulary, the ByteLevel decoder and plain special added tokens runs on BpeEncoder (the hand-written scanners
and the byte-level merge engine). Every other BPE file (a custom regex, add_prefix_space, a normalizer,
byte_fallback, character vocabularies such as SentencePiece-converted ones, ...) runs on the general pipeline
(hf_pipeline.py), whose regex engine follows the reference's dialect.
"""
from __future__ import annotations

from typing import Any, Dict, List, Optional, Set, Tuple, cast

from .. import _core
from ..tokenizer import Tokenizer
from .bytelevel import bytes_to_token, token_to_bytes, unicode_to_byte
from .hf_components import AddedSpec, JsonObj, plain_specials
from .hf_json import FAST_PATHS, MODEL_SAVERS
from .patterns import GPT2_ORIGINAL_PATTERN, PATTERNS, scanner_for
from .tiktoken import build_bpe

VERSION = "1.0"

# HF's regex engine (Oniguruma, Ruby syntax) reads an interval followed by "+" as a repetition of the interval,
# not as a possessive interval: cl100k's `\p{N}{1,3}+` would match a whole digit run there. In these patterns
# nothing follows the interval inside its alternative, so the greedy `{1,3}` matches exactly what the possessive
# form matches in tiktoken; the saver writes that form and the loader maps it back to the built-in pattern.
_HF_FORM = {p: p.replace("{1,3}+", "{1,3}") for p in set(PATTERNS.values())}
_FROM_HF = {hf: p for p, hf in _HF_FORM.items()}


# ------------------------------------------------------------------------------------------------------ saving
def _byte_level(use_regex: bool) -> JsonObj:
    return {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": True, "use_regex": use_regex}


def save_bpe(tok: Tokenizer) -> JsonObj:
    model = cast("_core.BpeEncoder", tok._core.encoder).model
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
    pre: JsonObj
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
def _scanner_pattern(pre: Any) -> Optional[str]:
    """The built-in pattern a byte-level pre-tokenizer amounts to, or None when it needs the general pipeline."""
    if not isinstance(pre, dict):
        return None
    t = pre.get("type")
    if t == "ByteLevel":
        if pre.get("add_prefix_space", True) or not pre.get("use_regex", True):
            return None
        return GPT2_ORIGINAL_PATTERN
    if t == "Sequence":
        parts = pre.get("pretokenizers")
        if not (isinstance(parts, list) and len(parts) == 2 and all(isinstance(x, dict) for x in parts)):
            return None
        split, bl = parts
        if split.get("type") != "Split" or bl.get("type") != "ByteLevel":
            return None
        pat = split.get("pattern")
        if not isinstance(pat, dict) or not isinstance(pat.get("Regex"), str):
            return None
        if split.get("behavior", "Isolated") != "Isolated" or split.get("invert", False):
            return None
        if bl.get("use_regex", True) or bl.get("add_prefix_space", True):
            return None
        p = _FROM_HF.get(pat["Regex"])
        return p if p is not None and scanner_for(p) is not None else None
    return None


def _byte_vocab(raw: Any, skip: Set[int]) -> Optional[Dict[bytes, int]]:
    """model.vocab in the byte-level alphabet as {bytes: id}, or None if a token is outside it."""
    if not isinstance(raw, dict):
        return None
    table = unicode_to_byte()
    vocab: Dict[bytes, int] = {}
    for t, i in raw.items():
        if not isinstance(t, str) or not isinstance(i, int) or isinstance(i, bool) or i < 0:
            return None
        if i in skip:
            continue  # an added token lives in the vocab too; fastlm keeps it only as a special token
        try:
            vocab[bytes(table[c] for c in t)] = i
        except KeyError:
            return None
    return vocab


def fast_bpe(obj: JsonObj, source: str, added: List[AddedSpec]) -> Optional[Tokenizer]:
    """Byte-level BPE on the specialised encoder (BpeEncoder with a built-in scanner) when the file is exactly
    that: no normalizer, ByteLevel / Split(built-in pattern) + ByteLevel, a byte-level vocabulary with every byte,
    the ByteLevel decoder, plain special added tokens. Otherwise None (the general pipeline)."""
    m = obj["model"]
    if obj.get("normalizer") is not None or m.get("byte_fallback") or m.get("dropout") not in (None, 0, 0.0):
        return None
    if m.get("continuing_subword_prefix") or m.get("end_of_word_suffix"):
        return None
    dec = obj.get("decoder")
    if not isinstance(dec, dict) or dec.get("type") != "ByteLevel":
        return None
    pattern = _scanner_pattern(obj.get("pre_tokenizer"))
    specials = plain_specials(added, False)
    if pattern is None or specials is None:
        return None
    vocab = _byte_vocab(m.get("vocab"), set(specials.values()))
    if vocab is None or any(bytes([b]) not in vocab for b in range(256)):
        return None
    unk = m.get("unk_token")
    if unk is not None and not isinstance(unk, str):
        return None
    try:
        merges = [(token_to_bytes(a, source=source), token_to_bytes(b, source=source))
                  for a, b in _merge_pairs(m.get("merges", []))]
    except ValueError:
        return None
    ignore = bool(m.get("ignore_merges", False))
    model = _core.BpeModel(list(vocab.items()), merges, ignore)
    tok = build_bpe(model, pattern=pattern, special_tokens=specials, name="", state={"split_gaps": True})
    if model.uses_merges:
        tok._state.update(kind="hf_bpe")  # the merge list is the rule (not ranks): pickles rebuild from the JSON
    return tok


def _merge_pairs(raw: Any) -> List[Tuple[str, str]]:
    if not isinstance(raw, list):
        raise ValueError("model.merges must be a list")
    out = []
    for mg in raw:
        parts = mg.split(" ") if isinstance(mg, str) else mg if isinstance(mg, list) else []
        if len(parts) != 2 or not all(isinstance(p, str) and p for p in parts):
            raise ValueError(f"bad merge {mg!r}")
        out.append((parts[0], parts[1]))
    return out


MODEL_SAVERS["bpe"] = save_bpe
FAST_PATHS["BPE"] = fast_bpe
