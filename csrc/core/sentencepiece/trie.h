// A static double-array trie over byte strings: the piece dictionary of the Unigram/BPE models and the
// user-defined-symbol matcher. Transition: child = base[node] + byte, valid iff label[child] == byte.
// Built once, read-only afterwards (safe for concurrent readers). (A hash probe per candidate length was rejected:
// the lattice needs every dictionary prefix at every position, which the trie yields in one walk.)
//
// Layout: one 16-byte unit per cell {base, label, value, payload}, so a walk step reads one cache line for the
// transition test, the key's value and its payload (the Unigram encoder keeps each piece's score there; a
// separate score array indexed by piece id costs a second, random, load per match). Each node with children owns
// a distinct base, so "the cell at base + byte carries label byte" is the whole transition test (no parent index
// to compare); childless nodes point at a trailing empty block. The array is padded so that base + 255 is always
// in range: a walk step needs no bounds test.
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
  struct Key {
    std::string key;
    int32_t value;
    float payload = 0.0f;
  };
  // keys must be unique and non-empty; values >= 0.
  void build(std::vector<std::pair<std::string, int32_t>> keys);
  void build(std::vector<Key> keys);
  bool empty() const { return units_.empty(); }

  // Calls f(length, value) for every key that is a prefix of s[0, n), shortest first.
  template <class F>
  void prefixes(const char* s, size_t n, F&& f) const {
    prefixes_with_payload(s, n, [&](size_t len, int32_t v, float) { f(len, v); });
  }
  // Same, with the key's payload: f(length, value, payload).
  template <class F>
  void prefixes_with_payload(const char* s, size_t n, F&& f) const {
    if (units_.empty()) return;
    const Unit* u = units_.data();
    const Unit* node = u;
    for (size_t i = 0; i < n; ++i) {
      const int32_t c = static_cast<uint8_t>(s[i]);
      node = u + node->base + c;
      if (node->label != c) return;
      if (node->value >= 0) f(i + 1, node->value, node->payload);
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
  // Incremental walks (the BPE merge loop extends a symbol's node by its right neighbour's bytes): the node
  // reached from `node` (root() to start) by s[0, n), or -1 if the walk leaves the trie.
  static constexpr int32_t root() { return 0; }
  int32_t walk(int32_t node, const char* s, size_t n) const {
    if (units_.empty() || node < 0) return -1;
    const Unit* u = units_.data();
    const Unit* x = u + node;
    for (size_t i = 0; i < n; ++i) {
      const int32_t c = static_cast<uint8_t>(s[i]);
      x = u + x->base + c;
      if (x->label != c) return -1;
    }
    return static_cast<int32_t>(x - u);
  }
  int32_t value_at(int32_t node) const { return units_[size_t(node)].value; }
  float payload_at(int32_t node) const { return units_[size_t(node)].payload; }
  // True if some key is longer than `prefix` and starts with it.
  bool extends(std::string_view prefix) const;
  // True if some key starts with byte b (a cheap pre-check for the hot path).
  bool has_first_byte(uint8_t b) const { return first_byte_[b]; }

 private:
  struct Unit {
    int32_t base;   // children at base + byte
    int32_t label;  // byte of the transition into this cell; -1: empty or root
    int32_t value;  // -1: no key ends here
    float payload;
  };
  std::vector<Unit> units_;
  bool first_byte_[256] = {};
};

}  // namespace sp
}  // namespace fastlm
