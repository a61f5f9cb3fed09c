// Small, fast hash tables for the hot paths: byte-string -> id and (id, id) -> value.
// Open addressing with linear probing, power-of-two capacity, load factor <= 0.5. Built once, read-only after
// construction, so concurrent readers need no locks. (std::unordered_map was rejected: one heap node per entry and
// a pointer chase per probe cost ~2x on the encode path.)
#pragma once
#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>
#include <vector>

namespace fastlm {

inline uint64_t mix64(uint64_t x) {
  x ^= x >> 32;
  x *= 0xd6e8feb86659fd93ULL;
  x ^= x >> 32;
  x *= 0xd6e8feb86659fd93ULL;
  x ^= x >> 32;
  return x;
}

inline uint64_t hash_bytes(const void* data, size_t n) {
  const auto* p = static_cast<const unsigned char*>(data);
  uint64_t h = 0x9E3779B97F4A7C15ULL ^ (n * 0xff51afd7ed558ccdULL);
  while (n >= 8) {
    uint64_t v;
    std::memcpy(&v, p, 8);
    h = mix64(h ^ v) + 0x632BE59BD9B4E019ULL;
    p += 8;
    n -= 8;
  }
  uint64_t v = 0;
  if (n) {
    std::memcpy(&v, p, n);
    h = mix64(h ^ v ^ (uint64_t(n) << 59));
  }
  return mix64(h);
}

inline size_t pow2_capacity(size_t n) {
  size_t cap = 16;
  while (cap < n * 2) cap <<= 1;
  return cap;
}

// Maps byte strings (stored by the caller, addressed by id) to ids.
class StringIdMap {
 public:
  static constexpr uint32_t kEmpty = 0xFFFFFFFFu;

  // `get(id)` must return the bytes of id for every inserted id.
  void reserve(size_t n) {
    slots_.assign(pow2_capacity(n), Slot{0, kEmpty});
    mask_ = slots_.size() - 1;
  }
  template <class GetBytes>
  bool insert(std::string_view key, uint32_t id, GetBytes&& get) {
    if (slots_.empty()) reserve(16);
    uint64_t h = hash_bytes(key.data(), key.size());
    uint32_t tag = static_cast<uint32_t>(h >> 32);
    for (size_t i = h & mask_;; i = (i + 1) & mask_) {
      Slot& s = slots_[i];
      if (s.id == kEmpty) {
        s = Slot{tag, id};
        return true;
      }
      if (s.tag == tag && get(s.id) == key) return false;
    }
  }
  template <class GetBytes>
  uint32_t find(std::string_view key, GetBytes&& get) const {
    if (slots_.empty()) return kEmpty;
    uint64_t h = hash_bytes(key.data(), key.size());
    uint32_t tag = static_cast<uint32_t>(h >> 32);
    for (size_t i = h & mask_;; i = (i + 1) & mask_) {
      const Slot& s = slots_[i];
      if (s.id == kEmpty) return kEmpty;
      if (s.tag == tag && get(s.id) == key) return s.id;
    }
  }

 private:
  struct Slot {
    uint32_t tag;
    uint32_t id;
  };
  std::vector<Slot> slots_;
  size_t mask_ = 0;
};

// Maps a pair of 32-bit ids to a pair of 32-bit values (e.g. merge priority and merged id).
class PairMap {
 public:
  struct Value {
    uint32_t a;
    uint32_t b;
  };
  static constexpr uint64_t kEmptyKey = ~0ULL;

  void reserve(size_t n) {
    slots_.assign(pow2_capacity(n), Slot{kEmptyKey, {0, 0}});
    mask_ = slots_.size() - 1;
    size_ = 0;
  }
  size_t size() const { return size_; }
  // Inserts if absent; returns false (and keeps the old value) if present.
  bool insert(uint32_t l, uint32_t r, Value v) {
    if (slots_.empty() || (size_ + 1) * 2 > slots_.size()) grow();
    uint64_t key = (uint64_t(l) << 32) | r;
    for (size_t i = mix64(key) & mask_;; i = (i + 1) & mask_) {
      Slot& s = slots_[i];
      if (s.key == kEmptyKey) {
        s.key = key;
        s.value = v;
        ++size_;
        return true;
      }
      if (s.key == key) return false;
    }
  }
  const Value* find(uint32_t l, uint32_t r) const {
    if (slots_.empty()) return nullptr;
    uint64_t key = (uint64_t(l) << 32) | r;
    for (size_t i = mix64(key) & mask_;; i = (i + 1) & mask_) {
      const Slot& s = slots_[i];
      if (s.key == key) return &s.value;
      if (s.key == kEmptyKey) return nullptr;
    }
  }
  template <class F>
  void for_each(F&& f) const {
    for (const Slot& s : slots_)
      if (s.key != kEmptyKey) f(uint32_t(s.key >> 32), uint32_t(s.key), s.value);
  }

 private:
  struct Slot {
    uint64_t key;
    Value value;
  };
  void grow() {
    std::vector<Slot> old;
    old.swap(slots_);
    reserve(old.empty() ? 16 : old.size());  // pow2_capacity doubles relative to n
    for (const Slot& s : old)
      if (s.key != kEmptyKey) insert(uint32_t(s.key >> 32), uint32_t(s.key), s.value);
  }
  std::vector<Slot> slots_;
  size_t mask_ = 0;
  size_t size_ = 0;
};

}  // namespace fastlm
