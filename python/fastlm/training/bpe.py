"""Byte-level BPE training: `fastlm.train("bpe", corpus, vocab_size=..., ...)` -> a ready Tokenizer.

The corpus is streamed (training/_corpus.py): Python reads it in ~1 MiB chunks and hands batches to the C++
counter, which pre-tokenizes and counts on C++ threads with the GIL released. Only the pre-token counts are kept (memory grows with the number
of distinct pre-tokens, not with the corpus). For the built-in patterns (r50k, cl100k, o200k) the C++ scanners
split the text; any other regex is split here with the `regex` module and only the counts are sent to C++.

The result is a tiktoken-style rank model: ids 0..255 are the bytes 0x00..0xff, then the learned tokens in the
order they were learned (rank = id), then the special tokens. Training is deterministic: the same corpus and
options give the same tokenizer whatever `num_threads` is. Ties between pairs with the same count go to the pair
whose (left bytes, right bytes) is lexicographically smallest.

Special tokens found in the training text are cut out before counting (they never take part in merges).
"""
from __future__ import annotations

import os
from collections import Counter
from typing import Any, Callable, Dict, List, NamedTuple, Optional, Sequence, Tuple

from .. import _core
from ..formats.patterns import resolve_pattern, scanner_for
from ..formats.tiktoken import build_bpe
from ..tokenizer import Tokenizer
from ._corpus import count_corpus, progress_bar, progress_callback, show_progress

__all__ = ["train", "learn_merges"]


def train(
    files_or_iterable: Any,
    *,
    vocab_size: int,
    pattern: str = "o200k",
    special_tokens: Sequence[str] = (),
    min_frequency: int = 2,
    max_token_length: Optional[int] = None,
    num_threads: Optional[int] = None,
    progress: bool = True,
    errors: str = "strict",
    name: str = "",
) -> Tokenizer:
    """Train a byte-level BPE tokenizer.

    files_or_iterable: a path, a list of paths (streamed), or any iterable of str (each item is one document).
    vocab_size: total tokens, the 256 byte tokens and the special tokens included. Training may stop earlier when
        no pair occurs `min_frequency` times.
    pattern: 'o200k' | 'cl100k' | 'r50k' (C++ scanners) or any regex (split with the `regex` module, as tiktoken does:
        text the regex does not match is dropped).
    special_tokens: strings given the ids after the learned tokens, in this order; never split, never merged.
    max_token_length: longest learned token, in bytes (None: no limit).
    num_threads: threads for counting (None: all cores). The result does not depend on it.
    progress: tqdm bars for counting and merging (shown only on a terminal).
    errors: 'strict' (invalid UTF-8 in a file raises ValueError naming the file and byte offset) or 'replace'.
    """
    r = _train(files_or_iterable, vocab_size=vocab_size, pattern=pattern, special_tokens=special_tokens,
               min_frequency=min_frequency, max_token_length=max_token_length, num_threads=num_threads,
               progress=progress, errors=errors)
    return build_bpe(r.model, pattern=r.pattern, special_tokens=r.special_ids, name=name or "bpe", state={})


def learn_merges(files_or_iterable: Any, **options: Any) -> List[Tuple[bytes, bytes, int]]:
    """The merges `train` applies, in order, as (left bytes, right bytes, count). Same options as `train`."""
    options.pop("name", None)
    r = _train(files_or_iterable, **options)
    return [(bytes(r.model.token_bytes(a)), bytes(r.model.token_bytes(b)), int(n)) for a, b, _, n in r.merges]


# ---------------------------------------------------------------------------------------------------- internals
class _Trained(NamedTuple):
    model: _core.BpeModel
    merges: List[Tuple[int, int, int, int]]  # (left id, right id, merged id, count), in order
    special_ids: Dict[str, int]
    pattern: str


