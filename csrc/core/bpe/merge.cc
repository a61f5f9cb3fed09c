// The merge loop: the reference BPE rule applied literally (lowest-priority adjacent pair first, leftmost on
// ties), in three shapes by piece length. It is the fallback when a vocabulary gets no backtracking encoder, the
// oracle for each token's own bytes while that encoder is built, and method="merge" in the tests.
#include <algorithm>
#include <cstring>

#include "core/bpe/model.h"

namespace fastlm {
namespace bpe {
namespace {

// The linked parts of one piece, as init_parts leaves them in the scratch (n entries each): part i holds token
// ids[i], its neighbours are prev[i] / next[i] (kNoId at the ends), and rank[i] / mid[i] are the priority and
// result of merging it with next[i] (rank kNoId: no merge). encode_heap and encode_long share it. The pointers
// stay valid until the next init_parts: nothing resizes these five vectors while a piece is merged. A member of
// BpeScratch was the other option; it would put merge-loop steps in model.h, next to the caches and the
// backtracker's memo that never use them.
struct Parts {
  uint32_t* ids;
  uint32_t* next;
  uint32_t* prev;
  uint32_t* rank;
  uint32_t* mid;

  explicit Parts(BpeScratch& sc)
      : ids(sc.ids.data()), next(sc.next.data()), prev(sc.prev.data()), rank(sc.rank.data()), mid(sc.merged.data()) {}

  // Applies the merge of part i with j = next[i]: i becomes mid[i], j is unlinked. rank[i] (and rank[prev[i]])
  // are now stale; the caller recomputes them with its own lookup and queue.
  void merge(uint32_t i) const {
    uint32_t j = next[i];
    ids[i] = mid[i];
    uint32_t k = next[j];
    next[i] = k;
    if (k != kNoId) prev[k] = i;
    rank[j] = kNoId;
  }

