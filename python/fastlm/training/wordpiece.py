"""WordPiece training: `fastlm.train("wordpiece", corpus, vocab_size=..., ...)` -> a ready BERT-style Tokenizer.

The corpus is streamed in ~1 MiB chunks; C++ threads normalize (BERT normalizer), pre-tokenize (BERT) and count
words with the GIL released; only the word counts are kept. The vocabulary is then grown by pair merges with the
"##" continuation prefix (csrc/core/wordpiece/trainer.h documents the algorithm and its tie-breaks). Training is
deterministic: the same corpus and options give the same vocabulary whatever num_threads is.
"""
from __future__ import annotations

import os
from typing import Any, List, Optional, Sequence

from .. import _core
from ..formats.bert import DEFAULT_SPECIALS, bert_normalizer, build_wordpiece, wordpiece_state
from ..tokenizer import Tokenizer
from ._corpus import count_corpus, progress_bar, progress_callback, show_progress

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
    show = show_progress(progress)

    counter = _core.WordPieceTrainCounter(True, clean_text, handle_chinese_chars, strip, lowercase, specials)

    def count(batch: List[str]) -> None:
        counter.count_texts(batch, threads)

    count_corpus(files_or_iterable, count, threads=threads, errors=errors, show=show, desc="counting words")
    if counter.distinct_words == 0:
        raise ValueError("the training corpus is empty (no words outside special tokens); pass non-empty files or texts")

    with progress_bar(show, total=vocab_size, desc="learning vocabulary", unit="tok") as bar:
        tokens = _core.train_wordpiece(counter, vocab_size, min_frequency, limit_alphabet or 0, specials,
                                       wordpieces_prefix, progress_callback(bar))
    vocab = [(t, i) for i, t in enumerate(tokens)]
    st = wordpiece_state(vocab, normalizer=nz, unk_token=unk_token, prefix=wordpieces_prefix,
                         special_tokens=specials, name=name or "wordpiece")
    return build_wordpiece(st)
