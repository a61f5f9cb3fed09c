#!/usr/bin/env python3
"""Generate csrc/core/unicode_norm_tables.inc: per-code-point data for the BERT normalizer and pre-tokenizer.

For every code point the table gives:
    clean class  keep / drop / map to ' '   (BERT clean-text: drop NUL, U+FFFD and "other" control characters,
                                             map whitespace to a space)
    whitespace   Rust char::is_whitespace (the Unicode White_Space property), what the BERT pre-tokenizer splits on
    punctuation  ASCII punctuation or a P* general category, what the BERT pre-tokenizer isolates
    cjk          the CJK ideograph ranges BERT puts spaces around
    strip        NFD, then drop the nonspacing marks (Mn)          (a string, usually the character itself)
    lower        lowercase mapping (full, context-free, per character)
    both         lower applied to each character of strip

Sources. The base values come from Python's unicodedata (the version this Python ships). The reference implementation (HF
`tokenizers`, Rust) takes its character data from crates that pin other Unicode versions: an older category table
(punctuation, controls, nonspacing marks), an older NFD, and the Rust standard library's newer lowercase table.
Where its behaviour differs from unicodedata, the generator takes the reference's behaviour, measured one code
point at a time through its public normalizer and pre-tokenizer, and reports how many code points differ, so the
table reproduces the reference exactly. Parity is what the tests check.

Usage:  python tools/gen_unicode_norm.py > csrc/core/unicode_norm_tables.inc
Needs:  tokenizers (0.23; pinned in the test extras) for the reference behaviour. Runs in about a minute.
"""
from __future__ import annotations

import sys
import unicodedata as ud

from tokenizers.normalizers import BertNormalizer
from tokenizers.pre_tokenizers import BertPreTokenizer

from unicode_table_lib import RecordInterner, two_stage, write_u16_array

MAXCP = 0x110000
BLOCK = 256
CJK = [(0x4E00, 0x9FFF), (0x3400, 0x4DBF), (0x20000, 0x2A6DF), (0x2A700, 0x2B73F), (0x2B740, 0x2B81F),
       (0x2B920, 0x2CEAF), (0xF900, 0xFAFF), (0x2F800, 0x2FA1F)]
WHITE_SPACE = {0x9, 0xA, 0xB, 0xC, 0xD, 0x20, 0x85, 0xA0, 0x1680, *range(0x2000, 0x200B), 0x2028, 0x2029, 0x202F,
               0x205F, 0x3000}
KEEP, DROP, SPACE = 0, 1, 2


def scalar_values() -> list:
    return [c for c in range(MAXCP) if not 0xD800 <= c <= 0xDFFF]


def probe_map(norm: BertNormalizer, cps: list, sep: str) -> list:
    """Per-code-point output of `norm`, probed in one call: the code points joined by a separator `sep` that the
    normalizer leaves alone and that no mapping produces (and of canonical class 0, so NFD never reorders across
    it)."""
    out = norm.normalize_str(sep.join(chr(c) for c in cps)).split(sep)
    assert len(out) == len(cps), (len(out), len(cps))
    return out


def py_clean(c: int) -> int:
    if c in (9, 10, 13):
        return SPACE
    if c == 0 or c == 0xFFFD or ud.category(chr(c)) in ("Cc", "Cf", "Co"):
        return DROP
    return SPACE if c in WHITE_SPACE else KEEP


def py_punct(c: int) -> bool:
    return (33 <= c <= 126 and not chr(c).isalnum()) or ud.category(chr(c)).startswith("P")


def py_strip(c: int) -> str:
    return "".join(x for x in ud.normalize("NFD", chr(c)) if ud.category(x) != "Mn")


