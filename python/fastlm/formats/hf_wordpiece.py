"""HF tokenizer.json for WordPiece (BERT family): load and save.

Loading accepts what the BERT family uses: model WordPiece; normalizer BertNormalizer or null; pre-tokenizer
BertPreTokenizer or WhitespaceSplit; post-processor TemplateProcessing, BertProcessing or null; decoder WordPiece or
null; added tokens become special tokens (matched in text only when allowed, see Tokenizer.encode). The file's
`truncation` / `padding` sections are not applied: pass truncation/padding options to the call instead. Anything
else raises ValueError naming the field, so a file is never silently encoded differently.
"""
from __future__ import annotations

from typing import Any, Dict, List, Optional

from ..tokenizer import Tokenizer
from .bert import build_wordpiece
from .hf_json import MODEL_LOADERS, MODEL_SAVERS

VERSION = "1.0"


def _field(obj: dict, key: str, types: Any, source: str, where: str, default: Any = ...) -> Any:
    if key not in obj:
        if default is ...:
            raise ValueError(f"{source}: field '{where}{key}' is missing")
        return default
    v = obj[key]
    if not isinstance(v, types) or (isinstance(v, bool) and bool not in (types if isinstance(types, tuple) else (types,))):
        raise ValueError(f"{source}: field '{where}{key}' has the wrong type ({type(v).__name__})")
    return v


def load_wordpiece(obj: dict, source: str = "<tokenizer.json>", **options: Any) -> Tokenizer:
    if options:
        raise TypeError(f"unexpected options for a WordPiece tokenizer.json: {', '.join(sorted(options))}")
    m = obj["model"]
    vocab_obj = _field(m, "vocab", dict, source, "model.")
    if not vocab_obj:
        raise ValueError(f"{source}: field 'model.vocab' is empty")
    vocab = []
    for t, i in vocab_obj.items():
        if not isinstance(i, int) or isinstance(i, bool) or i < 0:
            raise ValueError(f"{source}: field 'model.vocab' maps {t!r} to {i!r}, expected an id >= 0")
        vocab.append((t, i))
    unk = _field(m, "unk_token", str, source, "model.", "[UNK]")
    prefix = _field(m, "continuing_subword_prefix", str, source, "model.", "##")
    max_chars = _field(m, "max_input_chars_per_word", int, source, "model.", 100)
    if unk not in vocab_obj:
        raise ValueError(f"{source}: field 'model.unk_token' names {unk!r}, which is not in model.vocab")

    nz = obj.get("normalizer")
    norm: Optional[dict] = None
    if nz is not None:
        if not isinstance(nz, dict) or nz.get("type") != "BertNormalizer":
            raise ValueError(f"{source}: field 'normalizer.type' = {nz.get('type') if isinstance(nz, dict) else nz!r} "
                             "is not supported for WordPiece (supported: BertNormalizer, null)")
        sa = nz.get("strip_accents")
        if sa is not None and not isinstance(sa, bool):
            raise ValueError(f"{source}: field 'normalizer.strip_accents' must be true, false or null")
        norm = {"clean_text": bool(_field(nz, "clean_text", bool, source, "normalizer.", True)),
                "handle_chinese_chars": bool(_field(nz, "handle_chinese_chars", bool, source, "normalizer.", True)),
                "strip_accents": sa, "lowercase": bool(_field(nz, "lowercase", bool, source, "normalizer.", True))}

    pre = obj.get("pre_tokenizer")
    ptype = pre.get("type") if isinstance(pre, dict) else None
    if ptype == "BertPreTokenizer":
        pretok = "bert"
    elif ptype == "WhitespaceSplit":
        pretok = "whitespace"
    else:
        raise ValueError(f"{source}: field 'pre_tokenizer.type' = {ptype!r} is not supported for WordPiece "
                         "(supported: BertPreTokenizer, WhitespaceSplit)")

    dec = obj.get("decoder")
    decoder: Optional[dict] = None
    if dec is not None:
        if not isinstance(dec, dict) or dec.get("type") != "WordPiece":
            raise ValueError(f"{source}: field 'decoder.type' = {dec.get('type') if isinstance(dec, dict) else dec!r} "
                             "is not supported for WordPiece (supported: WordPiece, null)")
        decoder = {"prefix": _field(dec, "prefix", str, source, "decoder.", "##"),
                   "cleanup": bool(_field(dec, "cleanup", bool, source, "decoder.", True))}

    specials: Dict[str, int] = {}
    added = obj.get("added_tokens") or []
    if not isinstance(added, list):
        raise ValueError(f"{source}: field 'added_tokens' must be a list")
    for k, a in enumerate(added):
        if not isinstance(a, dict) or not isinstance(a.get("content"), str) or not isinstance(a.get("id"), int):
            raise ValueError(f"{source}: field 'added_tokens[{k}]' needs 'id' (int) and 'content' (str)")
        specials[a["content"]] = a["id"]

    pp = obj.get("post_processor")
    post = None
    if pp is not None:
        pt = pp.get("type") if isinstance(pp, dict) else None
        if pt == "TemplateProcessing":
            for key in ("single", "pair", "special_tokens"):
                if key not in pp:
                    raise ValueError(f"{source}: field 'post_processor.{key}' is missing")
            post = pp
        elif pt == "BertProcessing":
            try:
                (sep, sep_id), (cls, cls_id) = pp["sep"], pp["cls"]
            except (KeyError, TypeError, ValueError):
                raise ValueError(f"{source}: fields 'post_processor.sep' / 'post_processor.cls' must be [token, id]") from None
            post = {"type": "TemplateProcessing",
                    "single": [{"SpecialToken": {"id": cls, "type_id": 0}}, {"Sequence": {"id": "A", "type_id": 0}},
                               {"SpecialToken": {"id": sep, "type_id": 0}}],
                    "pair": [{"SpecialToken": {"id": cls, "type_id": 0}}, {"Sequence": {"id": "A", "type_id": 0}},
                             {"SpecialToken": {"id": sep, "type_id": 0}}, {"Sequence": {"id": "B", "type_id": 1}},
                             {"SpecialToken": {"id": sep, "type_id": 1}}],
                    "special_tokens": {cls: {"id": cls, "ids": [cls_id], "tokens": [cls]},
                                       sep: {"id": sep, "ids": [sep_id], "tokens": [sep]}}}
        else:
            raise ValueError(f"{source}: field 'post_processor.type' = {pt!r} is not supported for WordPiece "
                             "(supported: TemplateProcessing, BertProcessing, null)")
    state = {"kind": "wordpiece", "vocab": vocab, "unk_token": unk, "prefix": prefix,
             "max_input_chars_per_word": max_chars, "normalizer": norm, "pretokenizer": pretok, "decoder": decoder,
             "special_tokens": specials, "post_processor": post, "name": "",
             "pad_token": "[PAD]" if "[PAD]" in specials else None}
    return build_wordpiece(state)


