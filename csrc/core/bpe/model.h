// Byte-level BPE model: encodes one pre-tokenized piece of bytes into token ids.
//
// Two merge rules are supported:
//   * tiktoken ranks: any two adjacent parts whose concatenated bytes are a token merge, lowest rank first.
//   * HF merges: only listed pairs merge, in list order (priority = merge index).
// Ties go to the leftmost pair, as in tiktoken and HF.
//
// Encoding a piece (encode_piece): one byte -> its id; up to 16 bytes -> the per-thread piece cache (inline
// probe); then the backtracking encoder (backtrack.h: linear time, exact, built at load for every vocabulary
// whose merges are rank-monotone, i.e. all published ones). Without it the merge loop (merge.cc) runs: the
// whole-piece lookup (tiktoken, HF's ignore_merges), an O(n^2) array scan for n <= kSmallPiece, a heap
// (O(n log n)) or rank buckets for longer pieces. The merge loop is also the reference the tests compare with.
#pragma once
#include <cstdint>
#include <cstring>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/bpe/backtrack.h"
#include "core/hash.h"

namespace fastlm {
namespace bpe {

constexpr uint32_t kNoId = 0xFFFFFFFFu;

// Per-thread scratch for encoding: a cache of recent pieces (so frequent words are answered from L2 without
// touching the big vocabulary tables), the backtracking encoder's compatibility memo, and reusable buffers for the
// merge loop. Owned by one thread; keyed by the model's serial so a new model never sees stale entries.
struct BpeScratch {
  // Piece cache: 2-way set-associative, 32-byte slots, a set per 64-byte line (16K sets = 1 MiB). English has
  // ~12K distinct pre-tokens per MB; a direct-mapped table of the same size lost ~1/3 of them to collisions.
  // A slot keeps the piece as two 8-byte words (piece_key), so a hit is two compares, no memcmp.
  static constexpr int kSetBits = 14;
  static constexpr size_t kSets = size_t(1) << kSetBits;
  static constexpr size_t kMaxKey = 16;
  static constexpr size_t kMaxIds = 3;
  struct Slot {
    uint64_t w0, w1;  // piece_key
    uint32_t ids[kMaxIds];
    uint8_t n;  // piece length, 0 = empty
    uint8_t nids;
    uint16_t unused;
  };
  static_assert(sizeof(Slot) == 32, "two slots per cache line");
  // Wide tier: pieces of up to 16 bytes with 4..11 ids (Korean words, some identifiers: ~11% of Korean pieces),
  // one direct-mapped 64-byte slot each (4K slots = 256 KiB), probed after a miss in the narrow sets. Widening
  // every slot instead would halve the narrow capacity that English and code live on.
  static constexpr int kWideBits = 12;
  static constexpr size_t kWideIds = 11;
  struct WideSlot {
    uint64_t w0, w1;
    uint32_t ids[kWideIds];
    uint8_t n;  // 0 = empty
    uint8_t nids;
    uint16_t unused;
  };
  static_assert(sizeof(WideSlot) == 64, "one slot per cache line");
  // Direct-mapped cache of merge-table lookups (hits and misses), L2-resident: text reuses the same pairs.
  static constexpr size_t kPairSlots = 1 << 13;
  struct PairSlot {
    uint64_t key;  // (left << 32 | right) + 1, 0 = empty
    uint32_t pri;  // kNoId: no merge
    uint32_t merged;
  };
  uint64_t owner = 0;
  std::unique_ptr<Slot[]> slots;
  std::unique_ptr<WideSlot[]> wide;
  std::unique_ptr<PairSlot[]> pair_slots;
  std::vector<uint32_t> ids, next, prev, rank, merged;
  std::vector<uint64_t> heap;
  // encode_long: per-rank buckets of positions (singly linked through entry_next), a heap of distinct ranks.
  std::vector<uint32_t> bucket_of_rank;  // rank -> bucket index (kNoId when unused); sized id_bound lazily
  std::vector<uint32_t> bucket_rank, bucket_head, entry_pos, entry_next, gather;
  // Backtracking encoder: memo of pair compatibility (tag | answer << 63, 256 KiB, allocated on first use) and
  // the dead-end bits of pieces of 64 bytes or more.
  static constexpr int kCompatBits = 15;
  static constexpr size_t kCompatSlots = size_t(1) << kCompatBits;
  std::unique_ptr<uint64_t[]> compat;
  std::vector<uint64_t> alive;
  // The encoder's output block (ids are appended to the caller's vector kOutBlock at a time).
  static constexpr size_t kOutBlock = 4096;
  std::vector<uint32_t> out;

