"""SentencePiece Unigram training: `fastlm.train("unigram", corpus, vocab_size=..., ...)` -> a ready Tokenizer.

The result is the same `SentencePieceTokenizer` fastlm builds for a loaded `.model` file, and `tok.save("x.model")`
writes a ModelProto that the `sentencepiece` library loads and encodes identically.

The corpus is streamed: files are read in ~1 MiB chunks (each line is a sentence, as sentencepiece reads its input)
and handed to the C++ trainer, which normalizes, splits into words and counts them on C++ threads with the GIL
released; only the distinct words and their counts are kept. Training (suffix-array seeding, EM, pruning) runs in
C++ too; see csrc/core/unigram/trainer.h. It is deterministic: the same corpus, options and seed give the same
model byte for byte, whatever `num_threads` is.

Vocabulary layout (sentencepiece's): <unk>, <s>, </s> (and the pad piece if given) first, then `special_tokens`
(CONTROL pieces: never produced from text), then `user_defined_symbols` (always matched whole in text), then the
256 <0xNN> byte pieces with byte_fallback, then the learned pieces, best score first. `vocab_size` counts them all.
"""
from __future__ import annotations

import os
import sys
from collections import Counter
from typing import Any, Iterable, Iterator, List, Optional, Sequence, Tuple, Union

from .. import _core
from ..formats.sentencepiece import (BYTE, CONTROL, NORMAL, UNKNOWN, USER_DEFINED, SentencePieceTokenizer,
                                     build_proto, from_proto)
from ._corpus import CHUNK_BYTES, _paths, iter_text_chunks

__all__ = ["train"]

NORMALIZATIONS = ("nmt_nfkc", "nfkc", "identity")
# TrainerSpec field numbers (sentencepiece_model.proto) written into the model besides build_proto's.
_T = {"character_coverage": 10, "max_sentencepiece_length": 20, "split_by_unicode_script": 21,
      "split_by_whitespace": 22, "split_by_number": 23, "split_digits": 25, "control_symbols": 30,
      "user_defined_symbols": 31, "unk_id": 40, "bos_id": 41, "eos_id": 42, "pad_id": 43, "unk_piece": 45,
      "bos_piece": 46, "eos_piece": 47, "pad_piece": 48, "seed_sentencepiece_size": 14, "shrinking_factor": 15,
      "num_sub_iterations": 17}


