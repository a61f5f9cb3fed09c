// Hand-written pre-tokenizers for the published byte-level BPE patterns (no regex engine).
//
// Each scanner returns the end of the piece that starts at `pos`; pieces tile the input exactly. Every scanner is
// proven equal to `regex.findall(pattern, text)` with its published pattern by tests/test_pretokenize.py
// (whole corpora + hypothesis). The comments next to each branch name the alternative of the pattern it mirrors,
// including the backtracking of the non-possessive o200k pattern.
//
// Input is bytes: invalid UTF-8 bytes are classified as "other" (not letter, number or space), one byte each, so
// the scanners also work for the bytes API.
#pragma once
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string_view>

#include "core/unicode.h"

namespace fastlm {

enum class PretokKind : uint8_t {
  kNone = 0,   // the whole text is one piece
  kR50K = 1,   // GPT-2 / r50k_base / p50k_base
  kCL100K = 2, // cl100k_base
  kO200K = 3,  // o200k_base
};

namespace pretok {

// Character classes, as a bit set.
enum : uint8_t {
  kL = 1,      // \p{L}
  kN = 2,      // \p{N}
  kWS = 4,     // \s (White_Space)
  kCRLF = 8,   // \r or \n
  kUp = 16,    // o200k "upper-ish" [\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]
  kLo = 32,    // o200k "lower-ish" [\p{Ll}\p{Lm}\p{Lo}\p{M}]
  kM = 64,     // \p{M}
};

// ASCII classes, constant-initialized (tests check them against class_of_cp, which reads the generated table).
constexpr uint8_t ascii_class(unsigned c) {
  return (c >= 'A' && c <= 'Z')   ? uint8_t(kL | kUp)
         : (c >= 'a' && c <= 'z') ? uint8_t(kL | kLo)
         : (c >= '0' && c <= '9') ? uint8_t(kN)
         : (c == '\r' || c == '\n') ? uint8_t(kWS | kCRLF)
         : (c == ' ' || (c >= 9 && c <= 13)) ? uint8_t(kWS)
                                 : uint8_t(0);
}
struct AsciiClassTable {
  uint8_t v[128];
  constexpr AsciiClassTable() : v() {
    for (unsigned c = 0; c < 128; ++c) v[c] = ascii_class(c);
  }
};
inline constexpr AsciiClassTable kAsciiClass{};

// Class of any code point (kInvalid included), from the generated Unicode table.
uint8_t class_of_cp(uint32_t cp);
bool ascii_table_consistent();  // self-check used by the tests

// Classes of the whole BMP, one byte per code point (64 KiB, filled from class_of_cp at load): CJK and Hangul
// text reads one byte per character instead of the two-stage property lookup and the category remap
// (~12 instructions per byte on Japanese).
extern uint8_t g_bmp_class[0x10000];
bool bmp_table_consistent();  // self-check used by the tests

// Class of the code point at p; sets len to its byte length.
inline uint8_t cls(const unsigned char* p, const unsigned char* end, int& len) {
  if (*p < 0x80) {
    len = 1;
    return kAsciiClass.v[*p];
  }
  if (end - p >= 4) {
    // Two- and three-byte sequences (all of CJK, Hangul, Cyrillic, ...) checked on one 4-byte load: lead and
    // continuation bits by mask, then overlong forms and surrogates, exactly as unicode::decode rejects them.
    uint32_t w;
    std::memcpy(&w, p, 4);
    if ((w & 0xC0C0F0u) == 0x8080E0u) {
      uint32_t v = ((w & 0x0Fu) << 12) | ((w >> 2) & 0xFC0u) | ((w >> 16) & 0x3Fu);
      if (v >= 0x800 && (v < 0xD800 || v > 0xDFFF)) {
        len = 3;
        return g_bmp_class[v];
      }
    } else if ((w & 0xC0E0u) == 0x80C0u && *p >= 0xC2) {
      len = 2;
      return g_bmp_class[((w & 0x1Fu) << 6) | ((w >> 8) & 0x3Fu)];
    }
  }
  uint32_t cp;
  len = unicode::decode(p, end, cp);
  return cp < 0x10000 ? g_bmp_class[cp] : class_of_cp(cp);  // kInvalid is above the BMP
}

// The general scanners (any input).
size_t next_r50k_general(const unsigned char* b, size_t n, size_t pos);
size_t next_cl100k_general(const unsigned char* b, size_t n, size_t pos);
size_t next_o200k_general(const unsigned char* b, size_t n, size_t pos);

// Case-insensitive contraction body after an apostrophe at b[p-1]: [sdmt]|ll|ve|re (and U+017F LONG S, which
// simple case folding maps to 's'). Returns its byte length or 0.
inline size_t contraction_ci(const unsigned char* b, size_t n, size_t p) {
  if (p >= n) return 0;
  unsigned char c = b[p] | 0x20;
  if (b[p] < 0x80 && (c == 's' || c == 'd' || c == 'm' || c == 't')) return 1;
  if (b[p] == 0xC5 && p + 1 < n && b[p + 1] == 0xBF) return 2;
  if (p + 1 < n && b[p] < 0x80 && b[p + 1] < 0x80) {
    unsigned char c2 = b[p + 1] | 0x20;
    if ((c == 'l' && c2 == 'l') || (c == 'v' && c2 == 'e') || (c == 'r' && c2 == 'e')) return 2;
  }
  return 0;
}

// ASCII word fast paths. A letter run that stops on an ASCII byte (or the end) is settled: no non-ASCII letter
// or mark can extend it, so the piece is decided without decoding anything. English words and code identifiers
// take them (inline in the encoder's loop); everything else falls through to the general scanners.
inline bool ascii_letter(unsigned c) { return ((c | 0x20u) - 'a') < 26u; }
inline bool settled(const unsigned char* b, size_t n, size_t e) { return e == n || b[e] < 0x80; }
// [^\r\n\p{L}\p{N}] over ASCII: the optional prefix of the cl100k/o200k letter alternatives.
inline bool ascii_prefix(unsigned c) { return c < 0x80 && !(kAsciiClass.v[c] & (kL | kN | kCRLF)); }

// End of the run of bytes from p that are in [a-z] (fold = 0) or [A-Za-z] (fold = 0x20), eight at a time:
// each byte b of a word maps to (b & 0x7f | fold) + 0x1f (bit 7 set iff >= 'a') and + 0x05 (bit 7 set iff > 'z');
// no byte carries into the next. Bytes >= 0x80 are excluded by ~x.
inline size_t ascii_run(const unsigned char* b, size_t n, size_t p, uint64_t fold) {
  constexpr uint64_t k7f = 0x7F7F7F7F7F7F7F7FULL, k80 = 0x8080808080808080ULL;
  while (p + 8 <= n) {
    uint64_t x;
    std::memcpy(&x, b + p, 8);
    uint64_t y = (x & k7f) | (fold * 0x0101010101010101ULL);
    uint64_t in = (y + 0x1F1F1F1F1F1F1F1FULL) & ~(y + 0x0505050505050505ULL) & ~x & k80;
    if (in != k80) return p + size_t(__builtin_ctzll(~in & k80) >> 3);
    p += 8;
  }
  while (p < n && ((b[p] | fold) - 'a') < 26u) ++p;
  return p;
}

// ASCII "other" ([^\s\p{L}\p{N}]: punctuation, symbols, controls) run from p.
inline size_t ascii_other_run(const unsigned char* b, size_t n, size_t p) {
  while (p < n && b[p] < 0x80 && kAsciiClass.v[b[p]] == 0) ++p;
  return p;
}
// ASCII whitespace run from p: its end, the start of its last character and its last \r or \n (SIZE_MAX: none).
inline size_t ascii_ws_run(const unsigned char* b, size_t n, size_t p, size_t& last_start, size_t& last_crlf) {
  last_start = p;
  last_crlf = SIZE_MAX;
  for (; p < n && b[p] < 0x80 && (kAsciiClass.v[b[p]] & kWS); ++p) {
    last_start = p;
    if (b[p] == '\r' || b[p] == '\n') last_crlf = p;
  }
  return p;
}
// End of up to `most` ASCII digits from p (p is a digit); SIZE_MAX if a non-ASCII byte could extend the run.
inline size_t ascii_digits(const unsigned char* b, size_t n, size_t p, size_t most) {
  size_t e = p + 1;
  while (e < n && e - p < most && unsigned(b[e] - '0') < 10u) ++e;
  return e - p == most || settled(b, n, e) ? e : SIZE_MAX;
}

// The scanners: ASCII fast paths for each alternative, in the pattern's order, each returning only when the
// piece is settled; anything else goes to the general scanner, which decides from scratch.
inline size_t next_r50k(const unsigned char* b, size_t n, size_t pos) {
  unsigned c = b[pos];
  if (c >= 0x80 || c == '\'') return next_r50k_general(b, n, pos);  // an apostrophe may start a contraction
  unsigned k = kAsciiClass.v[c];
  size_t s = c == ' ' && pos + 1 < n && b[pos + 1] < 0x80 ? pos + 1 : pos;  // " ?" before letters/numbers/other
  unsigned ks = kAsciiClass.v[b[s]];
  size_t e = SIZE_MAX;
  if (ks & kL) {  //  ?\p{L}+
    e = ascii_run(b, n, s + 1, 0x20);
  } else if (ks & kN) {  //  ?\p{N}+
    e = ascii_digits(b, n, s, SIZE_MAX);
  } else if (ks == 0) {  //  ?[^\s\p{L}\p{N}]+
    e = ascii_other_run(b, n, s + 1);
  } else if (k & kWS) {  // \s+(?!\S) | \s+
    size_t last_start, last_crlf;
    e = ascii_ws_run(b, n, pos, last_start, last_crlf);
    if (settled(b, n, e)) return e == n || last_start == pos ? e : last_start;
    e = SIZE_MAX;
  }
  if (e != SIZE_MAX && settled(b, n, e)) return e;
  return next_r50k_general(b, n, pos);
}

inline size_t next_cl100k(const unsigned char* b, size_t n, size_t pos) {
  unsigned c = b[pos];
  if (c >= 0x80 || c == '\'') return next_cl100k_general(b, n, pos);  // an apostrophe may start a contraction
  unsigned k = kAsciiClass.v[c];
  bool has1 = pos + 1 < n && b[pos + 1] < 0x80;
  unsigned k1 = has1 ? kAsciiClass.v[b[pos + 1]] : 0xFF;
  if ((k & kL) || (ascii_prefix(c) && (k1 & kL) && k1 != 0xFF)) {  // [^\r\n\p{L}\p{N}]?+\p{L}++
    size_t e = ascii_run(b, n, (k & kL) ? pos + 1 : pos + 2, 0x20);
    if (settled(b, n, e)) return e;
  } else if (k & kN) {  // \p{N}{1,3}+
    size_t e = ascii_digits(b, n, pos, 3);
    if (e != SIZE_MAX) return e;
  } else if (k == 0 || (c == ' ' && k1 == 0)) {  //  ?[^\s\p{L}\p{N}]++[\r\n]*+
    size_t e = ascii_other_run(b, n, k == 0 ? pos + 1 : pos + 2);
    if (settled(b, n, e)) {
      while (e < n && (b[e] == '\r' || b[e] == '\n')) ++e;
      return e;
    }
  } else if ((k & kWS) && k1 != 0xFF) {  // \s++$ | \s*[\r\n] | \s+(?!\S) | \s
    size_t last_start, last_crlf;
    size_t e = ascii_ws_run(b, n, pos, last_start, last_crlf);
    if (settled(b, n, e)) {
      if (e == n) return e;
      if (last_crlf != SIZE_MAX) return last_crlf + 1;
      return last_start > pos ? last_start : e;
    }
  }
  return next_cl100k_general(b, n, pos);
}

inline size_t next_o200k(const unsigned char* b, size_t n, size_t pos) {
  unsigned c = b[pos];
  if (c >= 0x80) return next_o200k_general(b, n, pos);
  unsigned k = kAsciiClass.v[c];
  bool has1 = pos + 1 < n && b[pos + 1] < 0x80;
  unsigned k1 = has1 ? kAsciiClass.v[b[pos + 1]] : 0xFF;
  if ((k & kL) || (ascii_prefix(c) && k1 != 0xFF && (k1 & kL))) {
    // After an optional ASCII prefix: [A-Z]*[a-z]+ (alternative 1), else [A-Z]+ (alternative 2), then an optional
    // contraction. ASCII letters are only upper or lower, so neither alternative backtracks.
    size_t u = (k & kL) ? pos : pos + 1;
    while (u < n && unsigned(b[u] - 'A') < 26u) ++u;
    size_t e = ascii_run(b, n, u, 0);
    if (settled(b, n, e)) {
      if (e < n && b[e] == '\'') {
        size_t m = contraction_ci(b, n, e + 1);
        if (m) e += 1 + m;
      }
      return e;
    }
  } else if (k & kN) {  // \p{N}{1,3}
    size_t e = ascii_digits(b, n, pos, 3);
    if (e != SIZE_MAX) return e;
  } else if ((k == 0 && (has1 || pos + 1 == n)) || (c == ' ' && k1 == 0)) {  //  ?[^\s\p{L}\p{N}]+[\r\n/]*
    size_t e = ascii_other_run(b, n, k == 0 ? pos + 1 : pos + 2);
    if (settled(b, n, e)) {
      while (e < n && (b[e] == '\r' || b[e] == '\n' || b[e] == '/')) ++e;
      return e;
    }
  } else if ((k & kWS) && k1 != 0xFF) {  // \s*[\r\n]+ | \s+(?!\S) | \s+
    size_t last_start, last_crlf;
    size_t e = ascii_ws_run(b, n, pos, last_start, last_crlf);
    if (settled(b, n, e)) {
      if (last_crlf != SIZE_MAX) return last_crlf + 1;
      if (e == n) return e;
      return last_start > pos ? last_start : e;
    }
  }
  return next_o200k_general(b, n, pos);
}

}  // namespace pretok

// Calls f(start, end) for every piece of s, in order.
template <class F>
void pretokenize(PretokKind kind, std::string_view s, F&& f) {
  const auto* b = reinterpret_cast<const unsigned char*>(s.data());
  size_t n = s.size();
  size_t pos = 0;
  switch (kind) {
    case PretokKind::kNone:
      if (n) f(size_t(0), n);
      return;
    case PretokKind::kR50K:
      while (pos < n) {
        size_t e = pretok::next_r50k(b, n, pos);
        f(pos, e);
        pos = e;
      }
      return;
    case PretokKind::kCL100K:
      while (pos < n) {
        size_t e = pretok::next_cl100k(b, n, pos);
        f(pos, e);
        pos = e;
      }
      return;
    case PretokKind::kO200K:
      while (pos < n) {
        size_t e = pretok::next_o200k(b, n, pos);
        f(pos, e);
        pos = e;
      }
      return;
  }
}

}  // namespace fastlm
