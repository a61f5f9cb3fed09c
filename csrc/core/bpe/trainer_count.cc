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

namespace {
uint64_t load_short(const char* p, size_t n) {  // n <= 8 bytes, zero-padded
  uint64_t v = 0;
  std::memcpy(&v, p, n);
  return v;
}
}  // namespace

uint64_t PieceCounter::hash_piece(std::string_view piece) {
  if (piece.size() <= kInline)
    return mix64(load_short(piece.data(), piece.size()) + uint64_t(piece.size()) * 0x9E3779B97F4A7C15ULL);
  return hash_bytes(piece.data(), piece.size());
}

void PieceCounter::add_hashed(std::string_view piece, uint64_t h, uint64_t count) {
  if (piece.size() >= kEmpty) throw ValueError("a pre-token is longer than 4 GiB");
  if ((size_ + 1) * 2 > slots_.size()) grow();
  const uint32_t len = uint32_t(piece.size());
  const bool short_key = len <= kInline;
  const uint64_t v = short_key ? load_short(piece.data(), len) : 0;
  for (size_t i = h & mask_;; i = (i + 1) & mask_) {
    Slot& s = slots_[i];
    if (s.len == kEmpty) {
      s.hash = h;
      s.count = count;
      s.len = len;
      if (short_key) {
        s.off = v;
      } else {
        s.off = arena_.size();
        arena_.insert(arena_.end(), piece.begin(), piece.end());
      }
      ++size_;
      return;
    }
    if (s.hash != h || s.len != len) continue;
    if (short_key ? s.off == v : std::memcmp(arena_.data() + s.off, piece.data(), len) == 0) {
      s.count += count;
      return;
    }
  }
}

void PieceCounter::add_batch(const std::string_view* pieces, size_t n) {
  uint64_t h[kBatch];
  for (size_t b = 0; b < n; b += kBatch) {
    size_t e = std::min(n, b + kBatch);
    if ((size_ + (e - b)) * 2 > slots_.size()) grow();  // grow first, so the prefetched slots stay valid
    for (size_t i = b; i < e; ++i) {
      h[i - b] = hash_piece(pieces[i]);
      __builtin_prefetch(&slots_[h[i - b] & mask_]);
    }
    for (size_t i = b; i < e; ++i) add_hashed(pieces[i], h[i - b], 1);
  }
}

void PieceCounter::add_all(const PieceCounter& other) {
  for (const Slot& s : other.slots_)
    if (s.len != kEmpty) add_hashed(other.key_of(s), s.hash, s.count);
}

PretokenCounter::PretokenCounter(PretokKind kind, std::vector<std::string> specials)
    : kind_(kind), specials_(std::move(specials)) {}

void PretokenCounter::count_one(std::string_view text, PieceCounter& into) const {
  std::string_view batch[PieceCounter::kBatch];
  size_t n = 0;
  auto ordinary = [&](std::string_view seg) {
    pretokenize(kind_, seg, [&](size_t a, size_t b) {
      batch[n++] = seg.substr(a, b - a);
      if (n == PieceCounter::kBatch) {
        into.add_batch(batch, n);
        n = 0;
      }
    });
  };
  if (specials_.size() == 0) {
    ordinary(text);
  } else {
    size_t pos = 0;
    SpecialMatch m;
    while (specials_.find(text, pos, nullptr, m)) {
      ordinary(text.substr(pos, m.start - pos));
      pos = m.end;
    }
    ordinary(text.substr(pos));
  }
  into.add_batch(batch, n);
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
