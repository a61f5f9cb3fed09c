// Double-array trie over the vocabulary's token bytes: longest-prefix match at one dependent load per byte.
//
// Layout: node t is {base, check, id}; the child of node s for byte c is t = base[s] + c, valid iff
// check[t] == s. One 12-byte cell holds all three, so each step touches one cache line: the cell that validates
// the step also holds the base for the next one and the token id. Bit 31 of check marks a "matchable" node (a
// token the backtracking encoder may emit). o200k: 422K nodes, ~5.4 MiB of cells, the first levels L2-resident.
// (8-byte cells with the ids in a side array: the same bytes, plus one more miss per walk for the id.)
// Rejected: a hash table keyed by (node, byte) (no build-time packing, but a hash and ~16 MiB at load 0.5, with
// no locality between a node's children), and sorted child lists (a search per byte).
#pragma once
#include <cstddef>
#include <cstdint>
#include <string_view>
#include <utility>
#include <vector>

namespace fastlm {
namespace bpe {

class TokenTrie {
 public:
  static constexpr uint32_t kNone = 0xFFFFFFFFu;
  static constexpr uint32_t kMatchable = 0x80000000u;
  static constexpr uint32_t kParentMask = 0x7FFFFFFFu;

  // tokens[i] = (bytes, id); bytes non-empty and distinct. No node is matchable after build.
  void build(const std::vector<std::pair<std::string_view, uint32_t>>& tokens);

  // Node of the token with these exact bytes, or kNone.
  uint32_t node_of(const unsigned char* p, size_t n) const {
    uint32_t s = 0;
    for (size_t i = 0; i < n; ++i) {
      uint32_t t = cells_[s].base + p[i];
      if ((cells_[t].check & kParentMask) != s) return kNone;
      s = t;
    }
    return cells_[s].id == kNone ? kNone : s;
  }
  void set_matchable(uint32_t node) { cells_[node].check |= kMatchable; }
  bool matchable(uint32_t node) const { return cells_[node].check & kMatchable; }
  uint32_t id_at(uint32_t node) const { return cells_[node].id; }

  // Longest matchable token that is a prefix of p[0..n) (n >= 1; every single byte must be matchable). Returns its
  // id and sets len to its length. `whole` is set to the id of the token spelled by all of p[0..n) (matchable or
  // not), else kNone.
  uint32_t longest(const unsigned char* p, size_t n, uint32_t& len, uint32_t& whole) const {
    const Cell* c = cells_.data();
    uint32_t s = 0, best = 0;
    size_t i = 0, blen = 0;
    if (n >= 3 && (p[0] & 0xF0) == 0xE0 && (p[1] & 0xC0) == 0x80 && (p[2] & 0xC0) == 0x80 && !char3_.empty()) {
      uint32_t t = char3_[((p[0] & 0x0Fu) << 12) | ((p[1] & 0x3Fu) << 6) | (p[2] & 0x3Fu)];
      if (t != kNone) {
        s = best = t;
        i = blen = 3;
      }
    }
    for (; i < n; ++i) {
      uint32_t t = c[s].base + p[i];
      uint32_t ck = c[t].check;
      if ((ck & kParentMask) != s) break;
      s = t;
      bool m = ck & kMatchable;
      best = m ? t : best;
      blen = m ? i + 1 : blen;
    }
    whole = i == n ? c[s].id : kNone;
    len = uint32_t(blen);
    return c[best].id;
  }

  // Calls f(node, depth) for every token node on the path of p[0..n) (depth = bytes consumed, 1..n), in order.
  template <class F>
  void for_each_prefix(const unsigned char* p, size_t n, F&& f) const {
    uint32_t s = 0;
    for (size_t i = 0; i < n; ++i) {
      uint32_t t = cells_[s].base + p[i];
      if ((cells_[t].check & kParentMask) != s) return;
      s = t;
      if (cells_[s].id != kNone) f(s, i + 1);
    }
  }

  size_t cells() const { return cells_.size(); }

  // Fills char3_ from the current matchable bits (call once they are final).
  void build_char_table();

 private:
  struct Cell {
    uint32_t base;
    uint32_t check;  // parent index | kMatchable; kParentMask for a free cell (and the root)
    uint32_t id;     // token id, or kNone
  };
  std::vector<Cell> cells_;
  // Three-byte UTF-8 characters (CJK, kana, Hangul: most of their text) in one step: the 16 payload bits of a
  // lead byte E0..EF and two continuation bytes -> the node after those three bytes when it is matchable, else
  // kNone (then the walk goes byte by byte). Saves two dependent loads per token on Japanese; 256 KiB.
  std::vector<uint32_t> char3_;
};

}  // namespace bpe
}  // namespace fastlm
