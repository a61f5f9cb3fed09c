// Special / added tokens, matched in one left-to-right pass (leftmost, then longest).
//
// A 256-entry first-byte filter skips ordinary text quickly (memchr when every token shares its first byte,
// as tiktoken's "<|...|>" tokens do); candidates are checked longest first.
#pragma once
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace fastlm {

struct SpecialMatch {
  size_t start = 0;
  size_t end = 0;
  uint32_t index = 0;  // index into the token list
};

class SpecialMatcher {
 public:
  SpecialMatcher() = default;
  explicit SpecialMatcher(std::vector<std::string> tokens);

  size_t size() const { return tokens_.size(); }
  const std::string& token(uint32_t i) const { return tokens_[i]; }
  const std::vector<std::string>& tokens() const { return tokens_; }

  // Finds the leftmost-longest occurrence at or after `from` among tokens with enabled[index] != 0
  // (enabled == nullptr: all). Returns false if none.
  bool find(std::string_view text, size_t from, const uint8_t* enabled, SpecialMatch& m) const;

 private:
  std::vector<std::string> tokens_;
  std::vector<std::vector<uint32_t>> by_first_;  // first byte -> token indices, longest first
  bool first_[256] = {};
  int single_first_ = -1;  // the shared first byte, or -1
};

}  // namespace fastlm