  void reset(uint64_t serial) {
    if (!slots) slots.reset(new Slot[2 * kSets]);
    for (size_t i = 0; i < 2 * kSets; ++i) slots[i].n = 0;
    if (!wide) wide.reset(new WideSlot[size_t(1) << kWideBits]);
    for (size_t i = 0; i < (size_t(1) << kWideBits); ++i) wide[i].n = 0;
    if (pair_slots)  // allocated by the merge loop on first use
      for (size_t i = 0; i < kPairSlots; ++i) pair_slots[i].key = 0;
    if (compat) std::memset(compat.get(), 0, kCompatSlots * sizeof(uint64_t));
    owner = serial;
  }
};

// The calling thread's scratch, reset if it last served another model.
BpeScratch& thread_scratch(uint64_t serial);

// Key of a piece of 2..16 bytes: its bytes zero-padded to two words (with the length they determine the piece).
// `readable16`: 16 bytes can be read at p (the piece is not at the very end of the caller's buffer), so the key is
// two loads and two masks, with no branch on the length (lengths are unpredictable: a branchy key mispredicted on
// most pieces of English).
inline void piece_key(const unsigned char* p, size_t n, bool readable16, uint64_t& w0, uint64_t& w1) {
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
  if (readable16) {
    std::memcpy(&w0, p, 8);
    std::memcpy(&w1, p + 8, 8);
    size_t n0 = n < 8 ? n : 8;
    w0 &= ~0ULL >> (64 - 8 * n0);
    w1 = n > 8 ? w1 & (~0ULL >> (128 - 8 * n)) : 0;
    return;
  }
#endif
  unsigned char buf[16] = {0};
  std::memcpy(buf, p, n);
  std::memcpy(&w0, buf, 8);
  std::memcpy(&w1, buf + 8, 8);
}

class BpeModel {
 public:
  static constexpr size_t kSmallPiece = 48;
  static constexpr size_t kLongPiece = 1024;

  // vocab: (token bytes, id). merges: empty -> tiktoken rank rule; else HF merge list (pairs of token bytes).
  BpeModel(std::vector<std::pair<std::string, uint32_t>> vocab,
           const std::vector<std::pair<std::string, std::string>>* merges, bool whole_piece_lookup);

  // Writes the ids of the piece p[0..n) (n >= 1) at dst and returns the end. dst needs room for n + 2 ids (at
  // most one id per byte; a cache hit copies 3 ids unconditionally). `scratch` (thread_scratch(serial())) enables
  // the piece cache and the compatibility memo. The cache hit is inline: it is most pieces of English and code.
  // readable16: see piece_key.
  uint32_t* encode_piece(const unsigned char* p, size_t n, uint32_t* dst, BpeScratch* scratch, bool readable16) const {
    if (n == 1) {
      *dst = byte_id_[p[0]];
      return dst + 1;
    }
    if (scratch && n <= BpeScratch::kMaxKey) {
      uint64_t w0, w1;
      piece_key(p, n, readable16, w0, w1);
      uint64_t h = ((w0 ^ (w1 * 0x9E3779B97F4A7C15ULL)) + n) * 0xFF51AFD7ED558CCDULL;
      BpeScratch::Slot* set = &scratch->slots[2 * (h >> (64 - BpeScratch::kSetBits))];
      for (int w = 0; w < 2; ++w) {
        const BpeScratch::Slot& s = set[w];
        if (s.w0 == w0 && s.w1 == w1 && s.n == n) {
          std::memcpy(dst, s.ids, sizeof(s.ids));
          return dst + s.nids;
        }
      }
      return encode_and_cache(p, n, w0, w1, h, dst, scratch);
    }
    return encode_uncached(p, n, dst, scratch);
  }
  // Appends the ids of `piece` to out (the same, through a vector).
  void encode_piece(std::string_view piece, std::vector<uint32_t>& out, BpeScratch* scratch = nullptr) const;
  // For tests and benchmarks: one piece through a chosen path. kAuto is encode_piece with this thread's scratch;
  // kMerge the merge loop (array scan / heap; no cache), kBacktrack the backtracking encoder (no cache;
  // ValueError if this model has none).
  enum class Method : uint8_t { kAuto, kMerge, kBacktrack };
  void encode_piece_with(Method method, std::string_view piece, std::vector<uint32_t>& out) const;
  bool has_backtracker() const { return bt_ != nullptr; }
  const Backtracker* backtracker() const { return bt_.get(); }
  uint64_t serial() const { return serial_; }

