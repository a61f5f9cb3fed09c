// Byte-level BPE model: encodes one pre-tokenized piece of bytes into token ids.
//
// Two merge rules are supported, both as a table (left id, right id) -> (priority, merged id):
//   * tiktoken ranks: any two adjacent parts whose concatenated bytes are a token merge, lowest rank first.
//     The table is built by splitting every token at every position.
//   * HF merges: only listed pairs merge, in list order (priority = merge index).
// Ties go to the leftmost pair, as in tiktoken and HF.
//
// Encoding a piece of n bytes: whole-piece lookup first (tiktoken, and HF's ignore_merges); n <= kSmallPiece uses
// a flat array scan (O(n^2) but branch-light and cache-resident: faster than a heap for short pieces); longer
// pieces use a binary heap over a linked list, O(n log n), so adversarial input (1 MB with no whitespace) stays
// linear-logarithmic instead of tiktoken's quadratic scan.
#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/hash.h"

namespace fastlm {
namespace bpe {

constexpr uint32_t kNoId = 0xFFFFFFFFu;

// Per-thread scratch for encoding: a direct-mapped cache of recent pieces (one 64-byte line per slot, 1 MiB in
// all, so frequent words are answered from L2 without touching the big vocabulary tables) and reusable buffers
// for the heap path. Owned by one thread; keyed by the model's serial so a new model never sees stale entries.
struct HeapEntry {
  uint32_t pri;
  uint32_t pos;
  uint32_t left;
  uint32_t right;
  bool operator>(const HeapEntry& o) const { return pri != o.pri ? pri > o.pri : pos > o.pos; }
};

struct BpeScratch {
  static constexpr size_t kSlots = 1 << 14;
  static constexpr size_t kMaxKey = 22;
  static constexpr size_t kMaxIds = 8;
  struct Slot {
    uint64_t tag;  // piece hash, 0 = empty
    uint8_t klen;
    uint8_t nids;
    char key[kMaxKey];
    uint32_t ids[kMaxIds];
  };
  static_assert(sizeof(Slot) == 64, "one cache line per slot");
  uint64_t owner = 0;
  std::unique_ptr<Slot[]> slots;
  std::vector<uint32_t> ids, next, prev;
  std::vector<HeapEntry> heap;

  void reset(uint64_t serial) {
    if (!slots) slots.reset(new Slot[kSlots]);
    for (size_t i = 0; i < kSlots; ++i) slots[i].tag = 0;
    owner = serial;
  }
};

// The calling thread's scratch, reset if it last served another model.
BpeScratch& thread_scratch(uint64_t serial);

class BpeModel {
 public:
  static constexpr size_t kSmallPiece = 48;

  // vocab: (token bytes, id). merges: empty -> tiktoken rank rule; else HF merge list (pairs of token bytes).
  BpeModel(std::vector<std::pair<std::string, uint32_t>> vocab,
           const std::vector<std::pair<std::string, std::string>>* merges, bool whole_piece_lookup);

  // Appends the ids of `piece` to out. `scratch` (from thread_scratch(serial())) enables the piece cache.
  void encode_piece(std::string_view piece, std::vector<uint32_t>& out, BpeScratch* scratch = nullptr) const;
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
  void encode_uncached(const unsigned char* p, size_t n, std::vector<uint32_t>& out, BpeScratch* scratch) const;
  void encode_small(const unsigned char* p, size_t n, std::vector<uint32_t>& out) const;
  void encode_heap(const unsigned char* p, size_t n, std::vector<uint32_t>& out, BpeScratch* scratch) const;
  // Merge lookup: byte pairs come from a dense 64K table (L2-resident), others from the hash table.
  const PairMap::Value* pair(uint32_t l, uint32_t r) const { return pairs_.find(l, r); }
  const PairMap::Value* byte_pair(unsigned char a, unsigned char b) const {
    const PairMap::Value& v = byte_pairs_[(unsigned(a) << 8) | b];
    return v.a == kNoId ? nullptr : &v;
  }
  void build_byte_pairs();

  std::string arena_;              // token bytes, concatenated in id order
  std::vector<uint64_t> offsets_;  // id -> start in arena_ (size id_bound + 1)
  std::vector<uint8_t> present_;   // id -> 1 if the id is a token
  StringIdMap map_;
  PairMap pairs_;  // (left, right) -> {priority, merged id}
  uint32_t byte_id_[256];
  std::vector<PairMap::Value> byte_pairs_;  // (byte a << 8 | byte b) -> merge of their single-byte tokens
  uint64_t serial_ = 0;
  size_t n_tokens_ = 0;
  bool uses_merges_ = false;
  bool whole_piece_lookup_ = true;
};

}  // namespace bpe
}  // namespace fastlm
