"""The HF-style call, `tok(text, pair=None, ...)`: argument checks, encoding with offsets, truncation with
overflow, the post-processor, then padding; and the pad-token defaults of `enable_padding`.

`Tokenizer.__call__` and `Tokenizer.enable_padding` keep their signatures and docstrings in tokenizer.py and
delegate here; the Encoding type and the padding / truncation rules themselves live in encoding.py. The functions
take the Tokenizer as their first argument, as serving.py's do (a mixin base class was the alternative: it would
have to redeclare the half-dozen Tokenizer attributes it reads for mypy, and move the public signatures out of
tokenizer.py, where readers look for them).
"""
from __future__ import annotations

import functools
from typing import TYPE_CHECKING, Any, List, Optional, Sequence, Tuple, Union

from .encoding import (UNSET, BatchEncoding, Encoding, PaddingParams, TruncationParams, assemble, pad_for_call,
                       truncated_lengths, truncation_for_call, window)
from .tokenizer import _fix_surrogates, _threads

if TYPE_CHECKING:  # pragma: no cover
    from .tokenizer import Tokenizer

# Looked for in this order when no pad token is named (tok.pad_token, enable_padding(pad_token=...)).
_PAD_TOKENS = ("[PAD]", "<pad>", "<|padding|>", "<|endoftext|>")


def call(
    tok: "Tokenizer",
    text: Union[str, Sequence[str]],
    pair: Union[str, Sequence[str], None],
    *,
    add_special_tokens: bool,
    padding: Union[bool, str, None],
    truncation: Union[bool, str, None],
    max_length: Optional[int],
    stride: int,
    pad_to_multiple_of: Optional[int],
    padding_side: Optional[str],
    num_threads: Optional[int],
) -> Union[Encoding, BatchEncoding]:
    """`tok(text, pair, ...)`; the options are described on Tokenizer.__call__."""
    if padding_side not in (None, "right", "left"):
        raise ValueError(f"padding_side must be 'right' or 'left', not {padding_side!r}")
    if not isinstance(stride, int) or isinstance(stride, bool) or stride < 0:
        raise ValueError(f"stride must be an int >= 0, not {stride!r}")
    trunc = truncation_for_call(tok.truncation, _strategy(truncation) if truncation is not None else None,
                                truncation is None, max_length, stride)
    single = isinstance(text, str)
    pairs: Optional[List[str]] = None
    if isinstance(text, str):
        if pair is not None and not isinstance(pair, str):
            raise TypeError("pair must be a str when text is a str")
        texts = [text]
        pairs = [pair] if isinstance(pair, str) else None
    else:
        texts = tok._check_texts(text)
        if pair is not None:
            pairs = tok._check_texts(pair)
            if len(pairs) != len(texts):
                raise ValueError(f"got {len(texts)} texts but {len(pairs)} pairs")
    encs = _encode_many(tok, texts, pairs, add_special_tokens, trunc, 1 if single else num_threads)
    pad_for_call(encs, tok.padding, padding, max_length, pad_to_multiple_of, padding_side,
                 functools.partial(_pad_id, tok))
    return encs[0] if single else BatchEncoding(encs)


def padding_setting(tok: "Tokenizer", *, length: Optional[int], direction: str, pad_id: Optional[int],
                    pad_type_id: int, pad_token: Optional[str], pad_to_multiple_of: Optional[int]) -> PaddingParams:
    """The PaddingParams of `enable_padding`: the pad token defaults to the tokenizer's, its id to the token's."""
    if pad_token is None:
        pad_token = tok.pad_token or next((t for t in _PAD_TOKENS if tok.token_to_id(t) is not None), "[PAD]")
    if pad_id is None:
        found = tok.token_to_id(pad_token)
        if found is None:
            raise ValueError(f"padding needs a pad token: {pad_token!r} is not in the vocabulary (pass pad_id= "
                             "and pad_token=)")
        pad_id = found
    return PaddingParams(length=length, direction=direction, pad_to_multiple_of=pad_to_multiple_of, pad_id=pad_id,
                         pad_type_id=pad_type_id, pad_token=pad_token)


