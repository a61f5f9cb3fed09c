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
  std::vector<std::pair<std::string_view, uint32_t>> v(tokens);
  std::sort(v.begin(), v.end());
  for (size_t i = 1; i < v.size(); ++i)
    if (v[i].first == v[i - 1].first) throw ValueError("token trie: duplicate token bytes");

  size_t cap = 1024;
  cells_.assign(cap, Cell{0, kParentMask, kNone});
  std::vector<uint8_t> used(cap, 0);
  used[0] = 1;  // root
  auto grow = [&](size_t need) {
    if (need < cap) return;
    while (cap <= need) cap *= 2;
    cells_.resize(cap, Cell{0, kParentMask, kNone});
    used.resize(cap, 0);
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
    while (first_free < cap && used[first_free]) ++first_free;
    size_t base = 0;
    for (size_t f = first_free;; ++f) {
      grow(f + 256);
      if (used[f] || f <= labels[0]) continue;
      size_t b = f - labels[0];
      bool ok = true;
      for (size_t k = 1; k < labels.size() && ok; ++k) ok = !used[b + labels[k]];
      if (ok) {
        base = b;
        break;
      }
    }
    cells_[it.node].base = uint32_t(base);
    for (size_t k = 0; k < labels.size(); ++k) {
      size_t t = base + labels[k];
      used[t] = 1;
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

}  // namespace bpe
}  // namespace fastlm
