// The BPE trainer's candidate pairs, best first: a lazy priority queue of (count when pushed, tie key, pair).
//
// Entries are never updated in place: the trainer pops the best entry, compares its count with the pair's
// current count and re-pushes it when they differ (stale). That is correct because a pair's count only falls
// between pushes (a rise always comes with a fresh push), so its latest entry bounds it from above.
//
// Layout: entries whose count is >= hot_min_ are in a heap, the others in an unordered cold list. Every cold
// entry's count is below every hot one's, so the best current entry of the heap is the best of all. When the
// heap runs dry, hot_min_ halves and the cold entries above it move in. Most pairs never get near the top (a
// 32K-vocab run ends at count 4 with ~100K pairs below it); keeping them out of the heap keeps it small and
// cache-resident (one heap of everything spent ~2x as long in heap operations).
// The heap is 4-ary (children of i: 4i+1..4i+4): half the depth of a binary heap, and the four children share
// a cache line or two; std::push_heap/pop_heap (binary) spent ~1.3x as long.
#pragma once
#include <algorithm>
#include <cstdint>
#include <limits>
#include <vector>

namespace fastlm {
namespace bpe {

struct PairEntry {
  int64_t count;  // the pair's count when pushed
  uint64_t key;   // a prefix of the pair's tie-break order (the trainer's tie_key)
  uint32_t pair;
};

// Worse(x, y): x ranks below y.
template <class Worse>
class PairQueue {
 public:
  explicit PairQueue(Worse worse) : worse_(worse) {}

  // Initial entries, in any order (the first pop picks the threshold).
  void reserve(size_t n) { cold_.reserve(n); }
  void add(const PairEntry& e) { cold_.push_back(e); }

  void push(const PairEntry& e) {
    if (e.count < hot_min_) {
      cold_.push_back(e);
      return;
    }
    size_t i = heap_.size();
    heap_.push_back(e);
    while (i > 0) {
      size_t up = (i - 1) / kArity;
      if (!worse_(heap_[up], e)) break;
      heap_[i] = heap_[up];
      i = up;
    }
    heap_[i] = e;
  }

  // The best entry; false when there is none.
  bool pop(PairEntry& out) {
    if (heap_.empty() && !refill()) return false;
    out = heap_[0];
    heap_[0] = heap_.back();
    heap_.pop_back();
    if (!heap_.empty()) sift_down(0);
    return true;
  }

  void release() {
    std::vector<PairEntry>().swap(heap_);
    std::vector<PairEntry>().swap(cold_);
  }

 private:
  static constexpr size_t kArity = 4;

  bool refill() {
    if (cold_.empty()) return false;
    int64_t top = 0;
    for (const PairEntry& e : cold_) top = std::max(top, e.count);
    hot_min_ = std::max<int64_t>(1, top / 2);
    auto mid = std::partition(cold_.begin(), cold_.end(), [this](const PairEntry& e) { return e.count < hot_min_; });
    heap_.assign(mid, cold_.end());
    cold_.erase(mid, cold_.end());
    for (size_t i = heap_.size() / kArity + 1; i-- > 0;) sift_down(i);
    return true;
  }

  void sift_down(size_t i) {
    const size_t n = heap_.size();
    if (i >= n) return;
    PairEntry e = heap_[i];
    for (;;) {
      size_t c = kArity * i + 1;
      if (c >= n) break;
      size_t best = c, last = std::min(c + kArity, n);
      for (size_t j = c + 1; j < last; ++j)
        if (worse_(heap_[best], heap_[j])) best = j;
      if (!worse_(e, heap_[best])) break;
      heap_[i] = heap_[best];
      i = best;
    }
    heap_[i] = e;
  }

  Worse worse_;
  std::vector<PairEntry> heap_;
  std::vector<PairEntry> cold_;
  int64_t hot_min_ = std::numeric_limits<int64_t>::max();  // all cold until the first pop
};

}  // namespace bpe
}  // namespace fastlm
