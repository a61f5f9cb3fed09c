"""Byte-level BPE training: `fastlm.train("bpe", corpus, vocab_size=..., ...)` -> a ready Tokenizer.

The corpus is streamed: Python reads it in ~1 MiB chunks and hands batches to the C++ counter, which pre-tokenizes
and counts on C++ threads with the GIL released. Only the pre-token counts are kept (memory grows with the number
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
import sys
from collections import Counter
from pathlib import Path
from typing import Any, Iterable, Iterator, List, Optional, Sequence, Tuple

from .. import _core
from ..formats.patterns import resolve_pattern, scanner_for
from ..formats.tiktoken import build_bpe
from ..tokenizer import Tokenizer
from ._corpus import CHUNK_BYTES, _paths, iter_text_chunks

__all__ = ["train", "learn_merges"]

# Items of an iterable corpus are sent to C++ in batches of about this many bytes per thread.
_BATCH_BYTES = CHUNK_BYTES


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
    model, _, specials, pat = _train(files_or_iterable, vocab_size=vocab_size, pattern=pattern,
                                     special_tokens=special_tokens, min_frequency=min_frequency,
                                     max_token_length=max_token_length, num_threads=num_threads, progress=progress,
                                     errors=errors)
    return build_bpe(model, pattern=pat, special_tokens=specials, name=name or "bpe", state={})


def learn_merges(files_or_iterable: Any, **options: Any) -> List[Tuple[bytes, bytes, int]]:
    """The merges `train` applies, in order, as (left bytes, right bytes, count). Same options as `train`."""
    options.pop("name", None)
    model, merges, _, _ = _train(files_or_iterable, **options)
    return [(bytes(model.token_bytes(a)), bytes(model.token_bytes(b)), int(n)) for a, b, _, n in merges]


# ---------------------------------------------------------------------------------------------------- internals
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


def _bar(enabled: bool, **kw: Any) -> Any:
    if not enabled:
        return None
    try:
        from tqdm.auto import tqdm
    except ImportError:  # pragma: no cover - tqdm is a dependency of the [train] extra
        return None
    return tqdm(**kw)


def _train(files_or_iterable: Any, *, vocab_size: int, pattern: str = "o200k", special_tokens: Sequence[str] = (),
           min_frequency: int = 2, max_token_length: Optional[int] = None, num_threads: Optional[int] = None,
           progress: bool = True, errors: str = "strict") -> tuple:
    specials = _check_options(vocab_size, special_tokens, min_frequency, max_token_length, num_threads, errors)
    if not isinstance(pattern, str) or not pattern:
        raise ValueError("pattern must be a non-empty string: a regex or one of 'r50k', 'cl100k', 'o200k'")
    pat = resolve_pattern(pattern)
    scanner = scanner_for(pat)
    rx = None
    if scanner is None:
        import regex

        try:
            rx = regex.compile(pat)
        except regex.error as e:
            raise ValueError(f"pattern is not a valid regex: {e}") from None
    threads = num_threads or (os.cpu_count() or 1)
    show = bool(progress) and sys.stderr.isatty()

    kind = getattr(_core.PretokKind, scanner) if scanner else _core.PretokKind.NONE
    counter = _core.BpeTrainCounter(kind, specials)
    paths = _paths(files_or_iterable)
    total = sum(p.stat().st_size for p in paths if p.is_file()) if paths else None
    bar = _bar(show, total=total, unit="B", unit_scale=True, desc="counting pre-tokens")
    try:
        batches = _batches(files_or_iterable, paths, threads, errors)
        if rx is None:
            for batch, nbytes in batches:
                counter.count_texts(batch, threads)
                if bar is not None:
                    bar.update(sum(len(x.encode("utf-8", "surrogatepass")) for x in batch))
        else:
            sp = regex_specials(specials)
            for batch, nbytes in batches:
                counts: Counter = Counter()
                for text in batch:
                    for seg in (sp.split(text) if sp is not None else (text,)):
                        counts.update(rx.findall(seg))
                counter.add_pieces([(k, v) for k, v in counts.items() if k])
                if bar is not None:
                    bar.update(sum(len(x.encode("utf-8", "surrogatepass")) for x in batch))
    finally:
        if bar is not None:
            bar.close()
    if counter.distinct_upper_bound == 0:
        raise ValueError("the training corpus is empty (no text outside special tokens); pass non-empty files or texts")

    mbar = _bar(show, total=vocab_size - len(specials), desc="learning merges", unit="tok")

    def report(done: int, total_: int) -> None:
        mbar.update(done - mbar.n)

    try:
        model, merges, _ = _core.train_bpe(counter, vocab_size - len(specials), min_frequency, max_token_length or 0,
                                           report if mbar is not None else None)
    finally:
        if mbar is not None:
            mbar.close()
    first = int(model.id_bound)
    special_ids = {t: first + i for i, t in enumerate(specials)}
    return model, merges, special_ids, pat


def regex_specials(specials: List[str]) -> Any:
    if not specials:
        return None
    import regex

    return regex.compile("|".join(regex.escape(t) for t in sorted(specials, key=len, reverse=True)))


def _batches(corpus: Any, paths: Optional[List[Path]], threads: int, errors: str) -> Iterator[Tuple[list, int]]:
    """Yield (list of texts, their size in bytes): about `threads` chunks at a time, so every thread has work."""
    if paths is not None:
        src: Iterable[str] = iter_text_chunks(paths, errors=errors)
    else:
        if isinstance(corpus, (str, bytes, bytearray)):
            raise TypeError("corpus must be a path (str or os.PathLike of an existing file), a list of paths, or an "
                            "iterable of str; a single string that is not a file path is not accepted")
        try:
            src = iter(corpus)
        except TypeError:
            raise TypeError(
                f"corpus must be a path, a list of paths or an iterable of str, not {type(corpus).__name__}"
            ) from None
    limit = _BATCH_BYTES * max(1, threads)
    batch: list = []
    size = 0
    for i, t in enumerate(src):
        if not isinstance(t, str):
            raise TypeError(f"corpus item {i} is {type(t).__name__}, expected str")
        batch.append(t)
        size += len(t)
        if size >= limit:
            yield batch, size
            batch, size = [], 0
    if batch:
        yield batch, size
