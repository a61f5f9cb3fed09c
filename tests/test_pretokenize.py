"""The C++ scanners equal regex.findall with the published patterns."""
from __future__ import annotations

import pytest
import regex
from hypothesis import given, settings
from hypothesis import strategies as st

from conftest import data_path, text_files

from fastlm import _core
from fastlm.formats.patterns import CL100K_PATTERN, GPT2_ORIGINAL_PATTERN, O200K_PATTERN, R50K_PATTERN

SCANNERS = [
    ("R50K", R50K_PATTERN),
    ("R50K", GPT2_ORIGINAL_PATTERN),
    ("CL100K", CL100K_PATTERN),
    ("O200K", O200K_PATTERN),
]
IDS = ["r50k", "gpt2-original", "cl100k", "o200k"]


def check(kind: str, pattern: str, text: str) -> None:
    expected = regex.findall(pattern, text)
    got = _core.pretokenize(getattr(_core.PretokKind, kind), text)
    assert got == expected


def test_ascii_table_matches_generated_table():
    assert _core._ascii_table_consistent()


def test_bmp_class_table_matches_generated_table():
    assert _core._bmp_table_consistent()


@pytest.mark.parametrize("kind,pattern", SCANNERS, ids=IDS)
def test_scanners_on_every_corpus(kind, pattern):
    files = text_files()
    assert files, "no shared text files"
    for f in files + [data_path("unicode", "blns.txt"), data_path("unicode", "UTF-8-demo.txt")]:
        text = f.read_text(encoding="utf-8")
        check(kind, pattern, text)
        for line in text.splitlines(keepends=True)[:2000]:
            check(kind, pattern, line)


TRICKY = [
    "", " ", "  ", "\n", "\r\n", " \n ", "a  b", "a \t b", "\t\tfoo", "  \n\n  x",
    "don't", "DON'T", "I'M", "we'll've", "'s", "''s", "x'ſ", "'ſ", "it'S", "y'all",
    "12345678", "١٢٣٤", "½¾", "Ⅻ", "abc123def", "$100", "(foo)", "foo/bar\n/baz", "!!\n\n", "a!\r\n/",
    "HELLOworld", "Hello", "hello", "ǅemal", "日本語テキスト", "日本A", "ʰello", "e\u0301te", "\u0301\u0301a",
    " \u0301a", "\u3000x", "\u00a0y", "\u2028z", "\x00\x01", "😀😀 a", "\ufeffBOM", "a\u0085b",
]


@pytest.mark.parametrize("kind,pattern", SCANNERS, ids=IDS)
@pytest.mark.parametrize("text", TRICKY)
def test_scanners_on_tricky_strings(kind, pattern, text):
    check(kind, pattern, text)


# Characters from every general category, plus the ASCII characters the patterns single out.
_ALPHABET = st.characters(codec="utf-8", categories=None)
_SPECIAL = st.sampled_from(list(" \t\r\n\x0b\x0c'sStTdDmMlLvVeErR/0123456789ſ\u0301\u00a0\u3000\u2028\u0085"))
_TEXT = st.lists(st.one_of(_ALPHABET, _SPECIAL), max_size=40).map("".join)


@pytest.mark.parametrize("kind,pattern", SCANNERS, ids=IDS)
@settings(max_examples=400, deadline=None)
@given(text=_TEXT)
def test_scanners_property(kind, pattern, text):
    check(kind, pattern, text)


# Mostly ASCII: the scanners' ASCII fast paths (words, digit runs, punctuation runs, whitespace runs) must stop
# exactly where the patterns do, including next to a non-ASCII letter, digit, mark or space.
_ASCII_HEAVY = st.lists(
    st.one_of(st.sampled_from(list("aZ q(){}[];:.,!?/\\'\"-_=+*&^%$#@~`<>|09 \t\r\n\x0b\x0c\x00")),
              st.sampled_from(list("éÉ日ـ\u0301\u00a0\u3000١½ſ"))),
    max_size=50).map("".join)


@pytest.mark.parametrize("kind,pattern", SCANNERS, ids=IDS)
@settings(max_examples=600, deadline=None)
@given(text=_ASCII_HEAVY)
def test_scanners_property_ascii_heavy(kind, pattern, text):
    check(kind, pattern, text)


@pytest.mark.parametrize("kind", ["R50K", "CL100K", "O200K"])
@settings(max_examples=200, deadline=None)
@given(data=st.binary(max_size=60))
def test_scanners_cover_arbitrary_bytes(kind, data):
    pieces = _core.pretokenize(getattr(_core.PretokKind, kind), data)
    assert b"".join(pieces) == data
    assert all(pieces)


def test_long_digit_runs_and_whitespace_runs():
    for kind, pattern in SCANNERS:
        check(kind, pattern, "9" * 1000 + " " * 1000 + "x" + "\n" * 50 + " " * 3)
