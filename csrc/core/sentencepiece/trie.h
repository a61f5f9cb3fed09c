// A static double-array trie over byte strings: the piece dictionary of the Unigram/BPE models and the
// user-defined-symbol matcher. Transition: child = base[node] + byte, valid iff check[child] == node.
// Built once, read-only afterwards (safe for concurrent readers). (A hash probe per candidate length was rejected:
// the lattice needs every dictionary prefix at every position, which the trie yields in one walk.)
#pragma once
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace fastlm {
namespace sp {

class DoubleArrayTrie {
 public:
  // keys must be unique and non-empty; values >= 0.
  void build(std::vector<std::pair<std::string, int32_t>> keys);
  bool empty() const { return units_.empty(); }

  // Calls f(length, value) for every key that is a prefix of s[0, n), shortest first.
  template <class F>
  void prefixes(const char* s, size_t n, F&& f) const {
    if (units_.empty()) return;
    uint32_t node = 0;
    const size_t size = units_.size();
    for (size_t i = 0; i < n; ++i) {
      uint32_t t = static_cast<uint32_t>(units_[node].base) + static_cast<uint8_t>(s[i]);
      if (t >= size || units_[t].check != static_cast<int32_t>(node)) return;
      node = t;
      int32_t v = values_[node];
      if (v >= 0) f(i + 1, v);
    }
  }
  // Longest key that is a prefix of s[0, n): returns its length (0 if none) and sets value.
  size_t longest_prefix(const char* s, size_t n, int32_t& value) const {
    size_t best = 0;
    prefixes(s, n, [&](size_t len, int32_t v) {
      best = len;
      value = v;
    });
    return best;
  }
  // Exact lookup; -1 if absent.
  int32_t find(std::string_view key) const;
  // True if some key starts with byte b (a cheap pre-check for the hot path).
  bool has_first_byte(uint8_t b) const { return first_byte_[b]; }

 private:
  struct Unit {
    int32_t base;
    int32_t check;
  };
  std::vector<Unit> units_;
  std::vector<int32_t> values_;
  bool first_byte_[256] = {};
};

}  // namespace sp
}  // namespace fastlm
