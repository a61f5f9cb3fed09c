#!/usr/bin/env python3
"""Generate csrc/core/pipeline/unicode_tables.inc: per-code-point data for the general tokenizer pipeline.

For every code point the table gives what the HF tokenizer.json components need and fastlm's other tables do not
hold:

    gc            general category as the reference's regex engine (Oniguruma, through HF tokenizers) sees it:
                  what \\p{L}, \\p{Lu}, \\p{N}, ... match in a Split / Replace pattern
    word, space, digit   Oniguruma's \\w, \\s, \\d
    script        Script property (for \\p{Han}, \\p{Hiragana}, ...), for the scripts listed in SCRIPTS
    strip         dropped by the StripAccents normalizer
    ccc           canonical combining class (canonical ordering in NFD/NFKD)
    nfd, nfkd     full decomposition of the character alone, as the reference's NFD / NFKD normalizers give it
    gcb, incb, extpict   grapheme cluster break property, Indic_Conjunct_Break and Extended_Pictographic (the
                  Precompiled normalizer works on extended grapheme clusters, UAX #29)
plus the canonical composition pairs (NFC / NFKC), checked against the reference's NFC one character at a time.

Sources. Everything the reference exposes is measured through its public API, one code point at a time (the
regex classes through Split patterns, the normalizers through normalize_str), so the table reproduces the
reference's Unicode version rather than this Python's. ccc, composition and the grapheme properties are not
observable that way and come from Python's unicodedata and the `regex` module; the composition table is then
checked against the reference's NFC of every character.

Usage:  python tools/gen_pipeline_unicode.py > csrc/core/pipeline/unicode_tables.inc
Needs:  tokenizers (0.23), regex. Runs in about a minute.
"""
from __future__ import annotations

import sys
import unicodedata as ud

import regex
from tokenizers import Regex
from tokenizers.normalizers import NFC, NFD, NFKC, NFKD, StripAccents
from tokenizers.pre_tokenizers import Split

from unicode_table_lib import RecordInterner, two_stage, write_u16_array

MAXCP = 0x110000
BLOCK = 256
GC_NAMES = ["Cn", "Lu", "Ll", "Lt", "Lm", "Lo", "Mn", "Mc", "Me", "Nd", "Nl", "No", "Pc", "Pd", "Ps", "Pe", "Pi",
            "Pf", "Po", "Sm", "Sc", "Sk", "So", "Zs", "Zl", "Zp", "Cc", "Cf", "Cs", "Co"]
# Script names Oniguruma accepts as \p{Name}; the index + 1 is the script id (0 = none of these).
SCRIPTS = ["Latin", "Greek", "Cyrillic", "Armenian", "Hebrew", "Arabic", "Syriac", "Thaana", "Devanagari",
           "Bengali", "Gurmukhi", "Gujarati", "Oriya", "Tamil", "Telugu", "Kannada", "Malayalam", "Sinhala", "Thai",
           "Lao", "Tibetan", "Myanmar", "Georgian", "Hangul", "Ethiopic", "Cherokee", "Khmer", "Mongolian",
           "Hiragana", "Katakana", "Bopomofo", "Han", "Yi", "Common", "Inherited", "Tagalog", "Javanese",
           "Balinese", "Tifinagh", "Nko", "Vai", "Runic", "Ogham", "Braille", "Coptic", "Gothic"]
GCB_NAMES = ["Other", "CR", "LF", "Control", "Extend", "ZWJ", "Regional_Indicator", "Prepend", "SpacingMark", "L",
             "V", "T", "LV", "LVT"]
INCB_NAMES = ["None", "Linker", "Consonant", "Extend"]
# flag bits
F_WORD, F_SPACE, F_DIGIT, F_STRIP, F_EXTPICT = 1, 2, 4, 8, 16


def scalar_values() -> list:
    return [c for c in range(MAXCP) if not 0xD800 <= c <= 0xDFFF]


def matched_by(pattern: str, cps: list, text: str) -> set:
    """Code points that `pattern` matches, one character at a time, measured through the reference's Split: with
    behavior 'removed', a character matched by a single-character pattern is covered by no piece."""
    covered = bytearray(len(cps))
    for _, (s, e) in Split(Regex(pattern), behavior="removed").pre_tokenize_str(text):
        covered[s:e] = b"\x01" * (e - s)
    return {c for c, k in zip(cps, covered) if not k}


