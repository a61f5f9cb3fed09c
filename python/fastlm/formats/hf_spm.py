"""A SentencePiece model (.model, Unigram or BPE) written as an HF tokenizer.json.

The file follows the model's own settings, in the form transformers uses when it builds a tokenizer straight from
a .model file, so HF `tokenizers` encodes it as sentencepiece does:
  normalizer   Precompiled(charsmap) (if any); remove_extra_whitespaces: Replace(\\A +| +\\z -> ""),
               Replace( {2,} -> " "); escape_whitespaces: Replace(" " -> "▁"); add_dummy_prefix:
               Replace(\\A▁ -> ▁▁) (Metaspace below then skips the prefix, so exactly one ▁ is added)
  pre_tokenizer Metaspace(prepend always, no split) when add_dummy_prefix; user-defined pieces isolated by a Split
  model        Unigram(vocab, unk_id, byte_fallback), or BPE with merges ranked by piece score (fuse_unk, byte_fallback,
               ignore_merges when there are user-defined pieces)
  decoder      Replace(▁ -> " "), ByteFallback, Fuse + Strip(one leading space) when add_dummy_prefix
  added tokens the unknown and control pieces, as special tokens
Known differences, measured on the shared corpora: HF's Unigram sums scores in double precision where sentencepiece
uses float, so an exact tie between two segmentations can break the other way (1-3 lines of 97,540); and HF
applies the charsmap per grapheme cluster (core/pipeline/precompiled.cc), which matters only for clusters the
whitespace rules then collapse (CR LF).
"""
from __future__ import annotations

import base64
import re
from typing import Any, Dict, List, Tuple

from ..tokenizer import Tokenizer
from .hf_components import JsonObj
from .hf_json import MODEL_SAVERS

# sentencepiece_model.proto
NORMAL, UNKNOWN, CONTROL, USER_DEFINED, UNUSED, BYTE = 1, 2, 3, 4, 5, 6
T_MODEL_TYPE, T_BYTE_FALLBACK, T_TREAT_WS_SUFFIX, T_UNK_ID = 3, 35, 24, 40
N_CHARSMAP, N_ADD_DUMMY_PREFIX, N_REMOVE_EXTRA_WS, N_ESCAPE_WS = 2, 3, 4, 5
SPACE = "\u2581"


def _regex(p: str) -> JsonObj:
    return {"Regex": p}


def _bpe_merges(pieces: List[Tuple[str, float, int]]) -> List[List[str]]:
    """Merges that reproduce SentencePiece BPE: every split of a normal piece into two normal pieces, the pieces
    with the highest score first (ties: lower id), then by the split's strings."""
    normal = {p: (s, i) for i, (p, s, t) in enumerate(pieces) if t == NORMAL}
    ranked = []
    for tok, (score, i) in normal.items():
        for k in range(1, len(tok)):
            left, right = tok[:k], tok[k:]
            if left in normal and right in normal:
                ranked.append((-score, i, left, right))
    ranked.sort()
    return [[left, right] for _, _, left, right in ranked]


def save_sentencepiece(tok: Tokenizer) -> JsonObj:
    proto = getattr(tok, "proto", None)
    if proto is None:
        raise ValueError("this tokenizer has no SentencePiece model to save")
    pieces = [(bytes(p).decode("utf-8"), float(s), int(t)) for p, s, t in proto.pieces]
    bpe = int(proto.get_int("trainer", T_MODEL_TYPE, 1)) == 2
    byte_fallback = bool(proto.get_bool("trainer", T_BYTE_FALLBACK, False))
    if proto.get_bool("trainer", T_TREAT_WS_SUFFIX, False):
        raise ValueError("a SentencePiece model with treat_whitespace_as_suffix=true has no tokenizer.json form "
                         "(HF's Metaspace only prefixes)")
    charsmap = bytes(proto.get_bytes("normalizer", N_CHARSMAP, b""))
    dummy = bool(proto.get_bool("normalizer", N_ADD_DUMMY_PREFIX, True))
    extra_ws = bool(proto.get_bool("normalizer", N_REMOVE_EXTRA_WS, True))
    escape = bool(proto.get_bool("normalizer", N_ESCAPE_WS, True))
    unk_id = int(proto.get_int("trainer", T_UNK_ID, 0))
    user = [p for p, _, t in pieces if t == USER_DEFINED]

    norms: List[JsonObj] = []
    if charsmap:
        norms.append({"type": "Precompiled", "precompiled_charsmap": base64.b64encode(charsmap).decode("ascii")})
    if extra_ws:
        norms += [{"type": "Replace", "pattern": _regex(r"\A +| +\z"), "content": ""},
                  {"type": "Replace", "pattern": _regex(" {2,}"), "content": " "}]
    if escape:
        norms.append({"type": "Replace", "pattern": {"String": " "}, "content": SPACE})
    if dummy:
        norms.append({"type": "Replace", "pattern": _regex(r"\A" + SPACE), "content": SPACE + SPACE})
    pres: List[JsonObj] = []
    if dummy:
        pres.append({"type": "Metaspace", "replacement": SPACE, "prepend_scheme": "always", "split": False})
    if user:
        alternation = "|".join(re.escape(p) for p in sorted(user, key=len, reverse=True))
        pres.append({"type": "Split", "pattern": _regex(alternation), "behavior": "Isolated", "invert": False})
    decs: List[JsonObj] = [{"type": "Replace", "pattern": {"String": SPACE}, "content": " "}]
    if byte_fallback:
        decs.append({"type": "ByteFallback"})
    if dummy:
        decs += [{"type": "Fuse"}, {"type": "Strip", "content": " ", "start": 1, "stop": 0}]
    elif byte_fallback:
        decs.append({"type": "Fuse"})

    model: Dict[str, Any]
    if bpe:
        unk_piece = pieces[unk_id][0] if 0 <= unk_id < len(pieces) else None
        model = {"type": "BPE", "dropout": None, "unk_token": unk_piece, "continuing_subword_prefix": None,
                 "end_of_word_suffix": None, "fuse_unk": True, "byte_fallback": byte_fallback,
                 "ignore_merges": bool(user), "vocab": {p: i for i, (p, _, _) in enumerate(pieces)},
                 "merges": _bpe_merges(pieces)}
    else:
        model = {"type": "Unigram", "unk_id": unk_id, "vocab": [[p, s] for p, s, _ in pieces],
                 "byte_fallback": byte_fallback}
    added = [{"id": i, "content": p, "single_word": False, "lstrip": False, "rstrip": False, "normalized": False,
              "special": True} for i, (p, _, t) in enumerate(pieces) if t in (UNKNOWN, CONTROL)]
    return {
        "version": "1.0",
        "added_tokens": added,
        "normalizer": {"type": "Sequence", "normalizers": norms},
        "pre_tokenizer": {"type": "Sequence", "pretokenizers": pres} if pres else None,
        "decoder": {"type": "Sequence", "decoders": decs},
        "model": model,
    }


MODEL_SAVERS["unigram"] = save_sentencepiece