  // Appends the ids of the remaining parts, left to right (part 0 is never unlinked).
  void emit(std::vector<uint32_t>& out) const {
    for (uint32_t i = 0; i != kNoId; i = next[i]) out.push_back(ids[i]);
  }
};

}  // namespace

void BpeModel::encode_merge(const unsigned char* p, size_t n, std::vector<uint32_t>& out, BpeScratch* scratch) const {
  ensure_pairs();
  if (scratch && !scratch->pair_slots) {
    scratch->pair_slots.reset(new BpeScratch::PairSlot[BpeScratch::kPairSlots]);
    for (size_t i = 0; i < BpeScratch::kPairSlots; ++i) scratch->pair_slots[i].key = 0;
  }
  if (n == 1) {
    out.push_back(byte_id_[p[0]]);
    return;
  }
  if (n <= kSmallPiece) {
    encode_small(p, n, out, scratch);
  } else if (n >= kLongPiece && scratch) {
    size_t first = out.size();
    if (!encode_long(p, n, out, *scratch)) {
      out.resize(first);
      encode_heap(p, n, out, scratch);
    }
  } else {
    encode_heap(p, n, out, scratch);
  }
}

void BpeModel::encode_small(const unsigned char* p, size_t n, std::vector<uint32_t>& out, BpeScratch* scratch) const {
  // parts: ids[0..m); pri[i]/mid[i] describe merging parts i and i+1.
  uint32_t ids[kSmallPiece], pri[kSmallPiece], mid[kSmallPiece];
  size_t m = n;
  for (size_t i = 0; i < n; ++i) ids[i] = byte_id_[p[i]];
  auto set_pair = [&](size_t i) { pri[i] = lookup(scratch, ids[i], ids[i + 1], mid[i]); };
  for (size_t i = 0; i + 1 < m; ++i) {
    const PairMap::Value* v = byte_pair(p[i], p[i + 1]);
    pri[i] = v ? v->a : kNoId;
    mid[i] = v ? v->b : kNoId;
  }
  while (m > 1) {
    // Leftmost minimum, branch-free (cmov): the comparison outcome is data-dependent and mispredicts often.
    size_t best = 0;
    uint32_t bp = pri[0];
    for (size_t i = 1; i + 1 < m; ++i) {
      uint32_t v = pri[i];
      bool lt = v < bp;
      bp = lt ? v : bp;
      best = lt ? i : best;
    }
    if (bp == kNoId) break;
    ids[best] = mid[best];
    // erase part best+1
    size_t tail = m - best - 2;
    std::memmove(ids + best + 1, ids + best + 2, tail * sizeof(uint32_t));
    std::memmove(pri + best + 1, pri + best + 2, tail * sizeof(uint32_t));
    std::memmove(mid + best + 1, mid + best + 2, tail * sizeof(uint32_t));
    --m;
    if (best + 1 < m) set_pair(best);
    if (best > 0) set_pair(best - 1);
  }
  out.insert(out.end(), ids, ids + m);
}

void BpeModel::init_parts(const unsigned char* p, size_t n, BpeScratch& sc) const {
  // One part per byte, linked both ways; rank/merged describe each part's pair with its right neighbour.
  sc.ids.resize(n);
  sc.next.resize(n);
  sc.prev.resize(n);
  sc.rank.resize(n);
  sc.merged.resize(n);
  for (size_t i = 0; i < n; ++i) {
    sc.ids[i] = byte_id_[p[i]];
    sc.next[i] = uint32_t(i + 1);
    sc.prev[i] = i ? uint32_t(i - 1) : kNoId;
  }
  sc.next[n - 1] = kNoId;
  sc.rank[n - 1] = kNoId;
  for (size_t i = 0; i + 1 < n; ++i) {
    const PairMap::Value* v = byte_pair(p[i], p[i + 1]);
    sc.rank[i] = v ? v->a : kNoId;
    sc.merged[i] = v ? v->b : kNoId;
  }
}

void BpeModel::encode_heap(const unsigned char* p, size_t n, std::vector<uint32_t>& out, BpeScratch* scratch) const {
  // Nodes are byte positions; a merged part lives at its leftmost position. rank[i] is the current priority of
  // the pair (i, next[i]) (kNoId: none). Heap entries are packed (priority << 32 | position) so the heap compares
  // one u64 (ties -> leftmost); an entry is stale when rank[pos] no longer equals its priority (lazy deletion).
  // A stale entry whose priority happens to equal the current one denotes the same merge at the same place, so
  // taking it is exact. (16-byte entries carrying both ids were ~1.6x slower: twice the memory per sift.)
  BpeScratch local;
  BpeScratch& sc = scratch ? *scratch : local;
  init_parts(p, n, sc);
  Parts pt(sc);
  std::vector<uint64_t>& heap = sc.heap;
  heap.clear();
  for (size_t i = 0; i + 1 < n; ++i)
    if (pt.rank[i] != kNoId) heap.push_back((uint64_t(pt.rank[i]) << 32) | i);
  auto cmp = std::greater<uint64_t>();
  std::make_heap(heap.begin(), heap.end(), cmp);
  auto update = [&](uint32_t i) {
    uint32_t j = pt.next[i];
    pt.rank[i] = j == kNoId ? kNoId : lookup(scratch, pt.ids[i], pt.ids[j], pt.mid[i]);
    if (pt.rank[i] != kNoId) {
      heap.push_back((uint64_t(pt.rank[i]) << 32) | i);
      std::push_heap(heap.begin(), heap.end(), cmp);
    }
  };
  while (!heap.empty()) {
    std::pop_heap(heap.begin(), heap.end(), cmp);
    uint64_t e = heap.back();
    heap.pop_back();
    uint32_t i = uint32_t(e);
    if (pt.rank[i] != uint32_t(e >> 32)) continue;  // stale
    pt.merge(i);
    if (pt.prev[i] != kNoId) update(pt.prev[i]);
    update(i);
  }
  pt.emit(out);
}

bool BpeModel::encode_long(const unsigned char* p, size_t n, std::vector<uint32_t>& out, BpeScratch& sc) const {
  // Long pieces (1 MB of one character, of spaces, ...): merges are applied rank by rank. Every pair of rank r is
  // appended to rank r's bucket; a heap holds each distinct rank once. Popping rank r, its positions are sorted
  // and merged left to right, which is exactly the leftmost-lowest order of the heap algorithm PROVIDED every pair
  // created by a merge of rank r has a rank above r. That holds for trained vocabularies in practice; when it
  // does not, this returns false and the caller reruns the piece with encode_heap (exact in all cases).
  // Repetitive input has few distinct ranks, so the work is a few sorts of nearly sorted arrays instead of
  // ~n heap operations on an n-entry heap (measured ~5x faster on 1 MB of one character).
  if (sc.bucket_of_rank.size() < id_bound()) sc.bucket_of_rank.assign(id_bound(), kNoId);
  init_parts(p, n, sc);
  Parts pt(sc);
  sc.bucket_rank.clear();
  sc.bucket_head.clear();
  sc.entry_pos.clear();
  sc.entry_next.clear();
  std::vector<uint64_t>& heap = sc.heap;  // distinct ranks (as u64 for the shared buffer)
  heap.clear();
  auto cmp = std::greater<uint64_t>();
  auto add = [&](uint32_t r, uint32_t pos) {
    uint32_t b = sc.bucket_of_rank[r];
    if (b == kNoId) {
      b = uint32_t(sc.bucket_rank.size());
      sc.bucket_of_rank[r] = b;
      sc.bucket_rank.push_back(r);
      sc.bucket_head.push_back(kNoId);
      heap.push_back(r);
      std::push_heap(heap.begin(), heap.end(), cmp);
    }
    sc.entry_pos.push_back(pos);
    sc.entry_next.push_back(sc.bucket_head[b]);
    sc.bucket_head[b] = uint32_t(sc.entry_pos.size() - 1);
  };
  for (size_t i = 0; i + 1 < n; ++i)
    if (pt.rank[i] != kNoId) add(pt.rank[i], uint32_t(i));
  bool ok = true;
  while (ok && !heap.empty()) {
    std::pop_heap(heap.begin(), heap.end(), cmp);
    uint32_t r = uint32_t(heap.back());
    heap.pop_back();
    uint32_t b = sc.bucket_of_rank[r];
    std::vector<uint32_t>& g = sc.gather;
    g.clear();
    for (uint32_t e = sc.bucket_head[b]; e != kNoId; e = sc.entry_next[e]) g.push_back(sc.entry_pos[e]);
    sc.bucket_head[b] = kNoId;
    std::reverse(g.begin(), g.end());  // appended mostly left to right
    if (!std::is_sorted(g.begin(), g.end())) std::sort(g.begin(), g.end());
    for (uint32_t i : g) {
      if (pt.rank[i] != r) continue;  // stale
      pt.merge(i);
      for (uint32_t q : {pt.prev[i], i}) {
        if (q == kNoId) continue;
        uint32_t nq = pt.next[q];
        pt.rank[q] = nq == kNoId ? kNoId : lookup(&sc, pt.ids[q], pt.ids[nq], pt.mid[q]);
        if (pt.rank[q] == kNoId) continue;
        if (pt.rank[q] <= r) {
          ok = false;  // a merge created a pair that outranks it: not rank-monotone here
          break;
        }
        add(pt.rank[q], q);
      }
      if (!ok) break;
    }
  }
  for (uint32_t r : sc.bucket_rank) sc.bucket_of_rank[r] = kNoId;
  if (!ok) return false;
  pt.emit(out);
  return true;
}

}  // namespace bpe
}  // namespace fastlm
