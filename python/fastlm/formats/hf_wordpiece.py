"""HF tokenizer.json for WordPiece (BERT family): the fast path and the saver.

Loading (the fast path). A file that is exactly what the fused WordPiece encoder reproduces (model WordPiece;
normalizer BertNormalizer or null; pre-tokenizer BertPreTokenizer or WhitespaceSplit; decoder WordPiece or null;
plain special added tokens) runs on it; any other WordPiece file runs on the general pipeline (hf_pipeline.py).

Saving writes that same form from a WordPiece state (vocab.txt files, trained tokenizers).
"""
from __future__ import annotations

from typing import Any, Dict, List, Optional

from ..tokenizer import Tokenizer
from .bert import build_wordpiece
from .hf_components import AddedSpec, JsonObj, plain_specials
from .hf_json import FAST_PATHS, MODEL_SAVERS

VERSION = "1.0"


def _vocab(m: JsonObj) -> Optional[List[Any]]:
    raw = m.get("vocab")
    if not isinstance(raw, dict) or not raw:
        return None
    out = []
    for t, i in raw.items():
        if not isinstance(i, int) or isinstance(i, bool) or i < 0:
            return None
        out.append((t, i))
    return out


def _typed(obj: JsonObj, key: str, typ: type, default: Any) -> Any:
    v = obj.get(key, default)
    if v is None:
        v = default
    if not isinstance(v, typ) or (isinstance(v, bool) and typ is not bool):
        raise TypeError(key)
    return v


def fast_wordpiece(obj: JsonObj, source: str, added: List[AddedSpec]) -> Optional[Tokenizer]:
    """The fused WordPiece encoder for BERT-style files; None when the file needs the general pipeline (which also
    reports malformed fields)."""
    m = obj["model"]
    vocab = _vocab(m)
    if vocab is None:
        return None
    try:
        unk = _typed(m, "unk_token", str, "[UNK]")
        prefix = _typed(m, "continuing_subword_prefix", str, "##")
        max_chars = _typed(m, "max_input_chars_per_word", int, 100)
    except TypeError:
        return None
    if unk not in dict(vocab):
        return None
    nz = obj.get("normalizer")
    norm: Optional[Dict[str, Any]] = None
    if nz is not None:
        if not isinstance(nz, dict) or nz.get("type") != "BertNormalizer":
            return None
        sa = nz.get("strip_accents")
        if sa is not None and not isinstance(sa, bool):
            return None
        try:
            norm = {"clean_text": _typed(nz, "clean_text", bool, True),
                    "handle_chinese_chars": _typed(nz, "handle_chinese_chars", bool, True),
                    "strip_accents": sa, "lowercase": _typed(nz, "lowercase", bool, True)}
        except TypeError:
            return None
    pre = obj.get("pre_tokenizer")
    ptype = pre.get("type") if isinstance(pre, dict) else None
    if ptype not in ("BertPreTokenizer", "WhitespaceSplit"):
        return None
    dec = obj.get("decoder")
    decoder: Optional[Dict[str, Any]] = None
    if dec is not None:
        if not isinstance(dec, dict) or dec.get("type") != "WordPiece":
            return None
        try:
            decoder = {"prefix": _typed(dec, "prefix", str, "##"), "cleanup": _typed(dec, "cleanup", bool, True)}
        except TypeError:
            return None
    specials = plain_specials(added, norm is not None)
    in_vocab = dict(vocab)
    # The fused decoder spells a special token outside the vocabulary without HF's joining space.
    if specials is None or any(in_vocab.get(t) != i for t, i in specials.items()):
        return None
    state = {"kind": "wordpiece", "vocab": vocab, "unk_token": unk, "prefix": prefix,
             "max_input_chars_per_word": max_chars, "normalizer": norm,
             "pretokenizer": "bert" if ptype == "BertPreTokenizer" else "whitespace", "decoder": decoder,
             "special_tokens": specials, "post_processor": None, "name": "",
             "pad_token": "[PAD]" if "[PAD]" in specials else None}
    return build_wordpiece(state)


def save_wordpiece(tok: Tokenizer) -> JsonObj:
    st = tok._state
    specials = sorted(st.get("special_tokens", {}).items(), key=lambda kv: kv[1])
    added = [{"id": i, "content": t, "single_word": False, "lstrip": False, "rstrip": False, "normalized": False,
              "special": True} for t, i in specials]
    nz = st.get("normalizer")
    dec = st.get("decoder")
    return {
        "version": VERSION,
        "added_tokens": added,
        "normalizer": None if nz is None else {"type": "BertNormalizer", **nz},
        "pre_tokenizer": {"type": "BertPreTokenizer" if st.get("pretokenizer", "bert") == "bert" else "WhitespaceSplit"},
        "decoder": None if dec is None else {"type": "WordPiece", "prefix": dec["prefix"], "cleanup": dec["cleanup"]},
        "model": {
            "type": "WordPiece",
            "unk_token": st["unk_token"],
            "continuing_subword_prefix": st["prefix"],
            "max_input_chars_per_word": st["max_input_chars_per_word"],
            "vocab": {t: i for t, i in sorted(st["vocab"], key=lambda kv: kv[1])},
        },
    }


FAST_PATHS["WordPiece"] = fast_wordpiece
MODEL_SAVERS["wordpiece"] = save_wordpiece
