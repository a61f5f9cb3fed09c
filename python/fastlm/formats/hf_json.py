"""HF `tokenizer.json`, the native serialized format: read and write.

The file's `model.type` picks a loader from MODEL_LOADERS; `Tokenizer.save` picks a saver from MODEL_SAVERS by the
tokenizer's kind. Each algorithm's module registers its own pair, so every component (normalizer, pre-tokenizer,
post-processor, decoder) is handled by the family that uses it. Unsupported components raise ValueError naming
the component - never a silent difference.
"""
from __future__ import annotations

import importlib
import json
import os
from pathlib import Path
from typing import Any, Callable, Dict, Union

from .._io import atomic_write_text
from ..tokenizer import Tokenizer

MODEL_LOADERS: Dict[str, Callable[..., Tokenizer]] = {}  # model.type -> loader(obj, source, **options)
MODEL_SAVERS: Dict[str, Callable[[Tokenizer], Dict[str, Any]]] = {}  # tokenizer kind -> saver(tok) -> JSON object

# Modules (in this package) that fill the registries when imported; imported on first use, so no import cycle.
PROVIDERS = ["hf_bpe", "hf_wordpiece"]


def _ensure_registered() -> None:
    for name in PROVIDERS:
        importlib.import_module(f"{__package__}.{name}")


def read_json(path: Union[str, os.PathLike[str]]) -> Dict[str, Any]:
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


def load_obj(obj: Dict[str, Any], source: str = "<tokenizer.json>", **options: Any) -> Tokenizer:
    _ensure_registered()
    model = obj.get("model")
    if not isinstance(model, dict):
        raise ValueError(f"{source}: field 'model' is missing or not an object")
    mtype = model.get("type")
    if mtype is None:  # old files infer the type from the fields
        mtype = "BPE" if "merges" in model else "WordPiece" if "continuing_subword_prefix" in model else "Unigram"
    loader = MODEL_LOADERS.get(mtype)
    if loader is None:
        raise ValueError(f"{source}: model.type {mtype!r} is not supported (supported: {', '.join(sorted(MODEL_LOADERS))})")
    try:
        return loader(obj, source, **options)
    except (KeyError, IndexError, AttributeError, TypeError, RecursionError) as e:
        # A field of the wrong JSON type or a missing key deep in a component: name the file, not the Python error.
        if isinstance(e, TypeError) and str(e).startswith("unexpected option"):
            raise
        detail = f"missing key {e}" if isinstance(e, KeyError) else str(e)
        raise ValueError(f"{source}: malformed {mtype} tokenizer.json ({type(e).__name__}: {detail})") from None


def load(path: Union[str, os.PathLike[str]], **options: Any) -> Tokenizer:
    return load_obj(read_json(path), str(path), **options)


def to_obj(tok: Tokenizer) -> Dict[str, Any]:
    _ensure_registered()
    kind = tok._state.get("kind")
    saver = MODEL_SAVERS.get(kind or "")
    if saver is None:
        raise ValueError(f"saving a {kind!r} tokenizer as tokenizer.json is not supported")
    return saver(tok)


def save(tok: Tokenizer, path: Union[str, os.PathLike[str]], *, pretty: bool = True) -> None:
    atomic_write_text(path, json.dumps(to_obj(tok), ensure_ascii=False, indent=2 if pretty else None))
