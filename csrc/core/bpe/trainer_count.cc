#include "core/bpe/trainer_count.h"

#include <algorithm>
#include <cstring>

#include "core/error.h"
#include "core/hash.h"
#include "core/parallel.h"

namespace fastlm {
namespace bpe {

void PieceCounter::clear() {
  std::vector<Slot>().swap(slots_);
  std::vector<char>().swap(arena_);
  size_ = 0;
  mask_ = 0;
}

void PieceCounter::grow() {
  std::vector<Slot> old;
  old.swap(slots_);
  size_t cap = old.empty() ? 1024 : old.size() * 2;
  slots_.assign(cap, Slot{0, 0, 0, kEmpty});
  mask_ = cap - 1;
  for (const Slot& s : old) {
    if (s.len == kEmpty) continue;
    for (size_t i = s.hash & mask_;; i = (i + 1) & mask_)
      if (slots_[i].len == kEmpty) {
        slots_[i] = s;
        break;
      }
  }
}

void PieceCounter::add(std::string_view piece, uint64_t count) {
  add_hashed(piece, hash_bytes(piece.data(), piece.size()), count);
}

void PieceCounter::add_hashed(std::string_view piece, uint64_t h, uint64_t count) {
  if (piece.size() >= kEmpty) throw ValueError("a pre-token is longer than 4 GiB");
  if ((size_ + 1) * 2 > slots_.size()) grow();
  for (size_t i = h & mask_;; i = (i + 1) & mask_) {
    Slot& s = slots_[i];
    if (s.len == kEmpty) {
      s.hash = h;
      s.count = count;
      s.off = arena_.size();
      s.len = uint32_t(piece.size());
      arena_.insert(arena_.end(), piece.begin(), piece.end());
      ++size_;
      return;
    }
    if (s.hash == h && s.len == piece.size() && std::memcmp(arena_.data() + s.off, piece.data(), piece.size()) == 0) {
      s.count += count;
      return;
    }
  }
}

void PieceCounter::add_all(const PieceCounter& other) {
  for (const Slot& s : other.slots_)
    if (s.len != kEmpty) add_hashed(std::string_view(other.arena_.data() + s.off, s.len), s.hash, s.count);
}

PretokenCounter::PretokenCounter(PretokKind kind, std::vector<std::string> specials)
    : kind_(kind), specials_(std::move(specials)) {}

void PretokenCounter::count_one(std::string_view text, PieceCounter& into) const {
  auto ordinary = [&](std::string_view seg) {
    pretokenize(kind_, seg, [&](size_t a, size_t b) { into.add(seg.substr(a, b - a), 1); });
  };
  if (specials_.size() == 0) {
    ordinary(text);
    return;
  }
  size_t pos = 0;
  SpecialMatch m;
  while (specials_.find(text, pos, nullptr, m)) {
    ordinary(text.substr(pos, m.start - pos));
    pos = m.end;
  }
  ordinary(text.substr(pos));
}

void PretokenCounter::count_texts(const std::vector<std::string_view>& texts, int num_threads) {
  int t = resolve_threads(num_threads, texts.size());
  if (workers_.size() < size_t(t)) workers_.resize(size_t(t));
  parallel_for(texts.size(), t, [&](int w, size_t i) { count_one(texts[i], workers_[size_t(w)]); });
  for (auto s : texts) bytes_seen_ += s.size();
}

void PretokenCounter::add_pieces(const std::vector<std::pair<std::string_view, uint64_t>>& pieces) {
  if (workers_.empty()) workers_.resize(1);
  for (const auto& p : pieces) {
    if (p.first.empty()) continue;
    workers_[0].add(p.first, p.second);
    bytes_seen_ += p.first.size() * p.second;
  }
}

size_t PretokenCounter::distinct_upper_bound() const {
  size_t n = 0;
  for (const auto& w : workers_) n += w.size();
  return n;
}

PieceCounter PretokenCounter::take() {
  if (workers_.empty()) return PieceCounter();
  // Start from the largest table so the fewest entries are re-inserted; free each table once summed.
  auto big = std::max_element(workers_.begin(), workers_.end(),
                              [](const PieceCounter& a, const PieceCounter& b) { return a.size() < b.size(); });
  PieceCounter out = std::move(*big);
  for (auto& w : workers_) {
    if (&w == &*big) continue;
    out.add_all(w);
    w.clear();
  }
  workers_.clear();
  return out;
}

}  // namespace bpe
}  // namespace fastlm
