"""Published pre-tokenizer patterns and the built-in encodings that use them.

A pattern that equals one of these (by name or by exact string) runs on fastlm's hand-written C++ scanner; any
other regex runs on the general path (the `regex` module splits, the C++ core merges).
"""
from __future__ import annotations

from typing import Any, Dict, Optional

R50K_PATTERN = r"""'(?:[sdmt]|ll|ve|re)| ?\p{L}++| ?\p{N}++| ?[^\s\p{L}\p{N}]++|\s++$|\s+(?!\S)|\s"""
GPT2_ORIGINAL_PATTERN = r"""'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+"""
CL100K_PATTERN = (
    r"""'(?i:[sdmt]|ll|ve|re)|[^\r\n\p{L}\p{N}]?+\p{L}++|\p{N}{1,3}+| ?[^\s\p{L}\p{N}]++[\r\n]*+|\s++$|\s*[\r\n]|"""
    r"""\s+(?!\S)|\s"""
)
O200K_PATTERN = "|".join(
    [
        r"""[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]*[\p{Ll}\p{Lm}\p{Lo}\p{M}]+(?i:'s|'t|'re|'ve|'m|'ll|'d)?""",
        r"""[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]+[\p{Ll}\p{Lm}\p{Lo}\p{M}]*(?i:'s|'t|'re|'ve|'m|'ll|'d)?""",
        r"""\p{N}{1,3}""",
        r""" ?[^\s\p{L}\p{N}]+[\r\n/]*""",
        r"""\s*[\r\n]+""",
        r"""\s+(?!\S)""",
        r"""\s+""",
    ]
)

# pattern name -> (pattern string, scanner kind name in _core.PretokKind)
PATTERNS: Dict[str, str] = {
    "r50k": R50K_PATTERN,
    "p50k": R50K_PATTERN,
    "gpt2": R50K_PATTERN,
    "cl100k": CL100K_PATTERN,
    "o200k": O200K_PATTERN,
}
_SCANNERS = {
    R50K_PATTERN: "R50K",
    GPT2_ORIGINAL_PATTERN: "R50K",
    CL100K_PATTERN: "CL100K",
    O200K_PATTERN: "O200K",
}

ENDOFTEXT = "<|endoftext|>"
FIM_PREFIX = "<|fim_prefix|>"
FIM_MIDDLE = "<|fim_middle|>"
FIM_SUFFIX = "<|fim_suffix|>"
ENDOFPROMPT = "<|endofprompt|>"

# Published encodings: pattern and special tokens (as tiktoken defines them).
ENCODINGS: Dict[str, Dict[str, Any]] = {
    "r50k_base": {"pattern": R50K_PATTERN, "special_tokens": {ENDOFTEXT: 50256}, "explicit_n_vocab": 50257},
    "p50k_base": {"pattern": R50K_PATTERN, "special_tokens": {ENDOFTEXT: 50256}, "explicit_n_vocab": 50281},
    "p50k_edit": {
        "pattern": R50K_PATTERN,
        "special_tokens": {ENDOFTEXT: 50256, FIM_PREFIX: 50281, FIM_MIDDLE: 50282, FIM_SUFFIX: 50283},
        "file": "p50k_base",
    },
    "cl100k_base": {
        "pattern": CL100K_PATTERN,
        "special_tokens": {ENDOFTEXT: 100257, FIM_PREFIX: 100258, FIM_MIDDLE: 100259, FIM_SUFFIX: 100260,
                           ENDOFPROMPT: 100276},
    },
    "o200k_base": {"pattern": O200K_PATTERN, "special_tokens": {ENDOFTEXT: 199999, ENDOFPROMPT: 200018}},
}


def resolve_pattern(pattern: str) -> str:
    """A pattern name ('cl100k', 'o200k_base', ...) or a regex -> the regex string."""
    key = pattern[:-5] if pattern.endswith("_base") else pattern
    return PATTERNS.get(key, pattern)


def scanner_for(pattern: str) -> Optional[str]:
    """The built-in scanner name for a pattern string, or None if it needs the general regex path."""
    return _SCANNERS.get(pattern)
