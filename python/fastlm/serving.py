"""Serving helpers: a streaming decoder, token counting, and truncation at a token boundary.

They are attached to `Tokenizer` as methods (`tok.decode_stream()`, `tok.count(text)`,
`tok.count_till_limit(text, limit)`, `tok.truncate(text, max_tokens)`); this module holds the logic.

Streaming decode has two strategies, chosen per tokenizer by a `StreamRule`:

* concatenative decoders (byte-level BPE: decode(a + b) == decode(a) + decode(b) as bytes) append each token's
  bytes to an incremental UTF-8 decoder, which holds back a partial multi-byte sequence until it completes. O(1)
  per token.
* every other decoder (WordPiece "##" joins, Metaspace's leading-space rule, byte fallback, special tokens) is
  streamed by prefix diffing over a short window of ids: the text of the new ids is
  decode(context + new)[len(decode(context)):], in bytes, so a byte-fallback piece that ends inside a character
  needs no U+FFFD heuristics: the bytes go through the same incremental UTF-8 decoder. This is exact for any
  decoder whose output for a token depends on a bounded number of earlier tokens (`StreamRule.context`), which
  is how every HF decoder behaves (they transform token by token, with a rule for the first one).
  Rejected alternative: diffing decoded *strings* and holding back on a trailing U+FFFD; it cannot tell a real
  U+FFFD in the text from a partial sequence, and it breaks on invalid bytes.

Extension point: a family whose decoder can still change text it has already produced when more tokens arrive
(a join across tokens) registers a rule in `STREAM_RULES[kind]` (kind = `tok._state["kind"]`) with a `hold`
function that says how many trailing bytes to keep back; a `Tokenizer` subclass may instead override
`stream_rule()`.
"""
from __future__ import annotations

import codecs
from dataclasses import dataclass
from typing import TYPE_CHECKING, Callable, Dict, Iterable, Iterator, List, Optional, Sequence, Set

import numpy as np

if TYPE_CHECKING:  # pragma: no cover
    from .tokenizer import SpecialSet, Tokenizer


def _no_hold(decoded: bytes) -> int:
    return 0


@dataclass(frozen=True)
class StreamRule:
    """How a tokenizer's decoder behaves when ids arrive one at a time.

    concatenative: decode_bytes(a + b) == decode_bytes(a) + decode_bytes(b) for all id lists (byte-level BPE).
    context: ids kept before the new ones when prefix diffing (>= 1); enough for the decoder's output of a token
      to be the same as in the whole sequence.
    hold: given the decoded bytes of the window, how many trailing bytes a later token may still change; they
      are emitted only once a later call says they are stable (or at `finish()`).
    """

    concatenative: bool = False
    context: int = 4
    hold: Callable[[bytes], int] = _no_hold


BYTE_LEVEL = StreamRule(concatenative=True)
GENERIC = StreamRule()

# kind -> rule factory. "bpe" is fastlm's byte-level BPE (tiktoken ranks / GPT-2 files): it decodes by
# concatenating token bytes. Kinds not listed use GENERIC, which is exact for any per-token decoder.
STREAM_RULES: Dict[str, Callable[["Tokenizer"], StreamRule]] = {
    "bpe": lambda tok: BYTE_LEVEL,
}


def stream_rule(tok: "Tokenizer") -> StreamRule:
    factory = STREAM_RULES.get(str(tok._state.get("kind", "")))
    return factory(tok) if factory is not None else GENERIC


