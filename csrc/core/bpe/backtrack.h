// Backtracking BPE encoder: linear-time, exact for rank vocabularies (tiktoken) and merge lists (HF).
//
// The idea (as in the github/rust-gems `bpe` crate): the BPE encoding of a piece is the unique token sequence
// that (1) spells the piece and (2) has every adjacent pair "compatible": BPE run on the bytes of the two tokens
// alone ends with exactly those two tokens. So the encoder walks the piece left to right taking the longest
// matchable token (a trie walk), and when the new token is not compatible with the previous one it tries the
// next shorter prefix token; when none fits it backtracks one token. A bit per byte position remembers positions
// already proven to be dead ends (the encoding of a prefix is unique, so a dead end is dead whatever led there),
// which bounds the work by (positions x prefixes per position).
//
// Compatibility of (a, b) is decided by replaying the two merge trees backwards: each token's canonical split
// (the last merge that forms it when its own bytes are encoded) gives its spine; undoing the later of the two
// last merges at each step exposes the boundary pair that existed just before, and BPE would have merged across
// the boundary iff that pair is itself a merge whose rank comes before the undone merge (ties: leftmost first).
// Only canonical splits are in the pair table: a pair that is adjacent in any real BPE state is the canonical
// split of its concatenation (the merge history inside a span that no merge crossed is the history of the span
// alone), so other splits can never fire.
//
// Exactness needs every canonical split to be rank-monotone (both parts rank below the token), which makes the
// global merge order non-decreasing. Tables are built in rank order, finding each token's split among its prefix
// tokens; a token with no compatible split is unmatchable (BPE of its own bytes is not itself: it can only be
// produced by the whole-piece lookup). Every token classified unmatchable is then re-encoded with the reference
// merge loop; if one of them does encode to itself (a non-monotone vocabulary), build() fails and the model
// keeps the merge-loop paths.
#pragma once
#include <array>
#include <cstdint>
#include <functional>
#include <string_view>
#include <vector>

#include "core/bpe/trie.h"
#include "core/hash.h"

namespace fastlm {
namespace bpe {

struct BpeScratch;

class Backtracker {
 public:
  struct Source {
    size_t id_bound;
    std::function<bool(uint32_t)> present;
    std::function<std::string_view(uint32_t)> bytes;
    // Reference BPE of raw bytes (merge loop, no whole-piece lookup), for the post-build check.
    std::function<void(std::string_view, std::vector<uint32_t>&)> reference;
  };

  // Rank rule (tiktoken): rank == id, any two tokens that concatenate to a token may merge.
  bool build_ranks(const Source& src);
  // Merge list (HF): merges = (left, right, merged) in priority order; only listed pairs merge.
  bool build_merges(const Source& src, const std::vector<std::array<uint32_t, 3>>& merges);

  // Writes the BPE of p[0..n) (n >= 2) at dst (room for n ids) and returns the end. `whole_piece`: a piece
  // spelled by one token becomes that token (tiktoken; HF ignore_merges). Returns nullptr only on an internal
  // inconsistency; the caller then uses the merge loop.
  uint32_t* encode(const unsigned char* p, size_t n, bool whole_piece, uint32_t* dst, BpeScratch* sc) const;

  // For tests: compatibility of two matchable tokens (not memoized), matchability, canonical split.
  bool compatible(uint32_t a, uint32_t b) const {
    return rank_is_id_ ? compatible_t<true>(a, b) : compatible_t<false>(a, b);
  }
  bool matchable(uint32_t id) const { return id < matchable_.size() && matchable_[id]; }
  std::pair<uint32_t, uint32_t> split(uint32_t id) const { return {split_[id].left, split_[id].right}; }

 private:
  struct Split {
    uint32_t left, right;  // canonical split; the id itself for single bytes and unmatchable tokens
  };
  struct Prefix {
    uint32_t id, len;
  };
  void init_tables(const Source& src);
  void set_split(uint32_t id, uint32_t a, uint32_t b, uint32_t order);
  bool finish(const Source& src);
  // Decides a pair the per-thread memo did not hold and stores the answer in its slot.
  bool compatible_miss(uint32_t a, uint32_t b, uint64_t& slot, uint64_t tag) const;

  // order = rank + 1 of the canonical merge forming a token, 0 for a single byte. For tiktoken files whose single
  // bytes have the lowest ids (all published ones), order is computed from the id (no load); else order_[id].
  template <bool kRankIsId>
  uint32_t order(uint32_t t) const {
    if (kRankIsId) return t >= leaf_bound_ ? t + 1 : 0;
    return order_[t];
  }
  template <bool kRankIsId>
  bool compatible_t(uint32_t a, uint32_t b) const {
    // (a, b) is the boundary pair of the current state; limit is the order of the merge that ended that state
    // (a cross merge of lower order would have fired before it). Undo the later of the two last merges each step.
    uint32_t limit = 0xFFFFFFFFu;
    for (;;) {
      if (maybe_canon(a, b)) {
        const PairMap::Value* v = canon_.find(a, b);
        if (v && v->a < limit) return false;
      }
      uint32_t oa = order<kRankIsId>(a), ob = order<kRankIsId>(b);
      if (oa > ob) {
        limit = oa;  // the merge forming a is left of the cross pair: on a tie it goes first, so strict
        a = split_[a].right;
      } else if (ob) {
        limit = ob + 1;  // the merge forming b is right of the cross pair: on a tie the cross pair goes first
        b = split_[b].left;
      } else {
        return true;  // both single bytes: no merge crossed the boundary
      }
    }
  }

  TokenTrie trie_;
  std::vector<Split> split_;            // by id
  std::vector<uint32_t> order_;         // by id
  std::vector<uint32_t> len_;           // by id: byte length
  std::vector<Prefix> next_prefix_;     // by id: longest matchable proper prefix token (id kNone if none)
  std::vector<uint8_t> matchable_;      // by id
  std::vector<uint32_t> node_;          // by id: trie node (build only)
  bool rank_is_id_ = false;
  uint32_t leaf_bound_ = 0;             // rank_is_id_: ids below are the single bytes
  PairMap canon_;                       // canonical (left, right) -> {order of the merged token, merged id}

  // Bloom filter over canon_'s keys, two bits in one 64-bit word per key, >= 8 bits per pair (o200k: 256 KiB).
  // Most boundary pairs are not merges; the filter answers those without touching canon_ (8 MiB, a cache miss
  // per probe). Measured: the unfiltered probe was ~60% of the encoder's time on Japanese.
  std::vector<uint64_t> filter_;
  int filter_shift_ = 64;
  static uint64_t pair_hash(uint32_t a, uint32_t b) {
    return (((uint64_t(a) << 32) | b) ^ 0x5bd1e9955bd1e995ULL) * 0x9E3779B97F4A7C15ULL;
  }
  static uint64_t filter_bits(uint64_t h) { return (1ULL << ((h >> 20) & 63)) | (1ULL << ((h >> 26) & 63)); }
  void size_filter(size_t pairs);
  void add_filter(uint32_t a, uint32_t b) {
    uint64_t h = pair_hash(a, b);
    filter_[h >> filter_shift_] |= filter_bits(h);
  }
  bool maybe_canon(uint32_t a, uint32_t b) const {
    uint64_t h = pair_hash(a, b);
    uint64_t m = filter_bits(h);
    return (filter_[h >> filter_shift_] & m) == m;
  }
};

}  // namespace bpe
}  // namespace fastlm
