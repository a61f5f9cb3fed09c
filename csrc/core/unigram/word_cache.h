// Per-thread cache of per-word results for the SentencePiece-BPE encoder: word bytes -> a blob of uint32 (the
// merged tokens). (The Unigram encoder tried it for a word's dictionary matches and lost: see model_encode.cc.)
//
// Why words: when no piece contains U+2581 right after another character (checked per model), no piece and no
// trie walk crosses a position where U+2581 follows something else, so what the encoder computes inside such a
// word depends on the word's bytes alone. Natural text repeats words (Zipf), so most words hit.
//
// Open addressing with generation-tagged slots: switching models or starting over when full is O(1). Bounded: at
// most kMaxWords words of at most kMaxWordBytes bytes, then it starts over (no unbounded growth on long runs).
// (A cache shared by all threads was rejected: it needs locks on the hot path.)
#pragma once
#include <atomic>
#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>
#include <vector>

namespace fastlm {
namespace unigram {

constexpr char kWordSpace[] = "\xe2\x96\x81";  // U+2581

// True if no key has U+2581 right after another character (then words are independent, see above).
inline bool words_are_independent(std::string_view key) {
  for (size_t at = key.find(kWordSpace, 1); at != std::string_view::npos; at = key.find(kWordSpace, at + 1))
    if (at < 3 || key.compare(at - 3, 3, kWordSpace) != 0) return false;
  return true;
}

// A word starts at byte i (a character start) when U+2581 begins there and does not follow another U+2581.
inline bool word_starts_at(const unsigned char* p, size_t n, size_t i) {
  return p[i] == 0xE2 && i + 3 <= n && p[i + 1] == 0x96 && p[i + 2] == 0x81 &&
         !(i >= 3 && p[i - 3] == 0xE2 && p[i - 2] == 0x96 && p[i - 1] == 0x81);
}

inline uint64_t word_hash(const void* data, size_t n) {
  const auto* p = static_cast<const unsigned char*>(data);
  uint64_t h = 0x9E3779B97F4A7C15ULL ^ n;
  while (n >= 8) {
    uint64_t v;
    std::memcpy(&v, p, 8);
    h = (h ^ v) * 0xff51afd7ed558ccdULL;
    h ^= h >> 29;
    p += 8;
    n -= 8;
  }
  if (n) {
    uint64_t v = 0;
    std::memcpy(&v, p, n);
    h = (h ^ v) * 0xc4ceb9fe1a85ec53ULL;
  }
  h ^= h >> 32;
  h *= 0xd6e8feb86659fd93ULL;
  return h ^ (h >> 29);
}

// A process-wide unique id for each model instance (addresses are reused; ids are not).
inline uint64_t new_cache_owner() {
  static std::atomic<uint64_t> next{1};
  return next.fetch_add(1);
}

class WordCache {
 public:
  static constexpr size_t kSlots = size_t(1) << 15;
  static constexpr size_t kMaxWords = kSlots / 2;
  static constexpr size_t kMaxWordBytes = 64;

  WordCache() : slots_(kSlots, Slot{0, 0, 0, 0, 0, 0}) {}

  // Selects the model whose words are cached (forgets the others').
  void use(uint64_t owner) {
    if (owner != owner_) {
      owner_ = owner;
      restart();
    }
  }
  // The blob of word w (hash h), or nullptr.
  const uint32_t* find(const char* w, uint32_t n, uint64_t h, uint32_t& count) const {
    for (size_t i = size_t(h) & (kSlots - 1);; i = (i + 1) & (kSlots - 1)) {
      const Slot& s = slots_[i];
      if (s.gen != gen_) return nullptr;
      if (s.hash == h && s.key_len == n && std::memcmp(keys_.data() + s.key_off, w, n) == 0) {
        count = s.blob_n;
        return blob_.data() + s.blob_off;
      }
    }
  }
  // Stores word w with a copy of blob[0, count).
  void insert(const char* w, uint32_t n, uint64_t h, const uint32_t* blob, size_t count) {
    if (words_ >= kMaxWords) restart();
    size_t i = size_t(h) & (kSlots - 1);
    while (slots_[i].gen == gen_) i = (i + 1) & (kSlots - 1);
    slots_[i] = Slot{h, gen_, uint32_t(keys_.size()), n, uint32_t(blob_.size()), uint32_t(count)};
    keys_.append(w, n);
    blob_.insert(blob_.end(), blob, blob + count);
    ++words_;
  }

 private:
  struct Slot {
    uint64_t hash;
    uint32_t gen;  // live iff == gen_
    uint32_t key_off;
    uint32_t key_len;
    uint32_t blob_off;
    uint32_t blob_n;
  };
  void restart() {
    if (++gen_ == 0) {  // wrapped: really clear the slots
      std::fill(slots_.begin(), slots_.end(), Slot{0, 0, 0, 0, 0, 0});
      gen_ = 1;
    }
    keys_.clear();
    blob_.clear();
    words_ = 0;
  }
  std::vector<Slot> slots_;
  std::string keys_;
  std::vector<uint32_t> blob_;
  uint64_t owner_ = 0;
  uint32_t gen_ = 1;
  size_t words_ = 0;
};

}  // namespace unigram
}  // namespace fastlm