def train(
    files_or_iterable: Any,
    *,
    vocab_size: int,
    character_coverage: float = 0.9995,
    max_piece_length: int = 16,
    split_by_whitespace: bool = True,
    split_by_unicode_script: bool = True,
    split_by_number: bool = True,
    split_digits: bool = False,
    byte_fallback: bool = False,
    normalization: Union[str, bytes] = "nmt_nfkc",
    add_dummy_prefix: bool = True,
    remove_extra_whitespaces: bool = True,
    special_tokens: Sequence[str] = (),
    user_defined_symbols: Sequence[str] = (),
    unk_piece: str = "<unk>",
    bos_piece: Optional[str] = "<s>",
    eos_piece: Optional[str] = "</s>",
    pad_piece: Optional[str] = None,
    seed_size: int = 1_000_000,
    shrinking_factor: float = 0.75,
    num_sub_iterations: int = 2,
    max_sentences: Optional[int] = None,
    seed: int = 0,
    num_threads: Optional[int] = None,
    progress: bool = True,
    errors: str = "strict",
    name: str = "",
) -> SentencePieceTokenizer:
    """Train a SentencePiece Unigram tokenizer.

    files_or_iterable: a path, a list of paths (streamed; each line is a sentence), or any iterable of str (each
        item is split into lines too).
    vocab_size: total pieces, the meta, special, user-defined and byte pieces included.
    character_coverage: the most frequent characters covering this share of the text are kept as pieces; the
        rest become <unk> (or UTF-8 bytes with byte_fallback). 1.0 keeps every character.
    max_piece_length: longest piece, in characters.
    split_by_whitespace: pieces never cross a space (U+2581 only as a piece's first character).
    split_by_unicode_script / split_by_number / split_digits: pieces never mix scripts (Hiragana, Katakana and Han
        count as one) / digits count as a script of their own / digits are single-character pieces.
    byte_fallback: add the 256 <0xNN> pieces; unknown characters are encoded as their UTF-8 bytes.
    normalization: 'nmt_nfkc' (NFKC plus control-character removal and space folding, sentencepiece's default),
        'nfkc', 'identity', or the bytes of a precompiled charsmap (e.g. from another model's normalizer spec).
    add_dummy_prefix / remove_extra_whitespaces: sentencepiece's normalizer options.
    special_tokens: CONTROL pieces (ids right after the meta pieces); user_defined_symbols: pieces always matched
        whole in text. Both are cut out of the training text, as are the meta pieces.
    unk_piece, bos_piece, eos_piece, pad_piece: the meta pieces (None disables bos/eos/pad).
    seed_size, shrinking_factor, num_sub_iterations: the EM schedule (sentencepiece's defaults).
    max_sentences: train on a uniform sample of this many lines (None: all); `seed` picks the sample.
    num_threads: threads for counting and EM (None: all cores). The result does not depend on it.
    progress: tqdm bars (shown only on a terminal). errors: 'strict' (invalid UTF-8 in a file raises ValueError
        naming the file and byte offset) or 'replace'.
    """
    meta, specials, users = _check_pieces(unk_piece, bos_piece, eos_piece, pad_piece, special_tokens,
                                          user_defined_symbols)
    _check_int("vocab_size", vocab_size, 1)
    _check_int("max_piece_length", max_piece_length, 1, 512)
    _check_int("seed_size", seed_size, 1)
    _check_int("num_sub_iterations", num_sub_iterations, 1, 10)
    _check_int("seed", seed, 0)
    if max_sentences is not None:
        _check_int("max_sentences", max_sentences, 1)
    if num_threads is not None:
        _check_int("num_threads", num_threads, 1)
    if not isinstance(character_coverage, (int, float)) or not 0.0 < float(character_coverage) <= 1.0:
        raise ValueError(f"character_coverage must be in (0, 1], not {character_coverage!r}")
    if not isinstance(shrinking_factor, (int, float)) or not 0.5 <= float(shrinking_factor) < 1.0:
        raise ValueError(f"shrinking_factor must be in [0.5, 1), not {shrinking_factor!r}")
    if errors not in ("strict", "replace"):
        raise ValueError(f"errors must be 'strict' or 'replace', not {errors!r}")
    norm_name, charsmap = _charsmap(normalization)

    reserved = len(meta) + len(specials) + len(users) + (256 if byte_fallback else 0)
    if vocab_size <= reserved:
        raise ValueError(
            f"vocab_size={vocab_size} is too small: {reserved} ids are reserved ({len(meta)} meta pieces"
            + (f", {len(specials)} special tokens" if specials else "")
            + (f", {len(users)} user-defined symbols" if users else "")
            + (", 256 byte pieces" if byte_fallback else "")
            + f") and the characters of the corpus need more; pass vocab_size > {reserved}")
    threads = num_threads or (os.cpu_count() or 1)
    show = bool(progress) and sys.stderr.isatty()
    trainer = _core.UnigramTrainer(
        vocab_size=vocab_size - reserved, character_coverage=float(character_coverage),
        max_piece_length=max_piece_length, split_by_whitespace=bool(split_by_whitespace),
        split_by_unicode_script=bool(split_by_unicode_script), split_by_number=bool(split_by_number),
        split_digits=bool(split_digits), seed_size=seed_size, shrinking_factor=float(shrinking_factor),
        num_sub_iterations=num_sub_iterations, precompiled_charsmap=charsmap, add_dummy_prefix=bool(add_dummy_prefix),
        remove_extra_whitespaces=bool(remove_extra_whitespaces), cut_tokens=[p for p, _ in meta] + specials + users,
        max_sentences=max_sentences or 0, seed=seed, reserved_pieces=reserved)

    _count(trainer, files_or_iterable, threads, errors, show)
    pieces = _learn(trainer, threads, show)

    table: List[Tuple[str, float, int]] = [(p, 0.0, t) for p, t in meta]
    table += [(t, 0.0, CONTROL) for t in specials] + [(t, 0.0, USER_DEFINED) for t in users]
    if byte_fallback:
        table += [(f"<0x{b:02X}>", 0.0, BYTE) for b in range(256)]
    taken = {p for p, _, _ in table}
    table += [(p.decode("utf-8"), float(s), NORMAL) for p, s in pieces if p.decode("utf-8") not in taken]
    ids = {p: i for i, (p, _, _) in enumerate(table)}
    fields = {_T["character_coverage"]: float(character_coverage), _T["max_sentencepiece_length"]: max_piece_length,
              _T["split_by_unicode_script"]: bool(split_by_unicode_script),
              _T["split_by_whitespace"]: bool(split_by_whitespace), _T["split_by_number"]: bool(split_by_number),
              _T["split_digits"]: bool(split_digits), _T["seed_sentencepiece_size"]: seed_size,
              _T["shrinking_factor"]: float(shrinking_factor), _T["num_sub_iterations"]: num_sub_iterations,
              _T["unk_id"]: ids[unk_piece], _T["unk_piece"]: unk_piece}
    for key, piece in (("bos", bos_piece), ("eos", eos_piece), ("pad", pad_piece)):
        fields[_T[f"{key}_id"]] = ids[piece] if piece is not None else -1
        if piece is not None:
            fields[_T[f"{key}_piece"]] = piece
    if specials:
        fields[_T["control_symbols"]] = specials
    if users:
        fields[_T["user_defined_symbols"]] = users
    proto = build_proto(table, model_type="unigram", byte_fallback=byte_fallback, precompiled_charsmap=charsmap,
                        normalizer_name=norm_name, add_dummy_prefix=bool(add_dummy_prefix),
                        remove_extra_whitespaces=bool(remove_extra_whitespaces), escape_whitespaces=True,
                        trainer_fields=fields)
    return from_proto(proto, name=name or "unigram")