def save_wordpiece(tok: Tokenizer) -> dict:
    st = tok._state
    specials = sorted(st.get("special_tokens", {}).items(), key=lambda kv: kv[1])
    added = [{"id": i, "content": t, "single_word": False, "lstrip": False, "rstrip": False, "normalized": False,
              "special": True} for t, i in specials]
    nz = st.get("normalizer")
    dec = st.get("decoder")
    return {
        "version": VERSION,
        "truncation": None,
        "padding": None,
        "added_tokens": added,
        "normalizer": None if nz is None else {"type": "BertNormalizer", **nz},
        "pre_tokenizer": {"type": "BertPreTokenizer" if st.get("pretokenizer", "bert") == "bert" else "WhitespaceSplit"},
        "post_processor": st.get("post_processor"),
        "decoder": None if dec is None else {"type": "WordPiece", "prefix": dec["prefix"], "cleanup": dec["cleanup"]},
        "model": {
            "type": "WordPiece",
            "unk_token": st["unk_token"],
            "continuing_subword_prefix": st["prefix"],
            "max_input_chars_per_word": st["max_input_chars_per_word"],
            "vocab": {t: i for t, i in sorted(st["vocab"], key=lambda kv: kv[1])},
        },
    }


MODEL_LOADERS["WordPiece"] = load_wordpiece
MODEL_SAVERS["wordpiece"] = save_wordpiece
