// Double-array construction: keys sorted, nodes placed depth-first with a first-fit search for each node's base.
#include "core/sentencepiece/trie.h"

#include <algorithm>

#include "core/error.h"

namespace fastlm {
namespace sp {

namespace {

struct Builder {
  std::vector<DoubleArrayTrie::Key>& keys;
  std::vector<int32_t> base, check, value;
  std::vector<bool> used_base;
  // Free cells form a doubly linked list, so the base search skips occupied cells (a linear scan from the first
  // free cell was quadratic on 32k-piece vocabularies).
  std::vector<int32_t> nxt, prv;
  int32_t head = -1, tail = -1;

  void ensure(size_t n) {
    if (check.size() >= n) return;
    size_t old = check.size();
    size_t cap = std::max(n, old * 2);
    base.resize(cap, -1);  // -1: no children
    check.resize(cap, -1);
    value.resize(cap, -1);
    used_base.resize(cap, false);
    nxt.resize(cap, -1);
    prv.resize(cap, -1);
    for (size_t i = old; i < cap; ++i) {
      if (i == 0) continue;  // the root is never free
      prv[i] = tail;
      if (tail >= 0) nxt[size_t(tail)] = int32_t(i); else head = int32_t(i);
      tail = int32_t(i);
    }
  }
  void occupy(size_t i, int32_t parent) {
    check[i] = parent;
    int32_t p = prv[i], q = nxt[i];
    if (p >= 0) nxt[size_t(p)] = q; else head = q;
    if (q >= 0) prv[size_t(q)] = p; else tail = p;
  }

  // Places the children of `node`, which covers keys[lo, hi) sharing their first `depth` bytes.
  void place(int32_t node, size_t lo, size_t hi, size_t depth) {
    // The key equal to the prefix (if any) sorts first.
    if (lo < hi && keys[lo].key.size() == depth) {
      value[size_t(node)] = int32_t(lo);  // index into keys; the value and payload are filled in after
      ++lo;
    }
    if (lo >= hi) return;
    std::vector<std::pair<uint8_t, std::pair<size_t, size_t>>> kids;
    for (size_t i = lo; i < hi;) {
      uint8_t c = static_cast<uint8_t>(keys[i].key[depth]);
      size_t j = i + 1;
      while (j < hi && static_cast<uint8_t>(keys[j].key[depth]) == c) ++j;
      kids.push_back({c, {i, j}});
      i = j;
    }
    const size_t c0 = kids[0].first;
    size_t b = 0;
    for (int32_t q = head;; q = nxt[size_t(q)]) {
      if (q < 0) {  // ran off the end: grow and continue from the new cells
        size_t old = check.size();
        ensure(old * 2);
        q = int32_t(old);
      }
      if (size_t(q) < c0 + 1) continue;
      b = size_t(q) - c0;
      ensure(b + 256 + 1);
      if (used_base[b]) continue;
      bool ok = true;
      for (auto& k : kids)
        if (check[b + k.first] != -1) {
          ok = false;
          break;
        }
      if (ok) break;
    }
    used_base[b] = true;
    base[size_t(node)] = static_cast<int32_t>(b);
    for (auto& k : kids) occupy(b + k.first, node);
    for (auto& k : kids) place(static_cast<int32_t>(b + k.first), k.second.first, k.second.second, depth + 1);
  }
};

}  // namespace

void DoubleArrayTrie::build(std::vector<std::pair<std::string, int32_t>> keys) {
  std::vector<Key> k;
  k.reserve(keys.size());
  for (auto& p : keys) k.push_back(Key{std::move(p.first), p.second, 0.0f});
  build(std::move(k));
}

void DoubleArrayTrie::build(std::vector<Key> keys) {
  units_.clear();
  std::fill(std::begin(first_byte_), std::end(first_byte_), false);
  std::sort(keys.begin(), keys.end(), [](const Key& a, const Key& b) { return a.key < b.key; });
  for (size_t i = 0; i < keys.size(); ++i) {
    if (keys[i].key.empty()) throw ValueError("trie: empty key");
    if (i && keys[i].key == keys[i - 1].key) throw ValueError("trie: duplicate key");
    first_byte_[static_cast<uint8_t>(keys[i].key[0])] = true;
  }
  if (keys.empty()) return;
  Builder b{keys, {}, {}, {}, {}, {}, {}};
  b.ensure(512);
  b.check[0] = -2;  // the root
  b.place(0, 0, keys.size(), 0);
  size_t n = b.check.size();
  while (n > 1 && b.check[n - 1] == -1) --n;
  // Padding: every base + byte stays inside the array (walks need no bounds test), and a final block of 256 empty
  // cells is the base of every childless node, so a step from a leaf fails on the label test.
  size_t need = n;
  for (size_t i = 0; i < n; ++i)
    if (b.check[i] != -1 && b.base[i] >= 0) need = std::max(need, size_t(b.base[i]) + 256);
  if (need + 256 > (size_t(1) << 23)) throw ValueError("trie: too many nodes for the double array");
  const uint32_t empty_block = uint32_t(need);
  units_.assign(need + 256, Unit{empty_block << 9, -1});
  int32_t max_value = -1;
  for (const Key& k : keys) max_value = std::max(max_value, k.value);
  payload_.assign(size_t(max_value + 1), 0.0f);
  for (size_t i = 0; i < n; ++i) {
    if (b.check[i] == -1) continue;
    Unit& u = units_[i];
    const uint32_t base = b.base[i] >= 0 ? uint32_t(b.base[i]) : empty_block;
    // The label is the byte of the transition into this cell (the root has none). Bases are unique per node, so a
    // live cell with the right label at base + byte proves the parent: no separate check field is needed.
    const uint32_t live_label = b.check[i] >= 0 ? (0x100u | uint32_t(int32_t(i) - b.base[size_t(b.check[i])])) : 0u;
    u.bl = base << 9 | live_label;
    if (b.value[i] >= 0) {
      const Key& k = keys[size_t(b.value[i])];
      u.value = k.value;
      payload_[size_t(k.value)] = k.payload;
    }
  }
  // Empty cells keep bl = empty_block << 9 (not live): a walk into them fails on the label test.
}

int32_t DoubleArrayTrie::find(std::string_view key) const {
  if (units_.empty() || key.empty()) return -1;
  const int32_t node = walk(root(), key.data(), key.size());
  return node < 0 ? -1 : units_[size_t(node)].value;
}

bool DoubleArrayTrie::extends(std::string_view prefix) const {
  if (units_.empty()) return false;
  const int32_t node = walk(root(), prefix.data(), prefix.size());
  if (node < 0) return false;
  const uint32_t base = units_[size_t(node)].bl >> 9;
  for (uint32_t c = 0; c < 256; ++c)
    if ((units_[base + c].bl & 0x1FF) == (0x100 | c)) return true;
  return false;
}

}  // namespace sp
}  // namespace fastlm
