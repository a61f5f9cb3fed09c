// Scanners for the published byte-level BPE pre-tokenizer patterns. See pretokenize.h.
//
// Patterns mirrored (as published with tiktoken):
//   r50k/p50k: 's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+
//   cl100k:    '(?i:[sdmt]|ll|ve|re)|[^\r\n\p{L}\p{N}]?+\p{L}++|\p{N}{1,3}+| ?[^\s\p{L}\p{N}]++[\r\n]*+|\s++$
//              |\s*[\r\n]|\s+(?!\S)|\s
//   o200k:     [^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]*[\p{Ll}\p{Lm}\p{Lo}\p{M}]+(?i:'s|'t|'re|'ve|'m|'ll|'d)?
//              |[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]+[\p{Ll}\p{Lm}\p{Lo}\p{M}]*(?i:'s|'t|'re|'ve|'m|'ll|'d)?
//              |\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n/]*|\s*[\r\n]+|\s+(?!\S)|\s+
// Alternatives are tried in order at each position; a scanner returns the end of the first one that matches.
#include "core/pretokenize.h"

namespace fastlm {
namespace pretok {

namespace {

constexpr uint8_t kOtherMask = kL | kN | kWS;  // "other" = [^\s\p{L}\p{N}]

struct ClassTable {
  uint8_t by_gc[32];
  ClassTable() {
    using namespace unicode;
    for (int g = 0; g < 32; ++g) by_gc[g] = 0;
    for (int g : {Lu, Lt}) by_gc[g] = kL | kUp;
    by_gc[Ll] = kL | kLo;
    for (int g : {Lm, Lo}) by_gc[g] = kL | kUp | kLo;
    for (int g : {Mn, Mc, Me}) by_gc[g] = kM | kUp | kLo;
    for (int g : {Nd, Nl, No}) by_gc[g] = kN;
  }
};
const ClassTable kTable;

inline size_t run_mask(const unsigned char* b, size_t n, size_t p, uint8_t mask) {
  const unsigned char* end = b + n;
  while (p < n) {
    int len;
    if (!(cls(b + p, end, len) & mask)) break;
    p += len;
  }
  return p;
}

// [^\s\p{L}\p{N}]+ continuation.
inline size_t run_other(const unsigned char* b, size_t n, size_t p) {
  const unsigned char* end = b + n;
  while (p < n) {
    int len;
    if (cls(b + p, end, len) & kOtherMask) break;
    p += len;
  }
  return p;
}

// Whitespace run starting at p (cp at p is whitespace): returns its end; sets last_start (start of its last code
// point) and last_crlf (offset of its last \r or \n, or SIZE_MAX).
inline size_t ws_run(const unsigned char* b, size_t n, size_t p, size_t& last_start, size_t& last_crlf) {
  const unsigned char* end = b + n;
  last_crlf = SIZE_MAX;
  last_start = p;
  while (p < n) {
    int len;
    uint8_t k = cls(b + p, end, len);
    if (!(k & kWS)) break;
    if (k & kCRLF) last_crlf = p;
    last_start = p;
    p += len;
  }
  return p;
}

// o200k alternative 1 from s:  [Up]*[Lo]+ contraction?   Returns SIZE_MAX on failure.
inline size_t o200k_alt1(const unsigned char* b, size_t n, size_t s) {
  const unsigned char* end = b + n;
  size_t p = s;
  size_t last_lo_end = SIZE_MAX;  // end of the last [Lo]-class code point inside the [Up]* run
  while (p < n) {
    int len;
    uint8_t k = cls(b + p, end, len);
    if (!(k & kUp)) break;
    p += len;
    if (k & kLo) last_lo_end = p;
  }
  size_t u = p;
  size_t w = run_mask(b, n, u, kLo);
  size_t e;
  if (w > u) {
    e = w;  // greedy [Up]* then greedy [Lo]+
  } else if (last_lo_end != SIZE_MAX) {
    e = last_lo_end;  // backtrack [Up]* to its last code point that is also [Lo]
  } else {
    return SIZE_MAX;
  }
  if (e < n && b[e] == '\'') e += contraction_ci(b, n, e + 1) ? 1 + contraction_ci(b, n, e + 1) : 0;
  return e;
}

// o200k alternative 2 from s:  [Up]+[Lo]* contraction?
inline size_t o200k_alt2(const unsigned char* b, size_t n, size_t s) {
  size_t u = run_mask(b, n, s, kUp);
  if (u == s) return SIZE_MAX;
  size_t e = run_mask(b, n, u, kLo);
  if (e < n && b[e] == '\'') e += contraction_ci(b, n, e + 1) ? 1 + contraction_ci(b, n, e + 1) : 0;
  return e;
}

}  // namespace


uint8_t class_of_cp(uint32_t cp) {
  uint8_t pr = unicode::props(cp);
  uint8_t k = kTable.by_gc[pr & 0x1f];
  if (pr & unicode::kWhiteSpaceBit) k |= kWS;
  if (cp == '\r' || cp == '\n') k |= kCRLF;
  return k;
}

bool ascii_table_consistent() {
  for (uint32_t c = 0; c < 128; ++c)
    if (kAsciiClass.v[c] != class_of_cp(c)) return false;
  return true;
}

uint8_t g_bmp_class[0x10000];

namespace {
// Defined after kTable in this file, so it runs after it (the Unicode tables are constant-initialized).
struct BmpClassInit {
  BmpClassInit() {
    for (uint32_t cp = 0; cp < 0x10000; ++cp) g_bmp_class[cp] = class_of_cp(cp);
  }
};
const BmpClassInit kBmpClassInit;
}  // namespace

bool bmp_table_consistent() {
  for (uint32_t cp = 0; cp < 0x10000; ++cp)
    if (g_bmp_class[cp] != class_of_cp(cp)) return false;
  return true;
}

size_t next_r50k_general(const unsigned char* b, size_t n, size_t pos) {
  const unsigned char* end = b + n;
  unsigned char c = b[pos];
  if (c == '\'' && pos + 1 < n) {  // 's|'t|'re|'ve|'m|'ll|'d  (case-sensitive)
    unsigned char d = b[pos + 1];
    if (d == 's' || d == 't' || d == 'm' || d == 'd') return pos + 2;
    if (pos + 2 < n) {
      unsigned char d2 = b[pos + 2];
      if ((d == 'r' && d2 == 'e') || (d == 'v' && d2 == 'e') || (d == 'l' && d2 == 'l')) return pos + 3;
    }
  }
  int len;
  uint8_t k = cls(b + pos, end, len);
  size_t s = pos;
  if (c == ' ' && pos + 1 < n) {  // " ?" prefix: taken when the next code point starts a letter/number/other run
    int len2;
    uint8_t k2 = cls(b + pos + 1, end, len2);
    if (!(k2 & kWS)) {
      s = pos + 1;
      k = k2;
      len = len2;
    }
  }
  if (k & kL) return run_mask(b, n, s + len, kL);    //  ?\p{L}+
  if (k & kN) return run_mask(b, n, s + len, kN);    //  ?\p{N}+
  if (!(k & kWS)) return run_other(b, n, s + len);   //  ?[^\s\p{L}\p{N}]+
  size_t last_start, last_crlf;
  size_t e = ws_run(b, n, pos, last_start, last_crlf);
  if (e == n) return e;                  // \s+(?!\S) at the end of the text
  if (last_start > pos) return last_start;  // \s+(?!\S): leave the last space to the next piece
  return e;                              // \s+ (a single whitespace code point before \S)
}

size_t next_cl100k_general(const unsigned char* b, size_t n, size_t pos) {
  const unsigned char* end = b + n;
  unsigned char c = b[pos];
  if (c == '\'') {  // '(?i:[sdmt]|ll|ve|re)
    size_t m = contraction_ci(b, n, pos + 1);
    if (m) return pos + 1 + m;
  }
  int len;
  uint8_t k = cls(b + pos, end, len);
  if (k & kL) return run_mask(b, n, pos + len, kL);  // \p{L}++ (empty prefix)
  if (!(k & (kCRLF | kN)) && pos + len < n) {        // [^\r\n\p{L}\p{N}]?+\p{L}++
    int len2;
    if (cls(b + pos + len, end, len2) & kL) return run_mask(b, n, pos + len + len2, kL);
  }
  if (k & kN) {  // \p{N}{1,3}+
    size_t p = pos + len;
    for (int i = 1; i < 3 && p < n; ++i) {
      int l2;
      if (!(cls(b + p, end, l2) & kN)) break;
      p += l2;
    }
    return p;
  }
  //  ?[^\s\p{L}\p{N}]++[\r\n]*+
  size_t s = SIZE_MAX;
  if (c == ' ' && pos + 1 < n) {
    int len2;
    uint8_t k2 = cls(b + pos + 1, end, len2);
    if (!(k2 & kOtherMask)) s = run_other(b, n, pos + 1 + len2);
  }
  if (s == SIZE_MAX && !(k & kOtherMask)) s = run_other(b, n, pos + len);
  if (s != SIZE_MAX) {
    while (s < n && (b[s] == '\r' || b[s] == '\n')) ++s;
    return s;
  }
  size_t last_start, last_crlf;
  size_t e = ws_run(b, n, pos, last_start, last_crlf);
  if (e == n) return e;                        // \s++$
  if (last_crlf != SIZE_MAX) return last_crlf + 1;  // \s*[\r\n]
  if (last_start > pos) return last_start;     // \s+(?!\S)
  return e;                                    // \s
}

size_t next_o200k_general(const unsigned char* b, size_t n, size_t pos) {
  const unsigned char* end = b + n;
  unsigned char c = b[pos];
  int len;
  uint8_t k = cls(b + pos, end, len);
  if (!(k & (kCRLF | kL | kN))) {
    // [^\r\n\p{L}\p{N}]? taken first; a mark can also start the letter runs itself when the prefix is not taken.
    size_t s1 = pos + len;
    size_t e = o200k_alt1(b, n, s1);
    if (e != SIZE_MAX) return e;
    if (k & kM) {
      e = o200k_alt1(b, n, pos);
      if (e != SIZE_MAX) return e;
    }
    e = o200k_alt2(b, n, s1);
    if (e != SIZE_MAX) return e;
    if (k & kM) {
      e = o200k_alt2(b, n, pos);
      if (e != SIZE_MAX) return e;
    }
  } else if (k & kL) {
    size_t e = o200k_alt1(b, n, pos);
    if (e != SIZE_MAX) return e;
    e = o200k_alt2(b, n, pos);
    if (e != SIZE_MAX) return e;
  }
  if (k & kN) {  // \p{N}{1,3}
    size_t p = pos + len;
    for (int i = 1; i < 3 && p < n; ++i) {
      int l2;
      if (!(cls(b + p, end, l2) & kN)) break;
      p += l2;
    }
    return p;
  }
  //  ?[^\s\p{L}\p{N}]+[\r\n/]*
  size_t s = SIZE_MAX;
  if (c == ' ' && pos + 1 < n) {
    int len2;
    uint8_t k2 = cls(b + pos + 1, end, len2);
    if (!(k2 & kOtherMask)) s = run_other(b, n, pos + 1 + len2);
  }
  if (s == SIZE_MAX && !(k & kOtherMask)) s = run_other(b, n, pos + len);
  if (s != SIZE_MAX) {
    while (s < n && (b[s] == '\r' || b[s] == '\n' || b[s] == '/')) ++s;
    return s;
  }
  size_t last_start, last_crlf;
  size_t e = ws_run(b, n, pos, last_start, last_crlf);
  if (last_crlf != SIZE_MAX) return last_crlf + 1;  // \s*[\r\n]+
  if (e == n) return e;                           // \s+(?!\S) at the end
  if (last_start > pos) return last_start;        // \s+(?!\S)
  return e;                                       // \s+
}

}  // namespace pretok
}  // namespace fastlm