def probe_norm(norm: object, cps: list, sep: str) -> list:
    out = norm.normalize_str(sep.join(chr(c) for c in cps)).split(sep)  # type: ignore[attr-defined]
    assert len(out) == len(cps), (len(out), len(cps))
    return out


def main() -> None:
    cps = scalar_values()
    text = "".join(chr(c) for c in cps)
    report = {}

    gc = {c: 0 for c in cps}
    for k, name in enumerate(GC_NAMES):
        if name in ("Cn", "Cs"):
            continue
        for c in matched_by(r"\p{%s}" % name, cps, text):
            gc[c] = k
    report["gc differs from unicodedata"] = sum(1 for c in cps if GC_NAMES[gc[c]] != ud.category(chr(c)))
    word = matched_by(r"\w", cps, text)
    space = matched_by(r"\s", cps, text)
    digit = matched_by(r"\d", cps, text)
    script = {c: 0 for c in cps}
    for k, name in enumerate(SCRIPTS):
        try:
            got = matched_by(r"\p{%s}" % name, cps, text)
        except Exception:  # a name this Oniguruma does not know
            continue
        for c in got:
            if script[c] == 0:
                script[c] = k + 1

    others = [c for c in cps if c != 1]
    strip_out = dict(zip(others, probe_norm(StripAccents(), others, "\x01")))
    strip = {c for c in others if strip_out[c] == ""}
    nfd = dict(zip(others, probe_norm(NFD(), others, "\x01")))
    nfkd = dict(zip(others, probe_norm(NFKD(), others, "\x01")))
    nfd[1] = nfkd[1] = "\x01"
    report["nfd differs"] = sum(1 for c in cps if nfd[c] != ud.normalize("NFD", chr(c)))
    report["nfkd differs"] = sum(1 for c in cps if nfkd[c] != ud.normalize("NFKD", chr(c)))

    # canonical composition pairs: primary composites (their canonical decomposition recomposes to them)
    pairs = {}
    for c in cps:
        d = ud.decomposition(chr(c))
        if not d or d.startswith("<"):
            continue
        parts = [int(x, 16) for x in d.split()]
        if len(parts) == 2 and ud.normalize("NFC", chr(parts[0]) + chr(parts[1])) == chr(c):
            pairs[(parts[0], parts[1])] = c
    # combining classes: unicodedata's, except for marks the reference's (older) Unicode data does not know, which it
    # treats as starters: a mark that does not reorder against a reference mark there gets class 0
    ccc = {c: ud.combining(chr(c)) for c in cps}
    marks = [c for c in cps if ccc[c] and c != 1]
    probes = [chr(c) + "\u0334" if ccc[c] > 1 else "\u0301" + chr(c) for c in marks]
    got = NFD().normalize_str("\x01".join(probes)).split("\x01")
    unknown = 0
    for c, p, g in zip(marks, probes, got):
        if g == p:  # not reordered: a starter for the reference
            ccc[c] = 0
            unknown += 1
    report["marks the reference treats as starters"] = unknown

    # grapheme properties (regex module)
    gcb = {c: 0 for c in cps}
    for k, name in enumerate(GCB_NAMES):
        if k == 0:
            continue
        r = regex.compile(r"\p{GCB=%s}" % name)
        for c in cps:
            if r.match(chr(c)):
                gcb[c] = k
    incb = {c: 0 for c in cps}
    for k, name in enumerate(INCB_NAMES):
        if k == 0:
            continue
        r = regex.compile(r"\p{InCB=%s}" % name)
        for c in cps:
            if r.match(chr(c)):
                incb[c] = k
    extpict = {c for c in cps if regex.match(r"\p{ExtPict}", chr(c))}

    pool: list = []
    pool_index: dict = {}

    def intern(s: str) -> tuple:
        if s not in pool_index:
            pool_index[s] = len(pool)
            pool.extend(ord(x) for x in s)
        return pool_index[s], len(s)

    recs = RecordInterner()
    per_cp = [0] * MAXCP
    for c in range(MAXCP):
        if 0xD800 <= c <= 0xDFFF:
            key = (28, 0, 0, 0, 0, "", "")
        else:
            ch = chr(c)
            flags = ((F_WORD if c in word else 0) | (F_SPACE if c in space else 0) | (F_DIGIT if c in digit else 0)
                     | (F_STRIP if c in strip else 0) | (F_EXTPICT if c in extpict else 0))
            key = (gc[c], flags, ccc[c], gcb[c] | (incb[c] << 4), script[c], nfd[c] if nfd[c] != ch else "",
                   nfkd[c] if nfkd[c] != ch else "")
        per_cp[c] = recs.index(key)
    rec_list = recs.records
    stage1, stage2, n_blocks = two_stage(per_cp, BLOCK)

    # check the composition table against the reference's NFC / NFKC of every character alone
    def compose(s: str) -> str:
        out: list = []
        last_starter = -1
        last_ccc = -1
        for ch in s:
            c = ord(ch)
            k = ccc.get(c, 0)
            if out:  # Hangul: L + V -> LV, LV + T -> LVT (algorithmic, adjacent only)
                p = ord(out[-1])
                if 0x1100 <= p < 0x1113 and 0x1161 <= c < 0x1176:
                    out[-1] = chr(0xAC00 + ((p - 0x1100) * 21 + (c - 0x1161)) * 28)
                    continue
                if 0xAC00 <= p <= 0xD7A3 and (p - 0xAC00) % 28 == 0 and 0x11A7 < c < 0x11C3:
                    out[-1] = chr(p + c - 0x11A7)
                    continue
            if last_starter >= 0 and (last_ccc < k or (last_ccc == 0 and last_starter == len(out) - 1)):
                comp = pairs.get((ord(out[last_starter]), c))
                if comp is not None:
                    out[last_starter] = chr(comp)
                    continue
            if k == 0:
                last_starter = len(out)
                last_ccc = 0
            else:
                last_ccc = k
            out.append(ch)
        return "".join(out)

    nfc = dict(zip(others, probe_norm(NFC(), others, "\x01")))
    nfkc = dict(zip(others, probe_norm(NFKC(), others, "\x01")))
    bad = [c for c in others if compose(nfd[c]) != nfc[c]]
    bad += [c for c in others if compose(nfkd[c]) != nfkc[c]]
    report["nfc/nfkc mismatches (must be 0)"] = len(bad)
    assert not bad, [hex(c) for c in bad[:20]]

    w = sys.stdout.write
    w("// GENERATED by tools/gen_pipeline_unicode.py - do not edit. Regenerate:\n")
    w("//   python tools/gen_pipeline_unicode.py > csrc/core/pipeline/unicode_tables.inc\n")
    w(f"// Measured through the reference (HF tokenizers: Oniguruma classes, NFD/NFKD, StripAccents); ccc and\n")
    w(f"// composition from Python unicodedata {ud.unidata_version}, grapheme properties from regex {regex.__version__}.\n")
    w("// " + "; ".join(f"{k}: {v}" for k, v in report.items()) + ".\n")
    w("// Record: {gc, flags (1 \\w, 2 \\s, 4 \\d, 8 StripAccents drops, 16 Extended_Pictographic), ccc,\n")
    w("//          gcb | incb << 4, script, nfd length, nfkd length, nfd offset, nfkd offset} (offsets into kUPool).\n")
    write_u16_array(w, "kUStage1", stage1)
    write_u16_array(w, "kUStage2", stage2)
    w(f"static const UProps kURecords[{len(rec_list)}] = {{\n")
    for g, flags, cc, gb, sc, d, kd in rec_list:
        do, dl = intern(d) if d else (0, 0)
        ko, kl = intern(kd) if kd else (0, 0)
        w(f"  {{{g}, {flags}, {cc}, {gb}, {sc}, {dl}, {kl}, {do}, {ko}}},\n")
    w("};\n")
    w(f"static const uint32_t kUPool[{max(1, len(pool))}] = {{\n")
    for i in range(0, len(pool), 16):
        w("  " + ", ".join(str(x) for x in pool[i:i + 16]) + ",\n")
    w("};\n")
    items = sorted(pairs.items())
    w(f"static const uint64_t kUCompose[{len(items)}] = {{  // (first << 42) | (second << 21) | composite\n")
    for i in range(0, len(items), 6):
        w("  " + ", ".join(f"0x{(a << 42) | (b << 21) | c:x}ULL" for (a, b), c in items[i:i + 6]) + ",\n")
    w("};\n")
    w("static const char* const kUScriptNames[] = {\"\", " + ", ".join(f'"{s}"' for s in SCRIPTS) + "};\n")
    print("report:", report, "records:", len(rec_list), "pool:", len(pool), "blocks:", n_blocks,
          "pairs:", len(items), file=sys.stderr)


if __name__ == "__main__":
    main()
