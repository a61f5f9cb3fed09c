"""HF `tokenizer.json`, the native serialized format: read, write, and convert to / from HF objects.

Loading. The file's components (normalizer, pre-tokenizer, model, decoder, added tokens) run on one of two paths:
* a specialised encoder when the file is exactly what it reproduces: byte-level BPE with a built-in pre-tokenizer
  scanner (hf_bpe.py), BERT-style WordPiece (hf_wordpiece.py);
* otherwise the general C++ pipeline (hf_pipeline.py), which supports every component listed in
  hf_components.py: NFC/NFD/NFKC/NFKD, Lowercase, StripAccents, BertNormalizer, Precompiled, Replace, Prepend,
  Strip, Sequence; ByteLevel, Split, Whitespace, WhitespaceSplit, BertPreTokenizer, Metaspace, Digits,
  Punctuation, Sequence; BPE, WordPiece, Unigram; ByteLevel, WordPiece, Metaspace, ByteFallback, Fuse, Strip,
  Replace, Sequence decoders; added tokens with special / normalized / single_word / lstrip / rstrip.
The post-processor (TemplateProcessing, BertProcessing, RobertaProcessing, ByteLevel, Sequence) and the
truncation / padding settings are applied by the Tokenizer's HF-style call. Anything else raises ValueError naming
the field: never a silent difference.

Saving. A tokenizer loaded from a tokenizer.json writes that file back (with its current post-processor, truncation
and padding); others are converted by their family: byte-level BPE (hf_bpe.save_bpe), WordPiece
(hf_wordpiece.save_wordpiece), SentencePiece models (hf_spm.save_sentencepiece).
"""
from __future__ import annotations

import importlib
import json
import os
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Union

from .._io import atomic_write_text
from ..tokenizer import Tokenizer
from .hf_components import AddedSpec, JsonObj, added_as_hf_reads, added_tokens_from_json, place_added_in_vocab
from .hf_pipeline import build as build_pipeline
from .hf_pipeline import model_type
from .hf_post import (padding_from_json, padding_to_json, post_processor_from_json, post_processor_to_json,
                      truncation_from_json, truncation_to_json)

# model.type -> fast(obj, source, added) -> Tokenizer or None (None: the file needs the general pipeline)
FAST_PATHS: Dict[str, Callable[[JsonObj, str, List[AddedSpec]], Optional[Tokenizer]]] = {}
# tokenizer kind -> saver(tok) -> JSON object (without truncation / padding / post_processor, filled in here)
MODEL_SAVERS: Dict[str, Callable[[Tokenizer], JsonObj]] = {}

# Modules (in this package) that fill the registries when imported; imported on first use, so no import cycle.
PROVIDERS = ["hf_bpe", "hf_wordpiece", "hf_spm"]
VERSION = "1.0"
FIELDS = ("version", "truncation", "padding", "added_tokens", "normalizer", "pre_tokenizer", "post_processor",
          "decoder", "model")


def _ensure_registered() -> None:
    for name in PROVIDERS:
        importlib.import_module(f"{__package__}.{name}")


def read_json(path: Union[str, os.PathLike[str]]) -> JsonObj:
    p = Path(path)
    try:
        obj = json.loads(p.read_text(encoding="utf-8"))
    except UnicodeDecodeError as e:
        raise ValueError(f"{p}: not UTF-8 (byte {e.start})") from None
    except json.JSONDecodeError as e:
        raise ValueError(f"{p}:{e.lineno}:{e.colno}: invalid JSON ({e.msg})") from None
    except RecursionError:
        raise ValueError(f"{p}: JSON nested too deeply") from None
    if not isinstance(obj, dict):
        raise ValueError(f"{p}: a tokenizer.json must hold a JSON object")
    return obj