  // Bytes of a token, or nullptr-data view if the id is not in the vocabulary.
  bool has_id(uint32_t id) const { return id < offsets_.size() - 1 && present_[id]; }
  std::string_view token_bytes(uint32_t id) const {
    return std::string_view(arena_.data() + offsets_[id], offsets_[id + 1] - offsets_[id]);
  }
  uint32_t find(std::string_view bytes) const {
    return map_.find(bytes, [this](uint32_t id) { return token_bytes(id); });
  }
  size_t id_bound() const { return offsets_.size() - 1; }  // max id + 1
  size_t size() const { return n_tokens_; }
  bool uses_merges() const { return uses_merges_; }
  bool whole_piece_lookup() const { return whole_piece_lookup_; }

  // Merge table entries: (left, right, priority, merged). For export (HF merges) and tests.
  std::vector<std::tuple<uint32_t, uint32_t, uint32_t, uint32_t>> merge_table() const;

 private:
  uint32_t* encode_uncached(const unsigned char* p, size_t n, uint32_t* dst, BpeScratch* scratch) const;
  uint32_t* encode_and_cache(const unsigned char* p, size_t n, uint64_t w0, uint64_t w1, uint64_t h, uint32_t* dst,
                             BpeScratch* scratch) const;
  // The merge loop without the whole-piece lookup (the reference for every token's own bytes, and the fallback).
  void encode_merge(const unsigned char* p, size_t n, std::vector<uint32_t>& out, BpeScratch* scratch) const;
  void build_backtracker(const std::vector<std::array<uint32_t, 3>>* merges);
  void encode_small(const unsigned char* p, size_t n, std::vector<uint32_t>& out, BpeScratch* scratch) const;
  // Merge lookup through the scratch's pair cache: returns priority (kNoId = none), sets merged.
  uint32_t lookup(BpeScratch* sc, uint32_t l, uint32_t r, uint32_t& merged) const {
    if (!sc || !sc->pair_slots) {
      const PairMap::Value* v = pairs_.find(l, r);
      if (!v) return kNoId;
      merged = v->b;
      return v->a;
    }
    uint64_t key = ((uint64_t(l) << 32) | r) + 1;
    BpeScratch::PairSlot& s = sc->pair_slots[(key * 0x9E3779B97F4A7C15ULL) >> (64 - 13)];
    if (s.key != key) {
      const PairMap::Value* v = pairs_.find(l, r);
      s.key = key;
      s.pri = v ? v->a : kNoId;
      s.merged = v ? v->b : kNoId;
    }
    merged = s.merged;
    return s.pri;
  }
  void encode_heap(const unsigned char* p, size_t n, std::vector<uint32_t>& out, BpeScratch* scratch) const;
  bool encode_long(const unsigned char* p, size_t n, std::vector<uint32_t>& out, BpeScratch& sc) const;
  void init_parts(const unsigned char* p, size_t n, BpeScratch& sc) const;
  // Merge lookup: byte pairs come from a dense 64K table (L2-resident), others from the hash table.
  const PairMap::Value* pair(uint32_t l, uint32_t r) const { return pairs_.find(l, r); }
  const PairMap::Value* byte_pair(unsigned char a, unsigned char b) const {
    const PairMap::Value& v = byte_pairs_[(unsigned(a) << 8) | b];
    return v.a == kNoId ? nullptr : &v;
  }
  void build_byte_pairs() const;
  void ensure_pairs() const;  // builds pairs_/byte_pairs_ of a rank vocabulary on first use (thread-safe)

  std::string arena_;              // token bytes, concatenated in id order
  std::vector<uint64_t> offsets_;  // id -> start in arena_ (size id_bound + 1)
  std::vector<uint8_t> present_;   // id -> 1 if the id is a token
  StringIdMap map_;
  // (left, right) -> {priority, merged id}: the merge loop's table. Rank vocabularies fill it (and byte_pairs_)
  // lazily, in ensure_pairs(); every reader goes through encode_merge or merge_table, which call it.
  mutable PairMap pairs_;
  mutable std::once_flag pairs_once_;
  uint32_t byte_id_[256];
  mutable std::vector<PairMap::Value> byte_pairs_;  // (byte a << 8 | byte b) -> merge of their single-byte tokens
  std::unique_ptr<Backtracker> bt_;  // null when the vocabulary is not rank-monotone (merge loop only)
  uint64_t serial_ = 0;
  size_t n_tokens_ = 0;
  bool uses_merges_ = false;
  bool whole_piece_lookup_ = true;
};

}  // namespace bpe
}  // namespace fastlm
