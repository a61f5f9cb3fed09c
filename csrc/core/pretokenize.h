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

size_t next_r50k(const unsigned char* b, size_t n, size_t pos);
size_t next_cl100k(const unsigned char* b, size_t n, size_t pos);
size_t next_o200k(const unsigned char* b, size_t n, size_t pos);

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
