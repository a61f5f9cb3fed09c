// SentencePiece normalization, with an alignment back to the input bytes.
//
//   input --(user-defined symbols copied verbatim | longest charsmap rule | one UTF-8 char)--> pieces of text
//         --(remove_extra_whitespaces, add_dummy_prefix, ' ' -> U+2581 escape)--> normalized
//
// The charsmap is sentencepiece's "precompiled_charsmap" blob: uint32 little-endian trie size, a darts-clone
// double array (32-bit units) mapping input byte strings to offsets into a pool of NUL-terminated replacements.
// norm_to_orig has normalized.size() + 1 entries: the input byte offset each normalized byte came from.
#pragma once
#include <cstdint>
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

class SpNormalizer {
 public:
  explicit SpNormalizer(SpNormalizerOptions opts);  // throws ValueError on a malformed charsmap

  // Normalizes `in`; norm_to_orig may be null when offsets are not needed.
  void normalize(std::string_view in, std::string& out, std::vector<uint32_t>* norm_to_orig) const;

  // One normalization step at the start of s: returns the replacement and sets `consumed` (> 0).
  std::string_view normalize_prefix(std::string_view s, size_t& consumed) const;

  const SpNormalizerOptions& options() const { return opts_; }

 private:
  size_t charsmap_longest(const char* s, size_t n, uint32_t& value) const;

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
