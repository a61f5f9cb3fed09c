// Pre-token counting for the BPE trainer: byte string -> 64-bit count.
//
// PieceCounter is an open-addressing table (linear probing, load <= 0.5) whose keys live in one byte arena, or
// in the slot itself when they are at most 8 bytes (most pre-tokens of alphabetic text: a hit then touches one
// cache line), so memory is proportional to the number of DISTINCT pre-tokens (their bytes + 32 bytes of slot),
// never to the corpus. (std::unordered_map<std::string, uint64_t> was rejected: a heap node and a std::string
// per entry cost ~3x the memory and a pointer chase per probe.)
//
// PretokenCounter splits texts on special tokens (they are never counted, so "<|endoftext|>" separators do not
// produce merges such as "<|"), pre-tokenizes the rest with a built-in scanner, and counts on C++ threads: each
// worker owns a PieceCounter, and the workers' tables are summed on demand. Sums do not depend on how the texts
// were split among threads, so the result is the same for any thread count.
#pragma once
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "core/pretokenize.h"
#include "core/special.h"

namespace fastlm {
namespace bpe {

class PieceCounter {
 public:
  void add(std::string_view piece, uint64_t count) { add_hashed(piece, hash_piece(piece), count); }
  // add() for a batch of pieces: hashes them all and prefetches their slots first, so the table misses of a
  // batch overlap (the table outgrows the caches at a few 100K distinct pieces).
  void add_batch(const std::string_view* pieces, size_t n);
  void add_all(const PieceCounter& other);  // sums other's counts into this
  size_t size() const { return size_; }
  size_t arena_bytes() const { return arena_.size(); }
  void clear();

  template <class F>
  void for_each(F&& f) const {  // f(string_view bytes, uint64_t count), in table order
    for (const Slot& s : slots_)
      if (s.len != kEmpty) f(key_of(s), s.count);
  }

  static uint64_t hash_piece(std::string_view piece);
  static constexpr size_t kBatch = 16;  // pieces hashed and prefetched together by add_batch

 private:
  static constexpr uint32_t kEmpty = 0xFFFFFFFFu;
  static constexpr uint32_t kInline = 8;  // keys this short live in the slot itself
  struct Slot {
    uint64_t hash;
    uint64_t count;
    uint64_t off;  // offset in arena_, or the key's bytes when len <= kInline
    uint32_t len;  // kEmpty marks a free slot
  };
  std::string_view key_of(const Slot& s) const {
    return std::string_view(s.len <= kInline ? reinterpret_cast<const char*>(&s.off) : arena_.data() + s.off, s.len);
  }
  void add_hashed(std::string_view piece, uint64_t h, uint64_t count);
  void grow();

  std::vector<Slot> slots_;
  std::vector<char> arena_;
  size_t size_ = 0;
  size_t mask_ = 0;
};

class PretokenCounter {
 public:
  PretokenCounter(PretokKind kind, std::vector<std::string> specials);

  // Counts the pre-tokens of every text, on up to num_threads threads (0 = all cores). Texts must be UTF-8.
  void count_texts(const std::vector<std::string_view>& texts, int num_threads);
  // Adds already split pre-tokens (the custom-regex path) with their counts.
  void add_pieces(const std::vector<std::pair<std::string_view, uint64_t>>& pieces);

  // Sums the workers' tables into one and frees them. Call once, after the last count_texts/add_pieces.
  PieceCounter take();
  size_t distinct_upper_bound() const;  // sum of the per-worker table sizes (exact with one worker)
  uint64_t bytes_seen() const { return bytes_seen_; }

 private:
  void count_one(std::string_view text, PieceCounter& into) const;

  PretokKind kind_;
  SpecialMatcher specials_;
  std::vector<PieceCounter> workers_;
  uint64_t bytes_seen_ = 0;
};

}  // namespace bpe
}  // namespace fastlm
