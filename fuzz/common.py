"""Shared pieces of the fuzz harnesses: the target registry, input decoding, the tokenizers under test.

A target is one function `fn(data: bytes) -> None`, registered with `@target("name")`. It raises on a bug: any
exception other than the typed errors a caller is promised (ValueError / TypeError / OSError / KeyError), or an
AssertionError from a property check. The same function runs under atheris (fuzz/run.py), in the regression
replay (tests/test_fuzz_regressions.py) and on the committed seed corpus (fuzz/corpus/<name>/).

Adding a component (a new loader, encoder or normalizer): write one function in targets_*.py, decorate it, and
drop a few seed files into fuzz/corpus/<name>/ (or let fuzz/make_seeds.py write them).
"""
from __future__ import annotations

import functools
import os
import tempfile
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Tuple

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data"
CORPUS = ROOT / "fuzz" / "corpus"
REGRESSIONS = ROOT / "fuzz" / "regressions"

# What a caller is promised on bad input. Anything else escaping a public call is a bug.
EXPECTED = (ValueError, TypeError, OSError, KeyError)


class Target:
    def __init__(self, name: str, fn: Callable[[bytes], None], needs: Tuple[str, ...], max_len: int) -> None:
        self.name, self.fn, self.needs, self.max_len = name, fn, needs, max_len

    def available(self) -> Optional[str]:
        """None if the target can run here, else why not (a missing data file or module)."""
        for n in self.needs:
            if n.startswith("data:"):
                if not (DATA / n[5:]).exists():
                    return f"missing {DATA / n[5:]}"
            else:
                try:
                    __import__(n)
                except ImportError:
                    return f"module {n} is not installed"
        return None


TARGETS: Dict[str, Target] = {}


def target(name: str, *, needs: Tuple[str, ...] = (), max_len: int = 4096) -> Callable[[Callable[[bytes], None]], Callable[[bytes], None]]:
    def deco(fn: Callable[[bytes], None]) -> Callable[[bytes], None]:
        TARGETS[name] = Target(name, fn, needs, max_len)
        return fn
    return deco


# ---------------------------------------------------------------------------------------------- input decoding
# Snippets that tokenizers treat specially; mode 2 below strings them together, so the fuzzer reaches these cases
# in a few mutations instead of having to discover multi-byte UTF-8 sequences one bit at a time.
SNIPPETS: List[str] = [
    " ", "  ", "\t", "\n", "\r\n", "\r", "\x0b", "\x0c", "\x85", "\u2028", "\u3000", "\u00a0", "\ufeff", "\x00",
    "\x01", "\x7f", "a", "Z", "hello", "World", "é", "e\u0301", "\u0300\u0301\u0302", "ß", "İ", "ﬁ", "Ⅻ", "①",
    "日本語", "한국어", "ไทย", "مرحبا", "שלום", "😀", "👩‍👩‍👧", "🏳️‍🌈", "'s", "'S", "'ll", "'VE", "1", "123", "4567",
    "١٢٣", "²", ".", ",", "!", "?", "...", "/", "\\", "-", "_", "(", ")", "[", "]", "{", "}", "<", ">", "|",
    "<|endoftext|>", "<|fim_prefix|>", "<s>", "</s>", "<unk>", "[CLS]", "[SEP]", "[UNK]", "[MASK]", "[PAD]",
    "▁", "▁▁", "##", "##s", "Ġ", "\u200b", "\u200d", "\u2063", "\ue000", "\uffff", "\U0010ffff", "\ud800",
    "\udfff", "\ud83d\ude00", "\U000e0001", "\u0345", "\u0f73", "ǅ", "ǈ", "ﷺ", "〆", "〇", "Ⓐ", "㍿",
]


def text_of(data: bytes) -> str:
    """A deterministic str from fuzz bytes. The first byte picks how the rest is read:
    0 UTF-8 (invalid bytes -> U+FFFD), 1 code points from 3-byte groups (any scalar, lone surrogates included),
    2 a string of SNIPPETS picked by each byte, 3 Latin-1 (every byte one code point)."""
    if not data:
        return ""
    mode, rest = data[0] % 4, data[1:]
    if mode == 0:
        return rest.decode("utf-8", "replace")
    if mode == 1:
        return "".join(chr(int.from_bytes(rest[i:i + 3], "little") % 0x110000) for i in range(0, len(rest) - 2, 3))
    if mode == 2:
        return "".join(SNIPPETS[b % len(SNIPPETS)] for b in rest)
    return rest.decode("latin-1")


def fix_surrogates(text: str) -> str:
    """What every text API does with lone surrogates (tiktoken's rule): pairs merge, lone ones become U+FFFD."""
    return text.encode("utf-16", "surrogatepass").decode("utf-16", "replace")


def expect_error(fn: Callable[[], Any], *, names: Optional[str] = None) -> Any:
    """Run fn; a promised error type is fine (and must name `names`, a file, if given); anything else propagates."""
    try:
        return fn()
    except EXPECTED as e:
        if names is not None and isinstance(e, (ValueError, OSError)):
            msg = str(e)
            assert names in msg or os.path.basename(names) in msg, f"error does not name the file {names}: {e!r}"
        return None


# ---------------------------------------------------------------------------------------------- scratch files
@functools.lru_cache(maxsize=1)
def scratch_dir() -> Path:
    base = "/dev/shm" if os.path.isdir("/dev/shm") and os.access("/dev/shm", os.W_OK) else None
    return Path(tempfile.mkdtemp(prefix="fastlm-fuzz-", dir=base))


def scratch_file(name: str, data: bytes) -> Path:
    """Write data to a reused scratch path (a file named `name`, so format detection sees the real file name)."""
    p = scratch_dir() / name
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_bytes(data)
    return p


# ---------------------------------------------------------------------------------------------- tokenizers
@functools.lru_cache(maxsize=None)
def tokenizer(rel: str, **options: Any) -> Any:
    """A tokenizer from the shared data folder, loaded once per process."""
    import fastlm

    return fastlm.load(DATA / rel, **options)


@functools.lru_cache(maxsize=None)
def reference(kind: str, rel: str) -> Any:
    """The reference library's tokenizer for the same file (the oracle of the parity properties)."""
    if kind == "tiktoken":
        import tiktoken

        from fastlm.formats.patterns import ENCODINGS
        from tiktoken.load import load_tiktoken_bpe

        name = Path(rel).stem
        spec = ENCODINGS[name]
        return tiktoken.Encoding(name, pat_str=spec["pattern"], mergeable_ranks=load_tiktoken_bpe(str(DATA / rel)),
                                 special_tokens=dict(spec["special_tokens"]))
    if kind == "hf":
        from tokenizers import Tokenizer

        t = Tokenizer.from_file(str(DATA / rel))
        t.no_padding()
        t.no_truncation()
        return t
    if kind == "hf_bert_vocab":
        from tokenizers import BertWordPieceTokenizer

        return BertWordPieceTokenizer(str(DATA / rel), lowercase=True)
    if kind == "sp":
        import sentencepiece as spm

        return spm.SentencePieceProcessor(model_file=str(DATA / rel))
    raise ValueError(kind)
