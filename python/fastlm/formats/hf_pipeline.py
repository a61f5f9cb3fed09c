"""The general tokenizer.json path: any combination of supported components on the C++ pipeline encoder
(csrc/core/pipeline/encoder.h): normalizer -> added tokens -> pre-tokenizer -> BPE / WordPiece / Unigram model,
and the decoder chain. The specialised encoders (byte-level BPE with a built-in scanner, the fused WordPiece
encoder) remain the fast path for the files they reproduce exactly (hf_bpe.py, hf_wordpiece.py).
"""
from __future__ import annotations

import json
from typing import Any, Dict, List, Optional, Tuple

from .. import _core
from ..tokenizer import Tokenizer
from .bytelevel import unicode_to_byte
from .hf_components import (AddedSpec, JsonObj, Where, decoder_from_json, field, normalizer_from_json,
                            pre_tokenizer_from_json)

MODELS = ("BPE", "WordPiece", "Unigram")


def _vocab_dict(m: JsonObj, where: Where) -> List[Tuple[str, int]]:
    raw = field(m, "vocab", dict, where)
    if not raw:
        raise where.sub("vocab").error("is empty")
    out = []
    owner: Dict[int, str] = {}
    for t, i in raw.items():
        if not isinstance(i, int) or isinstance(i, bool) or i < 0:
            raise where.sub("vocab").error(f"maps {t!r} to {i!r}, expected an id >= 0")
        if i in owner:  # HF keeps both spellings for encoding; fastlm (and decoding) needs one token per id
            raise where.sub("vocab").error(f"maps both {owner[i]!r} and {t!r} to id {i}")
        owner[i] = t
        out.append((t, i))
    return out


def _merges(raw: Any, where: Where) -> List[Tuple[str, str]]:
    if not isinstance(raw, list):
        raise where.error("must be a list")
    out = []
    for k, mg in enumerate(raw):
        if isinstance(mg, str):
            parts = mg.split(" ")
        elif isinstance(mg, list):
            parts = mg
        else:
            parts = []
        if len(parts) != 2 or not all(isinstance(p, str) and p for p in parts):
            raise where.sub(k).error(f"must be 'a b' or [a, b], not {mg!r}")
        out.append((parts[0], parts[1]))
    return out


def model_type(m: JsonObj) -> str:
    t = m.get("type")
    if isinstance(t, str):
        return t
    # files written before models carried a type
    return "BPE" if "merges" in m else "WordPiece" if "continuing_subword_prefix" in m else "Unigram"


def _byte_level_engine(vocab: List[Tuple[str, int]], merges: List[Tuple[str, str]], ignore_merges: bool,
                       m: JsonObj) -> Optional["_core.BpeModel"]:
    """The byte-level merge engine for a byte-level vocabulary (every token in the printable byte alphabet, every
    byte a token, no word prefix / suffix, no duplicate merge), or None."""
    if m.get("continuing_subword_prefix") or m.get("end_of_word_suffix"):
        return None
    table = unicode_to_byte()
    try:
        raw = [(bytes(table[c] for c in t), i) for t, i in vocab]
        pairs = [(bytes(table[c] for c in a), bytes(table[c] for c in b)) for a, b in merges]
    except KeyError:
        return None
    have = {b for b, _ in raw}
    if len(have) != len(raw) or any(bytes([b]) not in have for b in range(256)) or len(set(pairs)) != len(pairs):
        return None
    try:
        return _core.BpeModel(raw, pairs, ignore_merges)
    except ValueError:
        return None


def model_from_json(m: Any, source: str, byte_level: bool = False) -> "_core.PipelineModel":
    where = Where(source, "model")
    if not isinstance(m, dict):
        raise where.error("is missing or not an object")
    t = model_type(m)
    if t == "BPE":
        dropout = m.get("dropout")
        if dropout not in (None, 0, 0.0):
            raise where.sub("dropout").error(f"= {dropout!r} is not supported (BPE-dropout samples; fastlm is "
                                             "deterministic): set it to null")
        vocab = _vocab_dict(m, where)
        merges = _merges(m.get("merges", []), where.sub("merges"))
        unk = field(m, "unk_token", str, where, None)
        ignore = field(m, "ignore_merges", bool, where, False)
        try:
            general = _core.PipelineModel.bpe(vocab, merges, unk, field(m, "continuing_subword_prefix", str, where, ""),
                                              field(m, "end_of_word_suffix", str, where, ""),
                                              field(m, "fuse_unk", bool, where, False),
                                              field(m, "byte_fallback", bool, where, False), ignore)
        except ValueError as e:
            raise where.error(f"is invalid: {e}") from None
        engine = _byte_level_engine(vocab, merges, ignore, m) if byte_level else None
        return general if engine is None else _core.PipelineModel.byte_level_bpe(engine, general)
    if t == "WordPiece":
        vocab = _vocab_dict(m, where)
        unk = field(m, "unk_token", str, where, "[UNK]")
        if unk not in dict(vocab):
            raise where.sub("unk_token").error(f"names {unk!r}, which is not in model.vocab")
        wp = _core.WordPieceModel(vocab, unk, field(m, "continuing_subword_prefix", str, where, "##"),
                                  field(m, "max_input_chars_per_word", int, where, 100))
        return _core.PipelineModel.wordpiece(wp)
    if t == "Unigram":
        raw = field(m, "vocab", list, where)
        pieces: List[Tuple[str, float]] = []
        for k, it in enumerate(raw):
            if (not isinstance(it, list) or len(it) != 2 or not isinstance(it[0], str)
                    or not isinstance(it[1], (int, float)) or isinstance(it[1], bool)):
                raise where.sub("vocab").sub(k).error("must be [piece, score]")
            pieces.append((it[0], float(it[1])))
        unk_id = field(m, "unk_id", int, where, None)
        if unk_id is not None and not 0 <= unk_id < len(pieces):
            raise where.sub("unk_id").error(f"= {unk_id} is out of range (the vocabulary has {len(pieces)} pieces)")
        try:
            return _core.PipelineModel.unigram(pieces, -1 if unk_id is None else unk_id,
                                               field(m, "byte_fallback", bool, where, False))
        except ValueError as e:
            raise where.error(f"is invalid: {e}") from None
    raise where.sub("type").unsupported(t, MODELS)


def build(obj: JsonObj, source: str, added: List[AddedSpec]) -> Tokenizer:
    """A tokenizer on the general pipeline for the tokenizer.json object `obj` (already checked at the top level)."""
    model = model_from_json(obj.get("model"), source, byte_level='"ByteLevel"' in json.dumps(obj.get("pre_tokenizer")))
    nz = obj.get("normalizer")
    normalizer = None if nz is None else normalizer_from_json(nz, Where(source, "normalizer"))
    pt = obj.get("pre_tokenizer")
    pre = None if pt is None else pre_tokenizer_from_json(pt, Where(source, "pre_tokenizer"))
    dc = obj.get("decoder")
    decoder = None if dc is None else decoder_from_json(dc, Where(source, "decoder"))
    specials = sorted((a for a in added if a[2]), key=lambda a: a[1])
    ordered = specials + [a for a in added if not a[2]]
    try:
        enc = _core.PipelineEncoder(normalizer, pre, model, decoder, ordered)
        core = _core.Tokenizer(enc, [(a[0], a[1]) for a in specials])
    except ValueError as e:
        raise ValueError(f"{source}: {e}") from None
    return Tokenizer(core, name="", state={"kind": "pipeline", "normalizer": nz})

