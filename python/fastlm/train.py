"""`fastlm.train(model, files_or_iterable, **options)`: train a tokenizer and return a ready Tokenizer.

Each algorithm lives in `fastlm.training.<model>` and exposes `train(corpus, **options) -> Tokenizer`.
"""
from __future__ import annotations

import importlib
from typing import Any

from .tokenizer import Tokenizer

_MODELS = {"bpe": "bpe", "wordpiece": "wordpiece", "unigram": "unigram"}


def train(model: str, files_or_iterable: Any, **options: Any) -> Tokenizer:
    """Train a tokenizer. `model` is 'bpe', 'wordpiece' or 'unigram'; `files_or_iterable` is a path, a list of
    paths, or any iterable of str (a generator over a dataset works; files are streamed). Options are keyword-only
    and documented on `fastlm.training.<model>.train`."""
    key = _MODELS.get(str(model).lower())
    if key is None:
        raise ValueError(f"unknown model {model!r}; choose one of {', '.join(_MODELS)}")
    mod = importlib.import_module(f"fastlm.training.{key}")
    tok: Tokenizer = mod.train(files_or_iterable, **options)
    return tok
