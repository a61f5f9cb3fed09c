// A normalized string with its alignment to the original text, and the one primitive every component uses to
// rewrite it.
//
// NormStr: UTF-8 bytes `s` (an undecodable byte of bytes input counts as a one-byte character) and, for every byte,
// the original byte range [a0[i], a1[i]) it came from (absolute offsets into the text given to the encoder). All
// bytes of one character share one range. A token over normalized bytes [b, e) maps to the original range
// [a0[b], a1[e - 1]), which is how the reference computes offsets (first byte's start, last byte's end; not a
// min/max).
//
// Rewriter reproduces the reference's alignment rule for a rewrite expressed as a walk over the old characters:
//   keep()       the next old character, unchanged
//   replace(c)   the next old character becomes c: c takes the old character's range
//   insert(c)    a new character: it takes the range of the last old byte consumed before it (the old byte before
//                the cursor), or the empty range at `origin` when nothing precedes it
//   skip()       the next old character is removed
// A component that maps an old character to several new ones emits replace() for the first and insert() for the
// rest; one that maps several old characters to one emits replace() then skip(). That is exactly the
// reference's (char, change) transformation list, so offsets agree with it bit for bit, including its quirks
// (a character that absorbs the next one keeps only its own range).
// `origin` is the original offset where this string starts (the reference's original_shift): pre-tokenizer
// pieces carry their own, and a rule such as Metaspace's prepend_scheme "first" reads it.
#pragma once
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "core/unicode.h"

namespace fastlm {
namespace pipeline {

struct NormStr {
  std::string s;
  std::vector<uint32_t> a0, a1;
  uint32_t origin = 0;

  size_t size() const { return s.size(); }
  bool empty() const { return s.empty(); }
  void clear() {
    s.clear();
    a0.clear();
    a1.clear();
  }
  // Identity alignment of original text `text` (at absolute offset `base`).
  void assign(std::string_view text, uint32_t base);
  // Appends bytes [b, e) of `src` with their alignments.
  void append_from(const NormStr& src, size_t b, size_t e);
  void push_char(uint32_t cp, uint32_t s0, uint32_t s1);  // appends cp's UTF-8 with range [s0, s1)
};

// Decodes the character at byte i of s: returns its code point (unicode::kInvalid for a bad byte), sets len.
inline uint32_t char_at(std::string_view s, size_t i, int& len) {
  const auto* p = reinterpret_cast<const unsigned char*>(s.data());
  if (p[i] < 0x80) {
    len = 1;
    return p[i];
  }
  uint32_t cp;
  len = unicode::decode(p + i, p + s.size(), cp);
  return cp;
}

class Rewriter {
 public:
  // Rewrites `in` into `out` (out is cleared; out.origin = in.origin). `in` and `out` must differ.
  Rewriter(const NormStr& in, NormStr& out) : in_(in), out_(out) {
    out_.clear();
    out_.origin = in.origin;
    out_.s.reserve(in.s.size() + 8);
    out_.a0.reserve(in.s.size() + 8);
    out_.a1.reserve(in.s.size() + 8);
  }
  bool done() const { return pos_ >= in_.s.size(); }
  size_t pos() const { return pos_; }
  // The next old character (do not call when done()).
  uint32_t peek(int& len) const { return char_at(in_.s, pos_, len); }

  void keep() {
    int len;
    peek(len);
    keep_bytes(size_t(len));
  }
  // Copies the next n old bytes unchanged (whole characters).
  void keep_bytes(size_t n) {
    out_.append_from(in_, pos_, pos_ + n);
    pos_ += n;
  }
  void replace(uint32_t cp) {
    int len;
    peek(len);
    out_.push_char(cp, in_.a0[pos_], in_.a1[pos_]);
    pos_ += size_t(len);
  }
  void insert(uint32_t cp) {
    if (pos_ == 0)
      out_.push_char(cp, in_.origin, in_.origin);
    else
      out_.push_char(cp, in_.a0[pos_ - 1], in_.a1[pos_ - 1]);
  }
  void skip() {
    int len;
    peek(len);
    pos_ += size_t(len);
  }
  void skip_bytes(size_t n) { pos_ += n; }
  // The old character replaced by new ones: replace() for the first, insert() for the rest (n may be 0: removed).
  void map(const uint32_t* cps, size_t n) {
    if (n == 0) {
      skip();
      return;
    }
    replace(cps[0]);
    for (size_t i = 1; i < n; ++i) insert(cps[i]);
  }
  void finish() {
    if (pos_ < in_.s.size()) keep_bytes(in_.s.size() - pos_);
  }

 private:
  const NormStr& in_;
  NormStr& out_;
  size_t pos_ = 0;
};

}  // namespace pipeline
}  // namespace fastlm
