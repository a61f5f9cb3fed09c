"""The Tokenizer: tiktoken-style methods (encode/encode_batch/decode) and HF-style calls (pairs, offsets, padding).

A Tokenizer wraps a `_core.Tokenizer` (special tokens + an algorithm's encoder, all in C++). Python holds the
rules: option names, defaults, validation and messages. The steps of the HF-style call (argument checks,
offsets, truncation, post-processor, padding) are in _call.py.

Conventions (DESIGN.md):
* `encode(text)` returns the model's ids with NO post-processing (no BOS/EOS, no [CLS]/[SEP]), like tiktoken.
* `tok(text, pair=None, ...)` applies the post-processor and returns an `Encoding`.
* Special tokens in user text are NOT parsed unless allowed (`allowed_special`), and by default text that looks
  like a special token raises ValueError (`disallowed_special="all"`), as tiktoken does.
"""
from __future__ import annotations

import os
from typing import (TYPE_CHECKING, AbstractSet, Any, Collection, Dict, Iterable, List, Literal, Optional, Sequence,
                    Set, Tuple, Union, cast)

import numpy as np

from . import _core, _custom_pattern
from .encoding import BatchEncoding, Encoding, PaddingParams, TruncationParams
from .postprocess import PostProcessor

if TYPE_CHECKING:  # pragma: no cover
    from .serving import DecodeStream, StreamRule

SpecialSet = Union[Literal["all"], AbstractSet[str], Collection[str]]
TextInput = Union[str, bytes]


_NO_SPECIALS: AbstractSet[str] = frozenset()


def _fix_surrogates(text: str) -> str:
    # Same rule as tiktoken: re-encode through UTF-16 so paired surrogates merge and lone ones become U+FFFD.
    return text.encode("utf-16", "surrogatepass").decode("utf-16", "replace")


def _threads(num_threads: Optional[int]) -> int:
    if num_threads is None:
        return 0  # all cores
    if not isinstance(num_threads, int) or num_threads < 1:
        raise ValueError(f"num_threads must be a positive int or None, not {num_threads!r}")
    return num_threads


