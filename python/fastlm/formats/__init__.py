"""Loaders and savers for the tokenizer files the ecosystem uses; `load` detects the format.

Each format module registers a detector in `_DETECTORS`: (predicate(path) -> bool, loader(path, **options)).
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Callable, Dict, List, Tuple, Union

from ..tokenizer import Tokenizer

Detector = Tuple[Callable[[Path], bool], Callable[..., Tokenizer]]
_DETECTORS: List[Detector] = []


def register(pred: Callable[[Path], bool], loader: Callable[..., Tokenizer]) -> None:
    _DETECTORS.append((pred, loader))


def _looks_tiktoken(p: Path) -> bool:
    if p.suffix == ".tiktoken":
        return True
    try:
        with open(p, "rb") as f:
            head = f.read(256)
    except OSError:
        return False
    line = head.split(b"\n", 1)[0].strip()
    parts = line.split(b" ")
    return len(parts) == 2 and parts[1].isdigit() and len(parts[0]) % 4 == 0 and len(parts[0]) > 0


def _load_tiktoken(p: Path, **kw: Any) -> Tokenizer:
    from .tiktoken import load_tiktoken

    return load_tiktoken(p, **kw)


def _gpt2_pair(p: Path) -> Tuple[Path, Path]:
    d = p if p.is_dir() else p.parent
    for enc, mer in (("encoder.json", "vocab.bpe"), ("vocab.json", "merges.txt")):
        if (d / enc).exists() and (d / mer).exists():
            return d / enc, d / mer
    raise FileNotFoundError(f"{p}: GPT-2 files need both encoder.json + vocab.bpe (or vocab.json + merges.txt)")


def _is_gpt2(p: Path) -> bool:
    names = {"encoder.json", "vocab.bpe", "vocab.json", "merges.txt"}
    if p.is_dir():
        return any((p / n).exists() for n in ("encoder.json", "vocab.json")) and not (p / "tokenizer.json").exists()
    return p.name in names


def _load_gpt2(p: Path, **kw: Any) -> Tokenizer:
    from .gpt2 import load_gpt2

    enc, mer = _gpt2_pair(p)
    return load_gpt2(enc, mer, **kw)


def _is_hf_json(p: Path) -> bool:
    if p.is_dir():
        return (p / "tokenizer.json").exists()
    return p.suffix == ".json" and p.name not in ("encoder.json", "vocab.json")


def _load_hf_json(p: Path, **kw: Any) -> Tokenizer:
    from . import hf_json

    return hf_json.load(p / "tokenizer.json" if p.is_dir() else p, **kw)


register(_is_hf_json, _load_hf_json)
register(lambda p: p.is_file() and _looks_tiktoken(p), _load_tiktoken)
register(_is_gpt2, _load_gpt2)
register(lambda p: __import__("fastlm.formats.bert", fromlist=["x"]).is_vocab_txt(p), lambda p, **kw: __import__("fastlm.formats.bert", fromlist=["x"]).load_detected(p, **kw))
register(lambda p: p.is_file() and p.suffix == ".model", lambda p, **kw: __import__("fastlm.formats.sentencepiece", fromlist=["x"]).load_sentencepiece(p, **kw))


def load(path: Union[str, os.PathLike[str]], **options: Any) -> Tokenizer:
    """Load any supported tokenizer file (or a directory holding one); the format is detected from the file."""
    p = Path(path)
    if not p.exists():
        raise FileNotFoundError(f"no such tokenizer file or directory: {str(p)!r}")
    for pred, loader in _DETECTORS:
        if pred(p):
            try:
                return loader(p, **options)
            except ValueError as e:
                # Every load error names the file (a check deep in the core may only know the position).
                if str(p) in str(e) or p.name in str(e):
                    raise
                raise ValueError(f"{p}: {e}") from None
    raise ValueError(
        f"{p}: unrecognized tokenizer format (supported: .tiktoken, GPT-2 encoder.json + vocab.bpe"
        + "".join(", " + n for n in _EXTRA_NAMES) + ")"
    )


_EXTRA_NAMES: List[str] = []
_EXTRA_NAMES.append("BERT vocab.txt")
_EXTRA_NAMES.append("SentencePiece .model")


def rebuild(state: Dict[str, Any]) -> Tokenizer:
    """Inverse of Tokenizer.__reduce__: rebuild a tokenizer from its pickled state."""
    kind = state.get("kind")
    if kind == "bpe":
        from .. import _core
        from .tiktoken import build_bpe

        if "gpt2_model" in state:
            from .gpt2 import rebuild_gpt2

            return rebuild_gpt2(state)
        if "gpt2" in state:
            from .gpt2 import load_gpt2

            return load_gpt2(*state["gpt2"], special_tokens=state.get("special_tokens"))
        model = _core.BpeModel.from_tiktoken_bytes(state["ranks_tiktoken"], "<pickle>")
        return build_bpe(model, pattern=state["pattern"], special_tokens=state.get("special_tokens"),
                         name=state.get("name", ""), state={"ranks_tiktoken": state["ranks_tiktoken"],
                                                            "split_gaps": bool(state.get("split_gaps"))})
    rebuilder = _REBUILDERS.get(kind or "")
    if rebuilder is None:
        raise ValueError(f"cannot unpickle a tokenizer of kind {kind!r}")
    tok: Tokenizer = rebuilder(state)
    return tok


_REBUILDERS: Dict[str, Callable[[Dict[str, Any]], Tokenizer]] = {}
_REBUILDERS["wordpiece"] = lambda state: __import__("fastlm.formats.bert", fromlist=["rebuild"]).rebuild(state)
_REBUILDERS["hf_json"] = lambda state: __import__("fastlm.formats.hf_json", fromlist=["rebuild"]).rebuild(state)
_REBUILDERS["hf_bpe"] = _REBUILDERS["hf_json"]
_REBUILDERS["pipeline"] = _REBUILDERS["hf_json"]
_REBUILDERS["unigram"] = lambda st: __import__("fastlm.formats.sentencepiece", fromlist=["x"]).rebuild(st)