class DecodeStream:
    """Incremental decoder: `step(id)` returns the text that became complete ("" while bytes are held back).

    The concatenation of every `step` result and `finish()` equals `tok.decode(ids)` (with the same `errors`),
    minus the special tokens when `skip_special_tokens=True`::

        stream = tok.decode_stream()
        for token_id in generate():
            print(stream.step(token_id), end="", flush=True)
        print(stream.finish())
    """

    def __init__(self, tok: "Tokenizer", *, skip_special_tokens: bool = False, errors: str = "replace") -> None:
        codecs.lookup_error(errors)  # LookupError now, not at the first invalid byte
        self._tok = tok
        self._rule = tok.stream_rule()
        if self._rule.context < 1:
            raise ValueError(f"StreamRule.context must be >= 1, not {self._rule.context}")
        self._errors = errors
        self._skip: Set[int] = set(tok.special_tokens.values()) if skip_special_tokens else set()
        self._bound = tok.n_vocab
        self._token_bytes = tok._core.token_bytes
        self._decode = tok.decode_bytes
        self._rebase_at = self._rule.context + 4  # window length (ids) at which it is cut back to the context
        self.reset()

    def reset(self) -> None:
        """Forget everything (start a new sequence)."""
        self._utf8 = codecs.getincrementaldecoder("utf-8")(self._errors)
        self._window: List[int] = []  # context ids followed by ids whose text is (partly) pending
        self._base = b""  # decode_bytes(context ids)
        self._sent = 0  # bytes of decode(window)[len(base):] already passed to the UTF-8 decoder

    def _check(self, token: int) -> int:
        if isinstance(token, (bool, float)) or not isinstance(token, (int, np.integer)):
            raise TypeError(f"token ids are ints, not {type(token).__name__}")
        t = int(token)
        if not 0 <= t < self._bound:
            raise KeyError(f"unknown token id {t} (ids are below {self._bound})")
        return t

    def step(self, token: int) -> str:
        """Add one id; return the text that is now complete (possibly "")."""
        if self._rule.concatenative:
            if self._skip and self._check(token) in self._skip:
                return ""
            try:
                b = self._token_bytes(token)  # validated by the binding: the common case costs one call
            except TypeError:
                b = None
            if b is None:
                self._check(token)  # raises the TypeError / KeyError that says what is wrong
                raise KeyError(f"unknown token id {int(token)}")
            return self._utf8.decode(b)
        t = token if type(token) is int and 0 <= token < self._bound else self._check(token)
        if self._skip and t in self._skip:
            return ""
        w = self._window
        w.append(t)
        full = self._decode(w)
        base = self._base
        if full.startswith(base):
            new = full[len(base):]
        else:  # a decoder changed earlier text; what was emitted cannot be taken back, so go on from the change
            n = 0
            while n < len(base) and n < len(full) and base[n] == full[n]:
                n += 1
            new = full[n:]
            self._sent = min(self._sent, len(new))
        hold = self._rule.hold
        stable = len(new) if hold is _no_hold else max(self._sent, len(new) - max(0, hold(full)))
        out = self._utf8.decode(new[self._sent:stable])
        self._sent = stable
        # Once everything is emitted and the window has grown, the last ids become the context of what follows
        # (re-basing on every step would cost a second decode per id).
        if stable == len(new) and len(w) >= self._rebase_at:
            keep = w[-self._rule.context:]
            self._window = keep
            self._base = self._decode(keep)
            self._sent = 0
        return out

    def feed(self, tokens: Iterable[int]) -> str:
        """Add several ids; return the text that is now complete."""
        return "".join([self.step(t) for t in tokens])

    def stream(self, tokens: Iterable[int]) -> Iterator[str]:
        """Yield text pieces as ids arrive (empty pieces are skipped); flushes at the end."""
        for t in tokens:
            s = self.step(t)
            if s:
                yield s
        s = self.finish()
        if s:
            yield s

    def finish(self) -> str:
        """Return whatever is held back (an incomplete sequence becomes U+FFFD under errors='replace') and reset."""
        out = ""
        if not self._rule.concatenative and self._window:
            full = self._decode(self._window)
            new = full[len(self._base):] if full.startswith(self._base) else b""
            out = self._utf8.decode(new[self._sent:])
        out += self._utf8.decode(b"", final=True)
        self.reset()
        return out


# ---------------------------------------------------------------------------------------------- counting
def count(tok: "Tokenizer", text: str, *, allowed_special: "SpecialSet" = frozenset(),
          disallowed_special: "SpecialSet" = "all") -> int:
    """len(tok.encode(text)) without a Python int per token (the ids stay in a numpy array)."""
    if not isinstance(text, str):
        raise TypeError(f"count takes a str, not {type(text).__name__}")
    if (not allowed_special and not isinstance(allowed_special, str) and disallowed_special == "all"
            and tok._regex is None):
        try:  # the default call: one C++ call, the ids stay in C++ / numpy
            return int(tok._core.encode_numpy(text, None, tok._all_mask).size)
        except UnicodeEncodeError:
            pass  # lone surrogates: the general path repairs them as encode() does
    return int(tok.encode_to_numpy(text, allowed_special=allowed_special, disallowed_special=disallowed_special).size)