class Tokenizer:
    """A tokenizer over the C++ core. Build one with `fastlm.load(path)`, a `from_*` constructor or `fastlm.train`."""

    def __init__(
        self,
        core: "_core.Tokenizer",
        *,
        name: str = "",
        pattern: Optional[str] = None,
        post_processor: Optional[PostProcessor] = None,
        state: Optional[Dict[str, Any]] = None,
        pad_token: Optional[str] = None,
    ) -> None:
        self._core = core
        self.name = name
        self.pattern = pattern
        self.post_processor = post_processor
        # HF-style settings applied by __call__ when the call passes no truncation / padding option
        # (a tokenizer.json's "truncation" and "padding" sections)
        self.truncation: Optional[TruncationParams] = None
        self.padding: Optional[PaddingParams] = None
        self._state = state or {}
        specials = core.specials
        self._special_tokens: Dict[str, int] = dict(specials)
        self._special_ids: Set[int] = set(self._special_tokens.values())
        self._special_order = [t for t, _ in specials]
        self._all_mask = b"\x01" * len(specials) if specials else None
        self._regex: Any = None
        # HF Split(Isolated) keeps the text between matches as pieces; tiktoken's findall drops it. Files loaded
        # from tokenizer.json set this, so a pattern that does not match every character loses no text there.
        self._split_gaps = bool(self._state.get("split_gaps"))
        if pattern is not None and self._state.get("scanner") is None and self._state.get("kind") == "bpe":
            try:
                import regex
            except ImportError:  # pragma: no cover - regex is a test extra
                raise ImportError(
                    "a custom pre-tokenizer pattern needs the `regex` module: pip install regex "
                    "(the built-in r50k/p50k/cl100k/o200k patterns do not)"
                ) from None
            try:
                self._regex = regex.compile(pattern)
            except regex.error as e:  # not a ValueError subclass: callers are promised ValueError
                raise ValueError(f"invalid pre-tokenizer pattern {pattern[:200]!r}: {e}") from None
        self.pad_token = pad_token

    # ------------------------------------------------------------------ properties
    @property
    def special_tokens(self) -> Dict[str, int]:
        return dict(self._special_tokens)

    @property
    def special_tokens_set(self) -> Set[str]:
        return set(self._special_tokens)

    @property
    def n_vocab(self) -> int:
        """Max token id + 1 (tiktoken's name)."""
        return int(self._core.id_bound)

    @property
    def vocab_size(self) -> int:
        """Number of tokens, special tokens included."""
        enc = self._core.encoder
        bound, n = int(enc.id_bound), int(enc.vocab_size)
        model: Any = getattr(enc, "model", None)

        def in_vocab(i: int) -> bool:  # BERT's [CLS] is a vocabulary entry; p50k's <|endoftext|> fills a rank gap
            if i >= bound:
                return False
            if n == bound or not hasattr(model, "token_bytes"):
                return True
            return model.token_bytes(i) is not None

        # special tokens that are also vocabulary entries are counted once
        return n + sum(1 for i in set(self._special_tokens.values()) if not in_vocab(i))

    @property
    def model_type(self) -> str:
        return str(self._core.encoder.type)

    @property
    def eot_token(self) -> int:
        for t in ("<|endoftext|>", "</s>", "[SEP]", "<eos>"):
            if t in self._special_tokens:
                return self._special_tokens[t]
        raise AttributeError("this tokenizer has no end-of-text token")

    def token_to_id(self, token: Union[str, bytes]) -> Optional[int]:
        return cast(Optional[int], self._core.token_to_id(token))

    def id_to_token(self, id: int) -> Optional[str]:
        b = self._core.token_bytes(int(id))
        return None if b is None else b.decode("utf-8", errors="replace")

    def decode_single_token_bytes(self, token: int) -> bytes:
        b = self._core.token_bytes(int(token))
        if b is None:
            raise KeyError(f"unknown token id {token} (ids are below {self.n_vocab})")
        return bytes(b)

    # ------------------------------------------------------------------ special-token masks
    def _masks(self, allowed_special: SpecialSet, disallowed_special: SpecialSet) -> Tuple[Optional[bytes], Optional[bytes]]:
        if not self._special_order:
            return None, None
        if disallowed_special == "all" and not allowed_special and not isinstance(allowed_special, str):
            return None, self._all_mask  # the default, on every call: keep it cheap
        if allowed_special == "all":
            allowed = set(self._special_order)
        else:
            if isinstance(allowed_special, str):
                raise TypeError("allowed_special must be 'all' or a set of strings, not a single string")
            allowed = set(allowed_special)
        if disallowed_special == "all":
            disallowed = set(self._special_order) - allowed
        else:
            if isinstance(disallowed_special, str):
                raise TypeError("disallowed_special must be 'all' or a set of strings, not a single string")
            disallowed = set(disallowed_special)
        if not allowed and disallowed >= set(self._special_order):
            return None, self._all_mask
        am = bytes(1 if t in allowed else 0 for t in self._special_order) if allowed else None
        dm = bytes(1 if t in disallowed else 0 for t in self._special_order) if disallowed else None
        return am, dm

    # ------------------------------------------------------------------ tiktoken-style encoding
    def encode(
        self,
        text: str,
        *,
        allowed_special: SpecialSet = _NO_SPECIALS,
        disallowed_special: SpecialSet = "all",
    ) -> List[int]:
        """Encode text to the model's ids (no post-processing). Raises ValueError on a disallowed special token."""
        if allowed_special is _NO_SPECIALS and disallowed_special == "all" and self._regex is None:
            try:  # the default call, kept to one C++ call (short texts are dominated by per-call overhead)
                return self._core.encode(text, None, self._all_mask)  # type: ignore[no-any-return]
            except UnicodeEncodeError:
                return self._core.encode(_fix_surrogates(text), None, self._all_mask)  # type: ignore[no-any-return]
        a, d = self._masks(allowed_special, disallowed_special)
        if self._regex is not None:
            return _custom_pattern.encode(self, text, a, d)
        try:
            return self._core.encode(text, a, d)  # type: ignore[no-any-return]
        except UnicodeEncodeError:
            return self._core.encode(_fix_surrogates(text), a, d)  # type: ignore[no-any-return]

    def encode_ordinary(self, text: str) -> List[int]:
        """Encode text with special tokens treated as plain text."""
        if self._regex is not None:
            return _custom_pattern.encode(self, text, None, None)
        try:
            return self._core.encode(text, None, None)  # type: ignore[no-any-return]
        except UnicodeEncodeError:
            return self._core.encode(_fix_surrogates(text), None, None)  # type: ignore[no-any-return]

    def encode_bytes(self, data: bytes) -> List[int]:
        """Encode raw bytes (may be invalid UTF-8) as ordinary text. `decode_bytes` restores them exactly."""
        if not isinstance(data, (bytes, bytearray, memoryview)):
            raise TypeError(f"encode_bytes takes bytes, not {type(data).__name__}")
        data = bytes(data)
        if self._regex is not None:
            return _custom_pattern.encode(self, data.decode("utf-8", "surrogateescape"), None, None)
        return self._core.encode(data, None, None)  # type: ignore[no-any-return]

    def encode_to_numpy(self, text: str, *, allowed_special: SpecialSet = frozenset(),
                        disallowed_special: SpecialSet = "all") -> np.ndarray:
        """Like encode, but returns a uint32 numpy array (no Python int per token)."""
        if self._regex is not None:
            return np.asarray(self.encode(text, allowed_special=allowed_special, disallowed_special=disallowed_special),
                              dtype=np.uint32)
        a, d = self._masks(allowed_special, disallowed_special)
        try:
            return self._core.encode_numpy(text, a, d)
        except UnicodeEncodeError:
            return self._core.encode_numpy(_fix_surrogates(text), a, d)

    def encode_batch(
        self,
        texts: Sequence[str],
        *,
        num_threads: Optional[int] = None,
        allowed_special: SpecialSet = frozenset(),
        disallowed_special: SpecialSet = "all",
    ) -> List[List[int]]:
        """Encode many texts on C++ threads (GIL released). num_threads=None uses every core."""
        texts = self._check_texts(texts)
        a, d = self._masks(allowed_special, disallowed_special)
        if self._regex is not None:
            return [self.encode(t, allowed_special=allowed_special, disallowed_special=disallowed_special) for t in texts]
        try:
            return self._core.encode_batch(texts, a, d, _threads(num_threads))
        except UnicodeEncodeError:
            return self._core.encode_batch([_fix_surrogates(t) for t in texts], a, d, _threads(num_threads))

    def encode_ordinary_batch(self, texts: Sequence[str], *, num_threads: Optional[int] = None) -> List[List[int]]:
        return self.encode_batch(texts, num_threads=num_threads, disallowed_special=())

    def encode_batch_to_numpy(
        self,
        texts: Sequence[str],
        *,
        num_threads: Optional[int] = None,
        allowed_special: SpecialSet = frozenset(),
        disallowed_special: SpecialSet = "all",
    ) -> Tuple[np.ndarray, np.ndarray]:
        """Encode a batch to (ids: uint32[N], offsets: int64[len(texts) + 1]); document i is ids[offsets[i]:offsets[i+1]]."""
        texts = self._check_texts(texts)
        a, d = self._masks(allowed_special, disallowed_special)
        if self._regex is not None:
            lists = self.encode_batch(texts, allowed_special=allowed_special, disallowed_special=disallowed_special)
            offs = np.zeros(len(lists) + 1, dtype=np.int64)
            np.cumsum([len(x) for x in lists], out=offs[1:])
            flat = np.fromiter((i for x in lists for i in x), dtype=np.uint32, count=int(offs[-1]))
            return flat, offs
        try:
            return self._core.encode_batch_flat(texts, a, d, _threads(num_threads))
        except UnicodeEncodeError:
            return self._core.encode_batch_flat([_fix_surrogates(t) for t in texts], a, d, _threads(num_threads))

    @staticmethod
    def _check_texts(texts: Sequence[str]) -> List[str]:
        if isinstance(texts, (str, bytes)):
            raise TypeError("encode_batch takes a list of texts; for one text use encode()")
        # A copy that holds a reference to every text while the core encodes them without the GIL (another thread
        # may change the caller's list meanwhile). The core checks the item types as it reads them, raising
        # TypeError("texts[i] is T, expected str"); a pass here cost ~3% of an 84K-line batch.
        return list(texts)

    # ------------------------------------------------------------------ decoding
    def decode_bytes(self, tokens: Union[Sequence[int], np.ndarray]) -> bytes:
        """Decode ids to bytes. Unknown ids raise KeyError."""
        return self._core.decode_bytes(tokens)

    def decode(self, tokens: Union[Sequence[int], np.ndarray], errors: str = "replace", *,
               skip_special_tokens: bool = False) -> str:
        """Decode ids to text; invalid UTF-8 is handled by `errors` (as in bytes.decode).

        `skip_special_tokens=True` drops special-token ids first (HF's decode option); by default they are kept
        as their text, as tiktoken does.
        """
        if skip_special_tokens and self._special_tokens:
            tokens = [t for t in (tokens.tolist() if isinstance(tokens, np.ndarray) else tokens)
                      if not self._is_special_id(int(t))]
        return self._core.decode_bytes(tokens).decode("utf-8", errors=errors)

    def _is_special_id(self, t: int) -> bool:
        """A special token's id, or an id whose token is spelled like a special token (HF skips by spelling: a
        vocabulary that lists "</s>" twice has both ids skipped)."""
        if t in self._special_ids:
            return True
        cache = self.__dict__.setdefault("_spelled_special", {})
        hit = cache.get(t)
        if hit is None:
            b = self._core.token_bytes(t)
            hit = b is not None and bytes(b).decode("utf-8", "replace") in self._special_tokens
            if len(cache) < 65536:
                cache[t] = hit
        return bool(hit)

    def decode_batch(self, batch: Sequence[Sequence[int]], errors: str = "replace", *,
                     skip_special_tokens: bool = False) -> List[str]:
        return [self.decode(t, errors=errors, skip_special_tokens=skip_special_tokens) for t in batch]

    # ------------------------------------------------------------------ serving helpers (serving.py)
    def stream_rule(self) -> "StreamRule":
        """How `decode_stream` decodes this tokenizer's ids incrementally (see fastlm.serving)."""
        from .serving import stream_rule

        return stream_rule(self)

    def decode_stream(self, *, skip_special_tokens: bool = False, errors: str = "replace") -> "DecodeStream":
        """A streaming decoder: `step(id)` returns text as soon as it is complete UTF-8 (see fastlm.serving)."""
        from .serving import DecodeStream

        return DecodeStream(self, skip_special_tokens=skip_special_tokens, errors=errors)

    def count(self, text: str, *, allowed_special: SpecialSet = frozenset(),
              disallowed_special: SpecialSet = "all") -> int:
        """len(self.encode(text)) without building the id list."""
        from .serving import count

        return count(self, text, allowed_special=allowed_special, disallowed_special=disallowed_special)

    def count_till_limit(self, text: str, limit: int, *, allowed_special: SpecialSet = frozenset(),
                         disallowed_special: SpecialSet = "all") -> Optional[int]:
        """The number of tokens if it is at most `limit`, else None."""
        from .serving import count_till_limit

        return count_till_limit(self, text, limit, allowed_special=allowed_special,
                                disallowed_special=disallowed_special)

    def truncate(self, text: str, max_tokens: int, *, side: str = "right", allowed_special: SpecialSet = frozenset(),
                 disallowed_special: SpecialSet = "all") -> str:
        """Cut text at a token boundary so it encodes to at most max_tokens tokens (side='left' keeps the end)."""
        from .serving import truncate

        return truncate(self, text, max_tokens, side=side, allowed_special=allowed_special,
                        disallowed_special=disallowed_special)

    # ------------------------------------------------------------------ HF-style call
    def __call__(
        self,
        text: Union[str, Sequence[str]],
        pair: Union[str, Sequence[str], None] = None,
        *,
        add_special_tokens: bool = True,
        padding: Union[bool, str, None] = None,
        truncation: Union[bool, str, None] = None,
        max_length: Optional[int] = None,
        stride: int = 0,
        pad_to_multiple_of: Optional[int] = None,
        padding_side: Optional[str] = None,
        num_threads: Optional[int] = None,
    ) -> Union[Encoding, BatchEncoding]:
        """HF-style encoding with the post-processor, offsets, attention mask, and optional padding/truncation.

        A str gives an `Encoding`; a list of str gives a `BatchEncoding`. Special tokens in the text are not parsed.
        truncation: True/'longest_first', 'only_first', 'only_second' (needs max_length, which counts the special
        tokens the post-processor adds). What is cut goes to `Encoding.overflowing` in windows of the kept length
        that overlap by `stride` tokens, exactly as HF tokenizers does. padding: True/'longest', 'max_length'
        (with pad_to_multiple_of); overflowing encodings are padded too. With truncation / padding left at None the
        tokenizer's own settings apply (`tok.truncation`, `tok.padding`: a tokenizer.json's sections, or
        `enable_truncation` / `enable_padding`); False turns them off for the call.
        """
        from ._call import call

        return call(self, text, pair, add_special_tokens=add_special_tokens, padding=padding, truncation=truncation,
                    max_length=max_length, stride=stride, pad_to_multiple_of=pad_to_multiple_of,
                    padding_side=padding_side, num_threads=num_threads)

    # ------------------------------------------------------------------ truncation / padding settings
    def enable_truncation(self, max_length: int, *, stride: int = 0, strategy: str = "longest_first",
                          direction: str = "right") -> None:
        """Truncate every HF-style call that passes no truncation option (HF `enable_truncation`)."""
        self.truncation = TruncationParams(max_length=max_length, stride=stride, strategy=strategy, direction=direction)

    def no_truncation(self) -> None:
        self.truncation = None

    def enable_padding(self, *, length: Optional[int] = None, direction: str = "right", pad_id: Optional[int] = None,
                       pad_type_id: int = 0, pad_token: Optional[str] = None,
                       pad_to_multiple_of: Optional[int] = None) -> None:
        """Pad every HF-style call that passes no padding option (HF `enable_padding`): to `length`, or to the
        longest encoding of the batch when length is None. The pad token defaults to the tokenizer's."""
        from ._call import padding_setting

        self.padding = padding_setting(self, length=length, direction=direction, pad_id=pad_id,
                                       pad_type_id=pad_type_id, pad_token=pad_token,
                                       pad_to_multiple_of=pad_to_multiple_of)

    def no_padding(self) -> None:
        self.padding = None

    # ------------------------------------------------------------------ persistence
    def __reduce__(self) -> Tuple[Any, ...]:
        from .pipelines import reduce_tokenizer

        return reduce_tokenizer(self)

    def _state_for_pickle(self) -> Dict[str, Any]:
        if "hf_json" in self._state:  # loaded from a tokenizer.json: the file is the state
            return {"kind": "hf_json", "hf_json": self._state["hf_json"], "name": self.name}
        st = dict(self._state)
        st.setdefault("name", self.name)
        if st.get("kind") == "bpe" and ("gpt2" in st or "gpt2_model" in st):
            from .formats.gpt2 import model_content

            st.pop("gpt2", None)  # file paths: a worker on another machine cannot read them
            st["gpt2_model"] = model_content(cast("_core.BpeEncoder", self._core.encoder).model)
        elif st.get("kind") == "bpe" and "ranks" not in st and "path" not in st:
            st["ranks_tiktoken"] = _core.format_tiktoken(cast("_core.BpeEncoder", self._core.encoder).model)
        return st

    def save(self, path: Union[str, os.PathLike[str]]) -> None:
        """Save atomically. `*.tiktoken` writes tiktoken ranks; anything else writes HF tokenizer.json, which
        `tokenizers.Tokenizer.from_file` and `transformers.PreTrainedTokenizerFast(tokenizer_file=...)` read."""
        if os.fspath(path).endswith(".tiktoken"):
            self.save_tiktoken(path)
            return
        from .formats import hf_json

        hf_json.save(self, path)

    def to_json(self) -> Dict[str, Any]:
        """The tokenizer.json object (what `save` writes)."""
        from .formats import hf_json

        return hf_json.to_obj(self)

    def to_hf(self) -> Any:
        """This tokenizer as a `tokenizers.Tokenizer` (through its tokenizer.json form)."""
        from .formats import hf_json

        return hf_json.to_hf(self)

    @classmethod
    def from_hf(cls, hf_tokenizer: Any) -> "Tokenizer":
        """A fastlm Tokenizer from a `tokenizers.Tokenizer` or a transformers fast tokenizer (through its
        tokenizer.json form): same ids, offsets, type ids and special tokens."""
        from .formats import hf_json

        return hf_json.from_hf(hf_tokenizer)

    def save_tiktoken(self, path: Union[str, os.PathLike[str]]) -> None:
        """Write the ranks as a .tiktoken file (atomically). Only for byte-level BPE with the tiktoken merge rule."""
        from ._io import atomic_write_bytes

        if self.model_type != "BPE":
            raise ValueError(f"a .tiktoken file holds byte-level BPE ranks; this is a {self.model_type} tokenizer")
        atomic_write_bytes(path, _core.format_tiktoken(cast("_core.BpeEncoder", self._core.encoder).model))

    def __repr__(self) -> str:
        return f"<fastlm.Tokenizer {self.name or self.model_type} vocab={self.vocab_size}>"

    # ------------------------------------------------------------------ constructors
    @classmethod
    def from_tiktoken(cls, path: Union[str, os.PathLike[str]], *, pattern: Optional[str] = None,
                      special_tokens: Optional[Dict[str, int]] = None, name: Optional[str] = None) -> "Tokenizer":
        """Load a .tiktoken rank file. Published names (r50k/p50k/cl100k/o200k_base) get their pattern and special
        tokens; any other file needs `pattern=`."""
        from .formats.tiktoken import load_tiktoken

        return load_tiktoken(path, pattern=pattern, special_tokens=special_tokens, name=name)

    @classmethod
    def from_ranks(cls, ranks: Dict[bytes, int], *, pattern: str, special_tokens: Optional[Dict[str, int]] = None,
                   name: str = "") -> "Tokenizer":
        """Build from a {token bytes: rank} dict and a pattern (name or regex), like `tiktoken.Encoding`."""
        from .formats.tiktoken import from_ranks

        return from_ranks(ranks, pattern=pattern, special_tokens=special_tokens, name=name)

    @classmethod
    def from_gpt2(cls, encoder_json: Union[str, os.PathLike[str]], vocab_bpe: Union[str, os.PathLike[str]], *,
                  special_tokens: Optional[Dict[str, int]] = None) -> "Tokenizer":
        """Load GPT-2 `encoder.json` (HF: vocab.json) + `vocab.bpe` (HF: merges.txt)."""
        from .formats.gpt2 import load_gpt2

        return load_gpt2(encoder_json, vocab_bpe, special_tokens=special_tokens)