def load_obj(obj: JsonObj, source: str = "<tokenizer.json>", **options: Any) -> Tokenizer:
    """A Tokenizer for a tokenizer.json object."""
    if options:
        raise TypeError(f"unexpected option(s) for a tokenizer.json: {', '.join(sorted(options))} (its components "
                        "come from the file)")
    if not isinstance(obj, dict):
        raise ValueError(f"{source}: a tokenizer.json must hold a JSON object")
    _ensure_registered()
    unknown = sorted(set(obj) - set(FIELDS))
    if unknown:  # HF refuses these files too; a misspelt field must not silently drop a component
        raise ValueError(f"{source}: unknown field(s) {', '.join(repr(k) for k in unknown)} (a tokenizer.json has "
                         f"{', '.join(FIELDS)})")
    model = obj.get("model")
    if not isinstance(model, dict):
        raise ValueError(f"{source}: field 'model' is missing or not an object")
    try:
        return _load_components(obj, model, source)
    except (KeyError, IndexError, AttributeError, TypeError, RecursionError) as e:
        # A field of the wrong JSON type or a missing key deep in a component: name the file, not the Python error.
        detail = f"missing key {e}" if isinstance(e, KeyError) else str(e)
        raise ValueError(f"{source}: malformed tokenizer.json ({type(e).__name__}: {detail})") from None


def _load_components(obj: JsonObj, model: JsonObj, source: str) -> Tokenizer:
    added = added_as_hf_reads(added_tokens_from_json(obj.get("added_tokens"), source), model, source)
    post = post_processor_from_json(obj.get("post_processor"), source)
    truncation = truncation_from_json(obj.get("truncation"), source)
    padding = padding_from_json(obj.get("padding"), source)
    fast = FAST_PATHS.get(model_type(model))
    tok = fast(obj, source, added) if fast is not None else None
    if tok is None:
        tok = build_pipeline(obj, source, added)
    tok.post_processor = post
    tok.truncation = truncation
    tok.padding = padding
    if padding is not None:
        tok.pad_token = padding.pad_token
    elif tok.pad_token is None:
        tok.pad_token = next((a[0] for a in added if a[2] and a[0] in ("[PAD]", "<pad>", "<|padding|>")), None)
    tok._state["hf_json"] = obj
    return tok


def load(path: Union[str, os.PathLike[str]], **options: Any) -> Tokenizer:
    return load_obj(read_json(path), str(path), **options)


def to_obj(tok: Tokenizer) -> JsonObj:
    """The tokenizer.json object of a tokenizer."""
    _ensure_registered()
    base = tok._state.get("hf_json")
    if base is not None:
        obj = dict(base)
    else:
        kind = str(tok._state.get("kind", ""))
        saver = MODEL_SAVERS.get(kind)
        if saver is None:
            raise ValueError(f"saving a {kind!r} tokenizer as tokenizer.json is not supported")
        obj = saver(tok)
        place_added_in_vocab(obj)
    obj["truncation"] = truncation_to_json(tok.truncation)
    obj["padding"] = padding_to_json(tok.padding)
    obj["post_processor"] = post_processor_to_json(tok.post_processor)
    out: JsonObj = {"version": obj.get("version", VERSION)}
    for k in FIELDS[1:]:
        out[k] = obj.get(k)
    return out


def save(tok: Tokenizer, path: Union[str, os.PathLike[str]], *, pretty: bool = True) -> None:
    atomic_write_text(path, json.dumps(to_obj(tok), ensure_ascii=False, indent=2 if pretty else None))


def to_hf(tok: Tokenizer) -> Any:
    """The same tokenizer as a `tokenizers.Tokenizer` (through its tokenizer.json form)."""
    try:
        from tokenizers import Tokenizer as HFTokenizer
    except ImportError:  # pragma: no cover - tokenizers is a test extra
        raise ImportError("to_hf needs the `tokenizers` package: pip install tokenizers") from None
    return HFTokenizer.from_str(json.dumps(to_obj(tok), ensure_ascii=False))


def from_hf(hf: Any) -> Tokenizer:
    """A fastlm Tokenizer from a `tokenizers.Tokenizer` or a transformers fast tokenizer (its backend)."""
    backend = getattr(hf, "backend_tokenizer", hf)
    to_str = getattr(backend, "to_str", None)
    if to_str is None:
        raise TypeError(f"from_hf takes a tokenizers.Tokenizer or a transformers fast tokenizer, not "
                        f"{type(hf).__name__}")
    obj = json.loads(to_str())
    return load_obj(obj, f"<{type(backend).__module__}.{type(backend).__name__}>")


def rebuild(state: Dict[str, Any]) -> Tokenizer:
    tok = load_obj(state["hf_json"], "<pickle>")
    if state.get("name"):
        tok.name = state["name"]
    return tok
