#include "core/special.h"

#include <algorithm>
#include <cstring>

#include "core/error.h"

namespace fastlm {

SpecialMatcher::SpecialMatcher(std::vector<std::string> tokens) : tokens_(std::move(tokens)), by_first_(256) {
  for (uint32_t i = 0; i < tokens_.size(); ++i) {
    if (tokens_[i].empty()) throw ValueError("special tokens must not be empty");
    unsigned char c = static_cast<unsigned char>(tokens_[i][0]);
    first_[c] = true;
    by_first_[c].push_back(i);
  }
  int distinct = 0;
  for (int c = 0; c < 256; ++c) {
    if (first_[c]) {
      ++distinct;
      single_first_ = c;
    }
    auto& v = by_first_[c];
    std::stable_sort(v.begin(), v.end(), [&](uint32_t a, uint32_t b) { return tokens_[a].size() > tokens_[b].size(); });
  }
  if (distinct != 1) single_first_ = -1;
}

bool SpecialMatcher::find(std::string_view text, size_t from, const uint8_t* enabled, SpecialMatch& m) const {
  if (tokens_.empty()) return false;
  const char* base = text.data();
  size_t n = text.size();
  size_t i = from;
  while (i < n) {
    if (single_first_ >= 0) {
      const void* hit = std::memchr(base + i, single_first_, n - i);
      if (!hit) return false;
      i = static_cast<const char*>(hit) - base;
    } else {
      while (i < n && !first_[static_cast<unsigned char>(base[i])]) ++i;
      if (i >= n) return false;
    }
    for (uint32_t idx : by_first_[static_cast<unsigned char>(base[i])]) {
      if (enabled && !enabled[idx]) continue;
      const std::string& t = tokens_[idx];
      if (t.size() <= n - i && std::memcmp(base + i, t.data(), t.size()) == 0) {
        m.start = i;
        m.end = i + t.size();
        m.index = idx;
        return true;
      }
    }
    ++i;
  }
  return false;
}

}  // namespace fastlm
