// UTF-8 decoding/encoding and Unicode general-category lookups.
//
// The category table is generated (tools/gen_unicode.py); lookups are two array reads. Decoding is lenient by
// design: every byte sequence decodes, an invalid byte becomes one "code point" kInvalid of length 1, so scanners
// work on arbitrary bytes (the bytes API) and still cover the input exactly.
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace fastlm {
namespace unicode {

// General categories, in the order of tools/gen_unicode.py.
enum GC : uint8_t {
  Cn, Lu, Ll, Lt, Lm, Lo, Mn, Mc, Me, Nd, Nl, No, Pc, Pd, Ps, Pe, Pi, Pf, Po, Sm, Sc, Sk, So, Zs, Zl, Zp, Cc, Cf, Cs, Co
};

constexpr uint32_t kInvalid = 0xFFFFFFFFu;  // an undecodable byte
constexpr uint8_t kWhiteSpaceBit = 0x20;

// Raw property byte: bits 0-4 category, bit 5 White_Space. kInvalid gets Cn, not whitespace.
uint8_t props(uint32_t cp);
inline GC category(uint32_t cp) { return static_cast<GC>(props(cp) & 0x1f); }
inline bool is_whitespace(uint32_t cp) { return (props(cp) & kWhiteSpaceBit) != 0; }
inline bool is_letter_gc(GC g) { return g >= Lu && g <= Lo; }
inline bool is_mark_gc(GC g) { return g >= Mn && g <= Me; }
inline bool is_number_gc(GC g) { return g >= Nd && g <= No; }
inline bool is_punct_gc(GC g) { return g >= Pc && g <= Po; }

// Decodes one code point at p (p < end). Returns its byte length (1..4). Invalid or truncated sequences,
// overlong forms and surrogates yield cp = kInvalid with length 1.
inline int decode(const unsigned char* p, const unsigned char* end, uint32_t& cp) {
  unsigned char c = p[0];
  if (c < 0x80) {
    cp = c;
    return 1;
  }
  ptrdiff_t avail = end - p;
  if (c >= 0xC2 && c <= 0xDF) {
    if (avail >= 2 && (p[1] & 0xC0) == 0x80) {
      cp = (uint32_t(c & 0x1F) << 6) | (p[1] & 0x3F);
      return 2;
    }
  } else if (c >= 0xE0 && c <= 0xEF) {
    if (avail >= 3 && (p[1] & 0xC0) == 0x80 && (p[2] & 0xC0) == 0x80) {
      uint32_t v = (uint32_t(c & 0x0F) << 12) | (uint32_t(p[1] & 0x3F) << 6) | (p[2] & 0x3F);
      if (v >= 0x800 && (v < 0xD800 || v > 0xDFFF)) {
        cp = v;
        return 3;
      }
    }
  } else if (c >= 0xF0 && c <= 0xF4) {
    if (avail >= 4 && (p[1] & 0xC0) == 0x80 && (p[2] & 0xC0) == 0x80 && (p[3] & 0xC0) == 0x80) {
      uint32_t v = (uint32_t(c & 0x07) << 18) | (uint32_t(p[1] & 0x3F) << 12) | (uint32_t(p[2] & 0x3F) << 6) |
                   (p[3] & 0x3F);
      if (v >= 0x10000 && v <= 0x10FFFF) {
        cp = v;
        return 4;
      }
    }
  }
  cp = kInvalid;
  return 1;
}

// Appends the UTF-8 encoding of cp (cp must be a scalar value or a surrogate, which is encoded as-is).
void append_utf8(std::string& out, uint32_t cp);

// True if s is entirely valid UTF-8.
bool is_valid_utf8(std::string_view s);

// Number of code points in valid UTF-8 (counts lead bytes).
size_t count_codepoints(std::string_view s);

}  // namespace unicode
}  // namespace fastlm
