// A static double-array trie over byte strings: the piece dictionary of the Unigram/BPE models and the
// user-defined-symbol matcher. Transition: child = base[node] + byte, valid iff label[child] == byte.
// Built once, read-only afterwards (safe for concurrent readers). (A hash probe per candidate length was rejected:
// the lattice needs every dictionary prefix at every position, which the trie yields in one walk.)
//
// Layout: one 8-byte unit per cell {base << 9 | 1 << 8 | label, value}; payloads (the Unigram/BPE piece scores)
// sit in a separate array indexed by value, read only on a match. Each node with children owns a distinct base,
// so "the cell at base + byte is live with label byte" is the whole transition test (no parent index to
// compare); childless nodes point at a trailing empty block. The array is padded so that base + 255 is always in
// range: a walk step needs no bounds test. (16-byte units holding the payload inline were tried: the walks are
// latency-bound, and halving the units' footprint mattered more than saving the payload load.)
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
  // keys must be unique and non-empty; values >= 0. The payload belongs to the value: keys sharing a value must
  // share its payload.
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
    const float* pay = payload_.data();
    uint32_t bl = u[0].bl;
    for (size_t i = 0; i < n; ++i) {
      const uint32_t c = static_cast<uint8_t>(s[i]);
      const Unit& x = u[(bl >> 9) + c];
      if ((x.bl & 0x1FF) != (0x100 | c)) return;
      bl = x.bl;
      if (x.value >= 0) f(i + 1, x.value, pay[x.value]);
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
    uint32_t at = uint32_t(node);
    for (size_t i = 0; i < n; ++i) {
      const uint32_t c = static_cast<uint8_t>(s[i]);
      const uint32_t next = (u[at].bl >> 9) + c;
      if ((u[next].bl & 0x1FF) != (0x100 | c)) return -1;
      at = next;
    }
    return static_cast<int32_t>(at);
  }
  int32_t value_at(int32_t node) const { return units_[size_t(node)].value; }
  // Payload of a node holding a key (value_at(node) >= 0).
  float payload_at(int32_t node) const { return payload_[size_t(units_[size_t(node)].value)]; }
  // True if some key is longer than `prefix` and starts with it.
  bool extends(std::string_view prefix) const;
  // True if some key starts with byte b (a cheap pre-check for the hot path).
  bool has_first_byte(uint8_t b) const { return first_byte_[b]; }

  // Raw cells, for hand-written walks: from a cell with bits `bl`, byte c leads to cell (bl >> 9) + c, which is
  // valid iff its (bl & 0x1FF) == (0x100 | c). units()[0] is the root; null when the trie is empty.
  struct Unit {
    uint32_t bl;    // children base << 9 | live << 8 | byte of the transition into this cell (0: empty, root)
    int32_t value;  // -1: no key ends here
  };
  const Unit* units() const { return units_.empty() ? nullptr : units_.data(); }
  const float* payloads() const { return payload_.data(); }

 private:
  std::vector<Unit> units_;
  std::vector<float> payload_;  // by value
  bool first_byte_[256] = {};
};

}  // namespace sp
}  // namespace fastlm
