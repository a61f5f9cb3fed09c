#include "core/bpe/trie.h"

#include <algorithm>

#include "core/error.h"

namespace fastlm {
namespace bpe {

void TokenTrie::build(const std::vector<std::pair<std::string_view, uint32_t>>& tokens) {
  // Tokens sorted by bytes: the strings below a node form a contiguous range [lo, hi), and its children are the
  // distinct bytes at position `depth` in that range, already in order. Nodes are placed breadth-first; each
  // node gets the smallest base whose child cells are all free (first fit over a free-cell scan). BFS order puts
  // the short, hot prefixes at low indices, close together.
  // Sorted by an 8-byte big-endian prefix key first (one integer compare decides almost every comparison;
  // sorting the string_views directly was ~200M instructions for o200k, most of the build), ties in full.
  std::vector<std::pair<uint64_t, uint32_t>> keyed(tokens.size());
  for (size_t i = 0; i < tokens.size(); ++i) {
    uint64_t k = 0;
    std::string_view t = tokens[i].first;
    for (size_t j = 0; j < 8; ++j) k = (k << 8) | (j < t.size() ? static_cast<unsigned char>(t[j]) : 0u);
    keyed[i] = {k, uint32_t(i)};
  }
  std::sort(keyed.begin(), keyed.end());
  auto by_bytes = [&](const auto& x, const auto& y) { return tokens[x.second].first < tokens[y.second].first; };
  for (size_t i = 0, j; i < keyed.size(); i = j) {  // runs sharing the first 8 bytes: order them in full
    for (j = i + 1; j < keyed.size() && keyed[j].first == keyed[i].first;) ++j;
    if (j - i > 1) std::sort(keyed.begin() + i, keyed.begin() + j, by_bytes);
  }
  std::vector<std::pair<std::string_view, uint32_t>> v(tokens.size());
  for (size_t i = 0; i < keyed.size(); ++i) v[i] = tokens[keyed[i].second];
  for (size_t i = 1; i < v.size(); ++i)
    if (v[i].first == v[i - 1].first) throw ValueError("token trie: duplicate token bytes");

  size_t cap = 1024;
  cells_.assign(cap, Cell{0, kParentMask, kNone});
  std::vector<uint64_t> used(cap / 64, 0);  // bitmap of taken cells: free cells are found 64 at a time
  auto is_used = [&](size_t i) { return (used[i >> 6] >> (i & 63)) & 1; };
  auto take = [&](size_t i) { used[i >> 6] |= 1ULL << (i & 63); };
  take(0);  // root
  auto grow = [&](size_t need) {
    if (need < cap) return;
    while (cap <= need) cap *= 2;
    cells_.resize(cap, Cell{0, kParentMask, kNone});
    used.resize(cap / 64, 0);
  };
  // First free cell at or after i.
  auto next_free = [&](size_t i) {
    for (;;) {
      grow(i + 64);
      uint64_t w = ~used[i >> 6] & (~0ULL << (i & 63));
      if (w) return (i & ~size_t(63)) + size_t(__builtin_ctzll(w));
      i = (i | 63) + 1;
    }
  };

  struct Item {
    uint32_t lo, hi, depth, node;
  };
  std::vector<Item> queue;
  queue.push_back(Item{0, uint32_t(v.size()), 0, 0});
  size_t first_free = 1;
  size_t top = 1;  // 1 + highest used cell
  std::vector<unsigned char> labels;
  std::vector<uint32_t> starts;
  for (size_t q = 0; q < queue.size(); ++q) {
    Item it = queue[q];
    uint32_t lo = it.lo;
    if (lo < it.hi && v[lo].first.size() == it.depth) {
      cells_[it.node].id = v[lo].second;
      ++lo;
    }
    if (lo == it.hi) continue;  // leaf: base stays 0
    labels.clear();
    starts.clear();
    for (uint32_t i = lo; i < it.hi; ++i) {
      unsigned char c = static_cast<unsigned char>(v[i].first[it.depth]);
      if (labels.empty() || labels.back() != c) {
        labels.push_back(c);
        starts.push_back(i);
      }
    }
    starts.push_back(it.hi);
    first_free = next_free(first_free);
    // First fit among the next few free cells; a node whose children do not fit there goes past the highest
    // taken cell (all free), leaving its gaps to the many one-child nodes that follow. Unbounded first fit
    // cost ~12 trials per node (o200k: 5M, a third of the load time) for ~no gain in size.
    size_t base = size_t(top) + 1 > labels[0] ? size_t(top) + 1 - labels[0] : 1;
    size_t f = next_free(std::max<size_t>(first_free, size_t(labels[0]) + 1));
    for (int trial = 0; trial < 32; ++trial, f = next_free(f + 1)) {
      grow(f + 256);
      size_t b = f - labels[0];
      bool ok = true;
      for (size_t k = 1; k < labels.size() && ok; ++k) ok = !is_used(b + labels[k]);
      if (ok) {
        base = b;
        break;
      }
    }
    grow(base + 256);
    cells_[it.node].base = uint32_t(base);
    for (size_t k = 0; k < labels.size(); ++k) {
      size_t t = base + labels[k];
      take(t);
      cells_[t].check = it.node;
      top = std::max(top, t + 1);
      queue.push_back(Item{starts[k], starts[k + 1], it.depth + 1, uint32_t(t)});
    }
    if (top + 256 >= size_t(kParentMask)) throw ValueError("token trie: vocabulary too large");
  }
  // Any base + byte must stay inside the array: bases are below `top`, so keep top + 256 cells.
  cells_.resize(top + 256, Cell{0, kParentMask, kNone});
  cells_.shrink_to_fit();
}

void TokenTrie::build_char_table() {
  char3_.assign(0x10000, kNone);
  for (uint32_t v = 0; v < 0x10000; ++v) {
    unsigned char b[3] = {static_cast<unsigned char>(0xE0 | (v >> 12)), static_cast<unsigned char>(0x80 | ((v >> 6) & 0x3F)),
                          static_cast<unsigned char>(0x80 | (v & 0x3F))};
    uint32_t s = 0;
    bool ok = true;
    for (unsigned char x : b) {
      uint32_t t = cells_[s].base + x;
      if ((cells_[t].check & kParentMask) != s) {
        ok = false;
        break;
      }
      s = t;
    }
    if (ok && matchable(s)) char3_[v] = s;
  }
}

}  // namespace bpe
}  // namespace fastlm