def _strategy(truncation: Union[bool, str, None]) -> Optional[str]:
    if truncation in (False, None, "do_not_truncate"):
        return None
    if truncation is True:
        return "longest_first"
    if truncation in ("longest_first", "only_first", "only_second"):
        return str(truncation)
    raise ValueError(f"truncation must be True, False, 'longest_first', 'only_first', 'only_second' or "
                     f"'do_not_truncate', not {truncation!r}")


def _pad_id(tok: "Tokenizer") -> int:
    """The pad id of a call that pads without a padding setting (asked only when padding happens)."""
    for t in ([tok.pad_token] if tok.pad_token else []) + list(_PAD_TOKENS):
        if t in tok._special_tokens:
            return tok._special_tokens[t]
        i = tok._core.token_to_id(t)
        if i is not None:
            return int(i)
    raise ValueError("padding needs a pad token: this tokenizer has none (set tok.pad_token = '<token>')")


def _raw_with_offsets(tok: "Tokenizer", texts: List[str], num_threads: Optional[int]) -> List[Any]:
    try:
        return tok._core.encode_batch_with_offsets(texts, None, None, _threads(num_threads))
    except UnicodeEncodeError:
        return tok._core.encode_batch_with_offsets([_fix_surrogates(t) for t in texts], None, None,
                                                    _threads(num_threads))


def _encode_many(tok: "Tokenizer", texts: List[str], pairs: Optional[List[str]], add_special_tokens: bool,
                 trunc: Optional[TruncationParams], num_threads: Optional[int]) -> List[Encoding]:
    raw = _raw_with_offsets(tok, texts + (pairs or []), num_threads)
    n = len(texts)
    token_text = functools.partial(_hf_token, tok)
    return [_assemble(tok, raw[i], raw[n + i] if pairs is not None else None, add_special_tokens, trunc, token_text)
            for i in range(n)]


def _assemble(tok: "Tokenizer", a: Tuple[Any, ...], b: Optional[Tuple[Any, ...]], add_special_tokens: bool,
              trunc: Optional[TruncationParams], token_text: Any) -> Encoding:
    """Model output of A (and B) -> truncation with overflow -> post-processor, in the order and with the
    overflow semantics of HF tokenizers (`truncate_encodings`, `Encoding::truncate`, `Encoding::merge_with`)."""
    ids_a = a[0].tolist()
    off_a = list(zip(a[1].tolist(), a[2].tolist()))
    ids_b = b[0].tolist() if b is not None else None
    off_b = list(zip(b[1].tolist(), b[2].tolist())) if b is not None else None
    post = tok.post_processor
    n_added = post.num_special_tokens(ids_b is not None) if post is not None and add_special_tokens else 0
    strategy = trunc.strategy if trunc is not None else None
    max_length = trunc.max_length if trunc is not None else None
    stride = trunc.stride if trunc is not None else 0
    side = trunc.direction if trunc is not None else "right"
    len_a, len_b = truncated_lengths(len(ids_a), None if ids_b is None else len(ids_b), strategy, max_length,
                                     n_added)
    parts = [window(ids_a, off_a, len_a, stride, UNSET, 0, side)]
    if ids_b is not None and off_b is not None:
        parts.append(window(ids_b, off_b, len_b, stride, UNSET, 1, side))
    return assemble(parts, post, add_special_tokens, token_text)


def _hf_token(tok: "Tokenizer", id: int) -> str:
    """The token's string as HF spells it (byte-level BPE tokens in the printable byte alphabet); cached on the
    tokenizer, as offset trimming asks for every token of every encoding."""
    cache = tok.__dict__.setdefault("_hf_tokens", {})
    t = cache.get(id)
    if t is None:
        b = tok._core.token_bytes(int(id))
        if b is None:
            t = ""
        elif int(id) not in tok._special_ids and tok._state.get("kind") in ("bpe", "hf_bpe"):
            from .formats.bytelevel import bytes_to_token

            t = bytes_to_token(bytes(b))
        else:
            t = bytes(b).decode("utf-8", "replace")
        if len(cache) < 1 << 18:
            cache[id] = t
    return str(t)
