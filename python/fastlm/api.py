"""Pipeline entry points: `load` and `tokenize`."""
from __future__ import annotations

import os
import threading
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Tuple, Union, cast

import numpy as np

from .encoding import BatchEncoding
from .formats import load as _load
from .tokenizer import Tokenizer

_CACHE: Dict[Tuple[str, float, Tuple[Tuple[str, Any], ...]], Tokenizer] = {}
_CACHE_LOCK = threading.Lock()


def load(path: Union[str, os.PathLike[str]], **options: Any) -> Tokenizer:
    """Load a tokenizer file and detect its format: .tiktoken, GPT-2 encoder.json + vocab.bpe, HF tokenizer.json,
    BERT vocab.txt, SentencePiece .model (or a directory that holds one). Options pass through to the loader."""
    return _load(path, **options)


def _cached(path: Union[str, os.PathLike[str]]) -> Tokenizer:
    p = Path(path).resolve()
    try:
        key = (str(p), p.stat().st_mtime, ())
    except OSError:
        raise FileNotFoundError(f"no such tokenizer file: {str(path)!r}") from None
    with _CACHE_LOCK:
        tok = _CACHE.get(key)
    if tok is None:
        tok = _load(p)
        with _CACHE_LOCK:
            _CACHE[key] = tok
    return tok


def tokenize(
    texts: Union[str, Sequence[str]],
    tokenizer: Union[Tokenizer, str, os.PathLike[str]],
    *,
    add_special_tokens: bool = True,
    num_threads: Optional[int] = None,
    return_tensors: Optional[str] = None,
    allowed_special: Any = frozenset(),
    disallowed_special: Any = (),
) -> Any:
    """Tokenize for a data pipeline.

    * `texts` a str -> list[int]; a list of str -> list[list[int]] (encoded on C++ threads, GIL released).
    * `tokenizer` a Tokenizer or a path (loaded once and cached per process).
    * `add_special_tokens=True` applies the post-processor (e.g. [CLS] ... [SEP]); byte-level BPE has none.
    * `return_tensors="np"` for a batch returns (ids uint32[N], offsets int64[B+1]) without a Python int per token.
    * Special-token text is ordinary text by default (disallowed_special=()), so arbitrary corpora never raise.
    """
    tok = tokenizer if isinstance(tokenizer, Tokenizer) else _cached(tokenizer)
    if return_tensors not in (None, "np"):
        raise ValueError(f"return_tensors must be None or 'np', not {return_tensors!r}")
    single = isinstance(texts, str)
    if add_special_tokens and tok.post_processor is not None:
        enc = tok(texts if single else list(texts), add_special_tokens=True, num_threads=num_threads)
        if single:
            return enc.ids
        ids = cast(BatchEncoding, enc).ids
        if return_tensors == "np":
            offs = np.zeros(len(ids) + 1, dtype=np.int64)
            np.cumsum([len(x) for x in ids], out=offs[1:])
            return np.fromiter((i for x in ids for i in x), dtype=np.uint32, count=int(offs[-1])), offs
        return ids
    if single:
        if return_tensors == "np":
            return tok.encode_to_numpy(texts, allowed_special=allowed_special, disallowed_special=disallowed_special)  # type: ignore[arg-type]
        return tok.encode(texts, allowed_special=allowed_special, disallowed_special=disallowed_special)  # type: ignore[arg-type]
    if return_tensors == "np":
        return tok.encode_batch_to_numpy(texts, num_threads=num_threads, allowed_special=allowed_special,
                                         disallowed_special=disallowed_special)
    return tok.encode_batch(texts, num_threads=num_threads, allowed_special=allowed_special,
                            disallowed_special=disallowed_special)