def count_till_limit(tok: "Tokenizer", text: str, limit: int, *, allowed_special: "SpecialSet" = frozenset(),
                     disallowed_special: "SpecialSet" = "all") -> Optional[int]:
    """The token count if it is at most `limit`, else None.

    Texts whose UTF-8 length is at most `limit` bytes for a byte-level tokenizer cannot exceed it and are counted
    directly; otherwise the whole text is encoded into a numpy array (no Python list) and compared.
    """
    if isinstance(limit, bool) or not isinstance(limit, int) or limit < 0:
        raise ValueError(f"limit must be an int >= 0, not {limit!r}")
    n = count(tok, text, allowed_special=allowed_special, disallowed_special=disallowed_special)
    return n if n <= limit else None


# ---------------------------------------------------------------------------------------------- truncation
def _fix(text: str) -> str:
    try:
        text.encode("utf-8")
        return text
    except UnicodeEncodeError:
        return text.encode("utf-16", "surrogatepass").decode("utf-16", "replace")


def _boundaries(tok: "Tokenizer", text: str, ids: Sequence[int], a: object, d: object) -> List[int]:
    """Code-point position in `text` after each token (len(ids) + 1 entries, the first 0). A token that ends
    inside a character gets -1: no cut there."""
    if tok.stream_rule().concatenative:
        data = np.frombuffer(text.encode("utf-8"), dtype=np.uint8)
        lead = (data & 0xC0) != 0x80  # character starts
        chars_before = np.concatenate([[0], np.cumsum(lead)])  # byte position -> code points before it
        lens = [len(tok._core.token_bytes(int(i)) or b"") for i in ids]
        pos = np.concatenate([[0], np.cumsum(lens)]).astype(np.int64)
        pos = np.minimum(pos, len(data))
        ok = np.append(lead, True)[pos]  # a cut at the end or before a character start
        return [int(chars_before[p]) if good else -1 for p, good in zip(pos.tolist(), ok.tolist())]
    _, starts, ends = tok._core.encode_with_offsets(text, a, d)
    st = starts.tolist()
    en = ends.tolist()
    n = len(st)
    # after token k-1 the cut is at its end, unless the next token starts before it (a split character)
    return [0] + [en[k] if k + 1 >= n or st[k + 1] >= en[k] else -1 for k in range(n)]


def truncate(tok: "Tokenizer", text: str, max_tokens: int, *, side: str = "right",
             allowed_special: "SpecialSet" = frozenset(), disallowed_special: "SpecialSet" = "all") -> str:
    """Cut `text` at a token boundary so that it encodes to at most `max_tokens` tokens.

    side="right" keeps the beginning, side="left" keeps the end. The result re-encodes to exactly the first
    (or last) tokens of the whole text's encoding: a cut that would re-tokenize differently (inside a word whose
    merges depend on what follows, or inside a character split across tokens) moves to an earlier boundary.
    """
    if isinstance(max_tokens, bool) or not isinstance(max_tokens, int) or max_tokens < 0:
        raise ValueError(f"max_tokens must be an int >= 0, not {max_tokens!r}")
    if side not in ("right", "left"):
        raise ValueError(f"side must be 'right' or 'left', not {side!r}")
    if not isinstance(text, str):
        raise TypeError(f"truncate takes a str, not {type(text).__name__}")
    text = _fix(text)
    opts = dict(allowed_special=allowed_special, disallowed_special=disallowed_special)
    ids = tok.encode(text, **opts)
    n = len(ids)
    if n <= max_tokens:
        return text
    a, d = tok._masks(allowed_special, disallowed_special)
    cuts = _boundaries(tok, text, ids, a, d)
    if side == "right":
        for k in range(max_tokens, 0, -1):
            c = cuts[k]
            if c < 0:
                continue
            head = text[:c]
            got = tok.encode(head, **opts)
            if len(got) <= max_tokens and got == ids[:len(got)]:
                return head
        return ""
    for k in range(n - max_tokens, n):
        c = cuts[k]
        if c < 0:
            continue
        # A token that carries its word's leading space (SentencePiece's "▁word") re-encodes the same
        # without that space when the tokenizer adds a dummy prefix, so the cut after the space is tried too.
        for start in ((c, c + 1) if c < len(text) and text[c].isspace() else (c,)):
            tail = text[start:]
            got = tok.encode(tail, **opts)
            if len(got) <= max_tokens and (not got or got == ids[n - len(got):]):
                return tail
    return ""
