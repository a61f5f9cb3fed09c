// SentencePiece normalization, with an alignment back to the input bytes.
//
//   input --(user-defined symbols copied verbatim | longest charsmap rule | one UTF-8 char)--> pieces of text
//         --(remove_extra_whitespaces, add_dummy_prefix, ' ' -> U+2581 escape)--> normalized
//
// The charsmap is sentencepiece's "precompiled_charsmap" blob: uint32 little-endian trie size, a darts-clone
// double array (32-bit units) mapping input byte strings to offsets into a pool of NUL-terminated replacements.
// norm_to_orig has normalized.size() + 1 entries: the input byte offset each normalized byte came from.
//
// Fast path: a table over the Basic Multilingual Plane, built once, gives for each code point either "maps to
// itself", "maps to this pool string", or "slow path" (a user-defined symbol or a longer charsmap rule could start
// with it, or the entry does not fit). An entry is exact because a character whose charsmap node has no children
// can only match rules that end inside it, so the longest match is a function of the character alone. Text made of
// such characters (almost all text) costs one table load per character instead of a trie walk.
// (A per-call memo of recent characters was rejected: it needs hashing and invalidation, and is not shareable
// across threads; a 256 KB read-only table is.)
#pragma once
#include <algorithm>
#include <cstdint>
#include <cstring>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "core/sentencepiece/trie.h"

namespace fastlm {

struct SpNormalizerOptions {
  std::string precompiled_charsmap;  // empty: identity
  bool add_dummy_prefix = true;
  bool remove_extra_whitespaces = true;
  bool escape_whitespaces = true;
  bool treat_whitespace_as_suffix = false;
  std::vector<std::string> user_defined;  // copied through unnormalized (longest match first)
};

// Normalizer output that grows without writing its bytes first (std::string::resize zero-fills the 3x-sized
// worst-case buffer on every call, a third of the normalizer's time on long lines). NUL-terminated.
struct SpNormBuffer {
  std::unique_ptr<char[]> data;
  size_t cap = 0;
  size_t size = 0;
  std::vector<uint32_t> n2o;  // filled when offsets are requested: size + 1 entries
  std::string_view view() const { return std::string_view(data.get(), size); }
  // Room for n bytes plus the terminator, keeping the first `size` bytes.
  void reserve(size_t n) {
    if (n + 1 <= cap) return;
    size_t c = std::max(n + 1, cap * 2);
    std::unique_ptr<char[]> d(new char[c]);
    if (size) std::memcpy(d.get(), data.get(), size);
    data = std::move(d);
    cap = c;
  }
};

class SpNormalizer {
 public:
  explicit SpNormalizer(SpNormalizerOptions opts);  // throws ValueError on a malformed charsmap

  // Normalizes `in`; norm_to_orig may be null when offsets are not needed.
  void normalize(std::string_view in, std::string& out, std::vector<uint32_t>* norm_to_orig) const;
  // The same into a reusable buffer (the encoders' path); out.n2o is filled when `offsets`.
  void normalize(std::string_view in, SpNormBuffer& out, bool offsets) const;

  // One normalization step at the start of s: returns the replacement and sets `consumed` (> 0).
  std::string_view normalize_prefix(std::string_view s, size_t& consumed) const;

  const SpNormalizerOptions& options() const { return opts_; }

 private:
  size_t charsmap_longest(const char* s, size_t n, uint32_t& value) const;
  void build_table();
  template <bool kOffsets>
  void normalize_impl(std::string_view in, SpNormBuffer& out) const;

  // BMP entry: bits 0-1 kind. 0: maps to itself; 1: maps to the pool string at offset bits 8-31, length bits 2-7;
  // 2: a longer rule continues past the character (ASCII letters start composition rules): ext_[bits 2-31] holds
  // the charsmap node reached and the character-alone entry (kind 0/1), which applies unless the next byte is a
  // child of that node; 3: slow path.
  static constexpr uint32_t kSlow = 3;
  struct Ext {
    uint32_t node;   // darts index whose children are tested with the next byte
    uint32_t alone;  // the entry for the character alone
  };
  std::vector<uint32_t> table_;
  std::vector<Ext> ext_;
  // ASCII bytes copied by the run loop: 1 always (maps to itself, not a space), 2 when the next byte is ASCII too
  // (a longer rule can only continue with a non-ASCII byte, e.g. a combining accent), 0 never.
  uint8_t ascii_run_[256] = {};
  // The run loop of the ids-only path takes plain ASCII (ascii_run_ != 0) and spaces that map to themselves:
  // run_step_[previous byte was a collapsing space][byte] = output length (kRunLen bits) | the new "previous
  // byte was a collapsing space" (bit kRunSpaceShift) | kRunStop for a byte the loop leaves to the general path.
  // Each byte stores its 4 run_bytes_ and advances by its length, so a space costs no branch.
  static constexpr uint8_t kRunLen = 7, kRunSpaceShift = 3, kRunStop = 0x80;
  uint8_t run_step_[2][256] = {};
  char run_bytes_[256][4] = {};

  SpNormalizerOptions opts_;
  const uint32_t* units_ = nullptr;  // darts units (aligned copy in unit_store_)
  size_t num_units_ = 0;
  std::vector<uint32_t> unit_store_;
  std::string pool_;            // replacement strings, NUL-terminated
  bool first_byte_hit_[256] = {};  // bytes that can start a charsmap rule
  sp::DoubleArrayTrie user_;
  bool has_user_ = false;
};

}  // namespace fastlm