# ---------------------------------------------------------------------------------------------------- internals
def _check_int(what: str, v: Any, lo: int, hi: Optional[int] = None) -> None:
    if not isinstance(v, int) or isinstance(v, bool):
        raise TypeError(f"{what} must be an int, not {type(v).__name__}")
    if v < lo or (hi is not None and v > hi):
        raise ValueError(f"{what} must be " + (f"in [{lo}, {hi}]" if hi is not None else f">= {lo}") + f", not {v}")


def _check_pieces(unk: Any, bos: Any, eos: Any, pad: Any, specials: Any,
                  users: Any) -> Tuple[List[Tuple[str, int]], List[str], List[str]]:
    meta: List[Tuple[str, int]] = []
    for what, p in (("unk_piece", unk), ("bos_piece", bos), ("eos_piece", eos), ("pad_piece", pad)):
        if p is None and what != "unk_piece":
            continue
        if not isinstance(p, str) or not p:
            raise ValueError(f"{what} must be a non-empty string" + (" or None" if what != "unk_piece" else "")
                             + f", not {p!r}")
        meta.append((p, UNKNOWN if what == "unk_piece" else CONTROL))
    lists = []
    for what, v in (("special_tokens", specials), ("user_defined_symbols", users)):
        if isinstance(v, str):
            raise TypeError(f"{what} must be a list of strings, not a single string")
        out = list(v or ())
        for t in out:
            if not isinstance(t, str) or not t:
                raise ValueError(f"{what} must be non-empty strings, got {t!r}")
        lists.append(out)
    every = [p for p, _ in meta] + lists[0] + lists[1]
    dup = [t for t, n in Counter(every).items() if n > 1]
    if dup:
        raise ValueError(f"piece {dup[0]!r} is listed twice among the meta pieces, special tokens and user-defined "
                         "symbols")
    return meta, lists[0], lists[1]


def _charsmap(normalization: Any) -> Tuple[str, bytes]:
    if isinstance(normalization, (bytes, bytearray, memoryview)):
        blob = bytes(normalization)
        if blob:  # validated by building a normalizer from it (a malformed blob raises ValueError)
            _core.SpEncoder(build_proto([("<unk>", 0.0, UNKNOWN)], precompiled_charsmap=blob))
        return "user_defined", blob
    if normalization not in NORMALIZATIONS:
        raise ValueError(f"normalization must be one of {', '.join(NORMALIZATIONS)} or the bytes of a precompiled "
                         f"charsmap, not {normalization!r}")
    return str(normalization), bytes(_core.unigram_builtin_charsmap(normalization))


def _bar(enabled: bool, **kw: Any) -> Any:
    if not enabled:
        return None
    try:
        from tqdm.auto import tqdm
    except ImportError:  # pragma: no cover - tqdm is optional
        return None
    return tqdm(**kw)


def _texts(corpus: Any, errors: str) -> Tuple[Iterator[str], Optional[int]]:
    paths = _paths(corpus)
    if paths is not None:
        total = sum(p.stat().st_size for p in paths if p.is_file())
        return iter_text_chunks(paths, errors=errors), total
    if isinstance(corpus, (bytes, bytearray, memoryview)):
        raise TypeError("corpus must be a path, a list of paths or an iterable of str, not bytes")
    try:
        it: Iterable[Any] = iter(corpus)
    except TypeError:
        raise TypeError(f"corpus must be a path, a list of paths or an iterable of str, not {type(corpus).__name__}"
                        ) from None

    def items() -> Iterator[str]:
        for i, t in enumerate(it):
            if not isinstance(t, str):
                raise TypeError(f"corpus item {i} is {type(t).__name__}, expected str")
            yield t
    return items(), None


def _count(trainer: Any, corpus: Any, threads: int, errors: str, show: bool) -> None:
    src, total = _texts(corpus, errors)
    bar = _bar(show, total=total, unit="B", unit_scale=True, desc="counting words")
    limit = CHUNK_BYTES * max(1, threads)
    batch: List[Any] = []
    size = 0

    def flush() -> None:
        nonlocal batch, size
        try:
            trainer.add_texts(batch, threads)
        except UnicodeEncodeError:  # lone surrogates in a str: replaced, as the encoders do
            trainer.add_texts([t.encode("utf-8", "replace") for t in batch], threads)
        if bar is not None:
            bar.update(sum(len(t.encode("utf-8", "replace")) for t in batch))
        batch, size = [], 0

    try:
        for t in src:
            batch.append(t)
            size += len(t)
            if size >= limit:
                flush()
        if batch:
            flush()
    finally:
        if bar is not None:
            bar.close()


def _learn(trainer: Any, threads: int, show: bool) -> List[Tuple[bytes, float]]:
    bar = _bar(show, total=1, desc="EM rounds", unit="round")

    def report(stage: int, done: int, total: int) -> None:
        if stage == 1:
            bar.total = max(total, done)
            bar.update(done - bar.n)

    try:
        pieces: List[Tuple[bytes, float]] = trainer.train(threads, report if bar is not None else None)
    finally:
        if bar is not None:
            bar.close()
    return pieces