def _check_options(vocab_size: Any, special_tokens: Any, min_frequency: Any, max_token_length: Any,
                   num_threads: Any, errors: Any) -> List[str]:
    if isinstance(special_tokens, str):
        raise TypeError("special_tokens must be a list of strings, not a single string")
    specials = list(special_tokens or ())
    for t in specials:
        if not isinstance(t, str) or not t:
            raise ValueError(f"special tokens must be non-empty strings, got {t!r}")
    dup = [t for t, n in Counter(specials).items() if n > 1]
    if dup:
        raise ValueError(f"special token {dup[0]!r} is listed twice")
    if not isinstance(vocab_size, int) or isinstance(vocab_size, bool):
        raise TypeError(f"vocab_size must be an int, not {type(vocab_size).__name__}")
    need = 256 + len(specials)
    if vocab_size < need:
        raise ValueError(
            f"vocab_size={vocab_size} is too small: byte-level BPE needs 256 byte tokens"
            + (f" + {len(specials)} special tokens" if specials else "")
            + f" = {need} at least; pass vocab_size >= {need} (plus the number of merges you want)"
        )
    if not isinstance(min_frequency, int) or isinstance(min_frequency, bool) or min_frequency < 1:
        raise ValueError(f"min_frequency must be an int >= 1, not {min_frequency!r}")
    if max_token_length is not None and (not isinstance(max_token_length, int) or max_token_length < 1):
        raise ValueError(f"max_token_length must be None or an int >= 1, not {max_token_length!r}")
    if num_threads is not None and (not isinstance(num_threads, int) or num_threads < 1):
        raise ValueError(f"num_threads must be a positive int or None, not {num_threads!r}")
    if errors not in ("strict", "replace"):
        raise ValueError(f"errors must be 'strict' or 'replace', not {errors!r}")
    return specials


def _train(files_or_iterable: Any, *, vocab_size: int, pattern: str = "o200k", special_tokens: Sequence[str] = (),
           min_frequency: int = 2, max_token_length: Optional[int] = None, num_threads: Optional[int] = None,
           progress: bool = True, errors: str = "strict") -> _Trained:
    specials = _check_options(vocab_size, special_tokens, min_frequency, max_token_length, num_threads, errors)
    if not isinstance(pattern, str) or not pattern:
        raise ValueError("pattern must be a non-empty string: a regex or one of 'r50k', 'cl100k', 'o200k'")
    pat = resolve_pattern(pattern)
    scanner = scanner_for(pat)
    threads = num_threads or (os.cpu_count() or 1)
    show = show_progress(progress)

    kind = getattr(_core.PretokKind, scanner) if scanner else _core.PretokKind.NONE
    counter = _core.BpeTrainCounter(kind, specials)
    if scanner is not None:
        def count(batch: List[str]) -> None:
            counter.count_texts(batch, threads)
    else:
        split = _regex_splitter(pat, specials)

        def count(batch: List[str]) -> None:
            counter.add_pieces(split(batch))
    count_corpus(files_or_iterable, count, threads=threads, errors=errors, show=show, desc="counting pre-tokens")
    if counter.distinct_upper_bound == 0:
        raise ValueError("the training corpus is empty (no text outside special tokens); pass non-empty files or texts")

    with progress_bar(show, total=vocab_size - len(specials), desc="learning merges", unit="tok") as bar:
        model, merges, _ = _core.train_bpe(counter, vocab_size - len(specials), min_frequency, max_token_length or 0,
                                           progress_callback(bar))
    first = int(model.id_bound)
    return _Trained(model, list(merges), {t: first + i for i, t in enumerate(specials)}, pat)


def _regex_splitter(pat: str, specials: List[str]) -> Callable[[List[str]], List[Tuple[str, int]]]:
    """For a custom regex: batch -> [(pre-token, count)], splitting with `regex` (special tokens cut out first)."""
    import regex

    try:
        rx = regex.compile(pat)
    except regex.error as e:
        raise ValueError(f"pattern is not a valid regex: {e}") from None
    sp = regex_specials(specials)

    def split(batch: List[str]) -> List[Tuple[str, int]]:
        counts: Counter[str] = Counter()
        for text in batch:
            for seg in (sp.split(text) if sp is not None else (text,)):
                counts.update(rx.findall(seg))
        return [(k, v) for k, v in counts.items() if k]

    return split


def regex_specials(specials: List[str]) -> Any:
    """A compiled alternation of the special tokens (longest first), or None when there are none."""
    if not specials:
        return None
    import regex

    return regex.compile("|".join(regex.escape(t) for t in sorted(specials, key=len, reverse=True)))