def main() -> None:
    cps = scalar_values()
    deltas = {}

    # clean text: 'a' as the separator (kept, never produced by the clean step)
    clean_out = probe_map(BertNormalizer(clean_text=True, handle_chinese_chars=False, strip_accents=False,
                                         lowercase=False), [c for c in cps if c != 0x61], "a")
    clean = {}
    for c, o in zip([c for c in cps if c != 0x61], clean_out):
        clean[c] = DROP if o == "" else SPACE if o == " " else KEEP
        assert o in ("", " ", chr(c)), (hex(c), o)
    clean[0x61] = KEEP
    deltas["clean"] = sum(1 for c in cps if clean[c] != py_clean(c))

    others = [c for c in cps if c != 1]
    strip_out = dict(zip(others, probe_map(BertNormalizer(clean_text=False, handle_chinese_chars=False,
                                                          strip_accents=True, lowercase=False), others, "\x01")))
    strip_out[1] = "\x01"
    deltas["strip"] = sum(1 for c in cps if strip_out[c] != py_strip(c))
    lower_out = dict(zip(others, probe_map(BertNormalizer(clean_text=False, handle_chinese_chars=False,
                                                          strip_accents=False, lowercase=True),
                                           others, "\x01")))
    lower_out[1] = "\x01"
    deltas["lower"] = sum(1 for c in cps if lower_out[c] != chr(c).lower())

    # punctuation and whitespace of the pre-tokenizer, probed in one call over "a".join(all code points): a
    # character covered by no word is whitespace, one that is a word of its own is punctuation
    punct = {c: py_punct(c) for c in cps}
    ws = {c: c in WHITE_SPACE for c in cps}
    probe = [c for c in cps if c != 0x61]
    text = "a".join(chr(c) for c in probe)
    cls = ["word"] * len(text)
    covered = [False] * len(text)
    for w, (s0, e0) in BertPreTokenizer().pre_tokenize_str(text):
        for k in range(s0, e0):
            covered[k] = True
        if e0 - s0 == 1 and text[s0] != "a":
            cls[s0] = "punct"
    nd = 0
    for k, c in enumerate(probe):
        i = 2 * k
        is_p = cls[i] == "punct"
        is_ws = not covered[i]
        if is_p != punct[c] or is_ws != ws[c]:
            nd += 1
        punct[c], ws[c] = is_p, is_ws
    punct[0x61], ws[0x61] = False, False
    deltas["pre-tokenizer"] = nd

    def cjk(c: int) -> bool:
        return any(a <= c <= b for a, b in CJK)

    # records: (flags, strip, lower, both), deduplicated
    pool: list = []
    pool_index: dict = {}

    def intern(s: str) -> tuple:
        key = s
        if key not in pool_index:
            pool_index[key] = len(pool)
            pool.extend(ord(x) for x in s)
        return pool_index[key], len(s)

    recs = RecordInterner()
    per_cp = [0] * MAXCP
    for c in range(MAXCP):
        if 0xD800 <= c <= 0xDFFF:
            key = (0, "", "", "")
            flags = 0
            s = l = b = None
        else:
            ch = chr(c)
            s = strip_out[c]
            l = lower_out[c]
            b = "".join(lower_out[ord(x)] for x in s)
            flags = clean[c] | (4 if ws[c] else 0) | (8 if punct[c] else 0) | (16 if cjk(c) else 0)
            flags |= (32 if s != ch else 0) | (64 if l != ch else 0) | (128 if b != ch else 0)
        key = (flags, s if flags & 32 else "", l if flags & 64 else "", b if flags & 128 else "")
        per_cp[c] = recs.index(key)
    rec_list = recs.records
    stage1, stage2, n_blocks = two_stage(per_cp, BLOCK)

    w = sys.stdout.write
    w("// GENERATED by tools/gen_unicode_norm.py - do not edit. Regenerate:\n")
    w("//   python tools/gen_unicode_norm.py > csrc/core/unicode_norm_tables.inc\n")
    w(f"// Base: Python unicodedata {ud.unidata_version}. Code points where the reference (HF tokenizers) differs and\n")
    w("// its behaviour was taken: " + ", ".join(f"{k} {v}" for k, v in deltas.items()) + ".\n")
    w("// Record flags: bits 0-1 clean class (0 keep, 1 drop, 2 space), 4 whitespace, 8 punctuation, 16 CJK,\n")
    w("// 32 strip differs, 64 lower differs, 128 lower(strip) differs. Maps are (offset, length) into kNormPool.\n")
    write_u16_array(w, "kNormStage1", stage1)
    write_u16_array(w, "kNormStage2", stage2)
    w(f"static const NormRecord kNormRecords[{len(rec_list)}] = {{\n")
    for flags, s, l, b in rec_list:
        so, sl = intern(s) if flags & 32 else (0, 0)
        lo, ll = intern(l) if flags & 64 else (0, 0)
        bo, bl = intern(b) if flags & 128 else (0, 0)
        w(f"  {{{flags}, {sl}, {ll}, {bl}, {so}, {lo}, {bo}}},\n")
    w("};\n")
    w(f"static const uint32_t kNormPool[{max(1, len(pool))}] = {{\n")
    for i in range(0, len(pool), 16):
        w("  " + ", ".join(str(x) for x in pool[i:i + 16]) + ",\n")
    w("};\n")
    print("deltas:", deltas, "records:", len(rec_list), "pool:", len(pool), "blocks:", n_blocks, file=sys.stderr)


if __name__ == "__main__":
    main()
