"""GPT-2 `encoder.json` (HF: vocab.json) + `vocab.bpe` (HF: merges.txt)."""
from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Dict, List, Optional, Tuple, Union

import numpy as np

from .. import _core
from ..tokenizer import Tokenizer
from .bytelevel import token_to_bytes
from .patterns import R50K_PATTERN
from .tiktoken import build_bpe


def read_merges(path: Union[str, os.PathLike[str]]) -> List[Tuple[bytes, bytes]]:
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except UnicodeDecodeError as e:
        raise ValueError(f"{p}: not UTF-8 (byte {e.start})") from None
    merges = []
    for lineno, line in enumerate(text.split("\n"), 1):
        line = line.rstrip("\r")
        if not line or (lineno == 1 and line.startswith("#version")):
            continue
        parts = line.split(" ")
        if len(parts) != 2 or not parts[0] or not parts[1]:
            raise ValueError(f"{p}:{lineno}: expected two space-separated tokens per merge line, got {line!r}")
        merges.append((token_to_bytes(parts[0], source=f"{p}:{lineno}"), token_to_bytes(parts[1], source=f"{p}:{lineno}")))
    return merges


def read_vocab_json(path: Union[str, os.PathLike[str]]) -> Dict[bytes, int]:
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
        raise ValueError(f"{p}: expected a JSON object mapping tokens to ids")
    out = {}
    for tok, i in obj.items():
        if not isinstance(i, int) or isinstance(i, bool) or i < 0:
            raise ValueError(f"{p}: token {tok!r} has id {i!r}; ids must be non-negative integers")
        out[token_to_bytes(tok, source=str(p))] = i
    return out


def load_gpt2(encoder_json: Union[str, os.PathLike[str]], vocab_bpe: Union[str, os.PathLike[str]], *,
              special_tokens: Optional[Dict[str, int]] = None) -> Tokenizer:
    vocab = read_vocab_json(encoder_json)
    merges = read_merges(vocab_bpe)
    specials = dict(special_tokens) if special_tokens is not None else {}
    if special_tokens is None and b"<|endoftext|>" in vocab:
        specials["<|endoftext|>"] = vocab.pop(b"<|endoftext|>")
    for t in specials:
        vocab.pop(t.encode("utf-8"), None)
    try:
        model = _core.BpeModel(list(vocab.items()), merges, False)
    except ValueError as e:
        raise ValueError(f"{encoder_json} + {vocab_bpe}: {e}") from None
    return build_bpe(model, pattern=R50K_PATTERN, special_tokens=specials, name="gpt2",
                     state={"gpt2": (str(Path(encoder_json).resolve()), str(Path(vocab_bpe).resolve()))})


def model_content(model: "_core.BpeModel") -> Tuple[bytes, bytes, bytes]:
    """What a pickle needs to rebuild the model anywhere, packed so it (un)pickles as three buffers rather than
    100k tuples: (token bytes concatenated, uint32 [length, id] per token, uint32 [left id, right id] per merge
    in priority order)."""
    vocab = model.vocab()
    blob = b"".join(bytes(b) for b, _ in vocab)
    table = np.array([(len(b), i) for b, i in vocab], dtype=np.uint32).reshape(-1, 2)
    merges = sorted(model.merge_table(), key=lambda m: m[2])
    pairs = np.array([(l, r) for l, r, _, _ in merges], dtype=np.uint32).reshape(-1, 2)
    return blob, table.tobytes(), pairs.tobytes()


def rebuild_gpt2(state: Dict[str, Any]) -> Tokenizer:
    blob, table_b, pairs_b = state["gpt2_model"]
    table = np.frombuffer(table_b, dtype=np.uint32).reshape(-1, 2).tolist()
    vocab: List[Tuple[bytes, int]] = []
    by_id: Dict[int, bytes] = {}
    pos = 0
    for n, i in table:
        tok = blob[pos:pos + n]
        pos += n
        vocab.append((tok, i))
        by_id[i] = tok
    merges = [(by_id[l], by_id[r]) for l, r in np.frombuffer(pairs_b, dtype=np.uint32).reshape(-1, 2).tolist()]
    model = _core.BpeModel(vocab, merges, False)
    # the rebuilt state only marks the model as GPT-2 merges; pickling extracts them from the model again
    return build_bpe(model, pattern=state["pattern"], special_tokens=state.get("special_tokens"),
                     name=state.get("name", "gpt2"), state={"gpt2_model": True})
