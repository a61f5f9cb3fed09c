"""WordPiece training: `fastlm.train("wordpiece", corpus, vocab_size=..., ...)` -> a ready BERT-style Tokenizer.

The corpus is streamed in ~1 MiB chunks; C++ threads normalize (BERT normalizer), pre-tokenize (BERT) and count
words with the GIL released; only the word counts are kept. The vocabulary is then grown by pair merges with the
"##" continuation prefix (csrc/core/wordpiece/trainer.h documents the algorithm and its tie-breaks). Training is
deterministic: the same corpus and options give the same vocabulary whatever num_threads is.
"""
from __future__ import annotations

import os
import sys
from typing import Any, Optional, Sequence

from .. import _core
from ..formats.bert import DEFAULT_SPECIALS, bert_normalizer, build_wordpiece, wordpiece_state
from ..tokenizer import Tokenizer
from ._corpus import _paths
from .bpe import _bar, _batches

__all__ = ["train"]


def train(
    files_or_iterable: Any,
    *,
    vocab_size: int = 30000,
    special_tokens: Sequence[str] = DEFAULT_SPECIALS,
    limit_alphabet: Optional[int] = 1000,
    min_frequency: int = 2,
    lowercase: bool = True,
    strip_accents: Optional[bool] = None,
    clean_text: bool = True,
    handle_chinese_chars: bool = True,
    wordpieces_prefix: str = "##",
    unk_token: str = "[UNK]",
    num_threads: Optional[int] = None,
    progress: bool = True,
    errors: str = "strict",
    name: str = "",
) -> Tokenizer:
    """Train a WordPiece (BERT) tokenizer.

    files_or_iterable: a path, a list of paths (streamed), or any iterable of str.
    vocab_size: total tokens, special tokens included (the alphabet is always kept, even if larger).
    special_tokens: placed first, in this order (default [PAD] [UNK] [CLS] [SEP] [MASK]); must include unk_token.
    limit_alphabet: keep only this many most frequent characters (None: all).
    min_frequency: stop when the best pair occurs fewer times.
    lowercase / strip_accents / clean_text / handle_chinese_chars: the BERT normalizer used for training and saved
        with the tokenizer.
    num_threads: counting threads (None: all cores); the result does not depend on it.
    progress: tqdm bars (shown only on a terminal).
    errors: 'strict' (invalid UTF-8 in a file raises ValueError naming file and byte offset) or 'replace'.
    """
    if isinstance(special_tokens, str):
        raise TypeError("special_tokens must be a list of strings, not a single string")
    specials = list(special_tokens or ())
    if len(set(specials)) != len(specials):
        raise ValueError("special_tokens lists a token twice")
    if any(not isinstance(t, str) or not t for t in specials):
        raise ValueError("special tokens must be non-empty strings")
    if unk_token not in specials:
        raise ValueError(f"special_tokens must include the unknown token {unk_token!r} (or pass unk_token=)")
    if not isinstance(vocab_size, int) or isinstance(vocab_size, bool) or vocab_size < len(specials) + 1:
        raise ValueError(f"vocab_size must be an int > the number of special tokens ({len(specials)}), got {vocab_size!r}")
    if limit_alphabet is not None and (not isinstance(limit_alphabet, int) or limit_alphabet < 1):
        raise ValueError(f"limit_alphabet must be None or an int >= 1, not {limit_alphabet!r}")
    if not isinstance(min_frequency, int) or isinstance(min_frequency, bool) or min_frequency < 0:
        raise ValueError(f"min_frequency must be an int >= 0, not {min_frequency!r}")
    if num_threads is not None and (not isinstance(num_threads, int) or num_threads < 1):
        raise ValueError(f"num_threads must be a positive int or None, not {num_threads!r}")
    if errors not in ("strict", "replace"):
        raise ValueError(f"errors must be 'strict' or 'replace', not {errors!r}")
    if not isinstance(wordpieces_prefix, str) or not wordpieces_prefix:
        raise ValueError("wordpieces_prefix must be a non-empty string")
    nz = bert_normalizer(lowercase=lowercase, strip_accents=strip_accents, clean_text=clean_text,
                         handle_chinese_chars=handle_chinese_chars)
    strip = lowercase if strip_accents is None else strip_accents
    threads = num_threads or (os.cpu_count() or 1)
    show = bool(progress) and sys.stderr.isatty()

    counter = _core.WordPieceTrainCounter(True, clean_text, handle_chinese_chars, strip, lowercase, specials)
    paths = _paths(files_or_iterable)
    total = sum(p.stat().st_size for p in paths if p.is_file()) if paths else None
    bar = _bar(show, total=total, unit="B", unit_scale=True, desc="counting words")
    try:
        for batch, _ in _batches(files_or_iterable, paths, threads, errors):
            counter.count_texts(batch, threads)
            if bar is not None:
                bar.update(sum(len(x.encode("utf-8", "surrogatepass")) for x in batch))
    finally:
        if bar is not None:
            bar.close()
    if counter.distinct_words == 0:
        raise ValueError("the training corpus is empty (no words outside special tokens); pass non-empty files or texts")

    mbar = _bar(show, total=vocab_size, desc="learning vocabulary", unit="tok")

    def report(done: int, total_: int) -> None:
        mbar.update(done - mbar.n)

    try:
        tokens = _core.train_wordpiece(counter, vocab_size, min_frequency, limit_alphabet or 0, specials,
                                       wordpieces_prefix, report if mbar is not None else None)
    finally:
        if mbar is not None:
            mbar.close()
    vocab = [(t, i) for i, t in enumerate(tokens)]
    st = wordpiece_state(vocab, normalizer=nz, unk_token=unk_token, prefix=wordpieces_prefix,
                         special_tokens=specials, name=name or "wordpiece")
    return build_wordpiece(st)
