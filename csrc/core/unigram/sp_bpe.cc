// SentencePiece BPE encoding (see sp_bpe.h).
#include "core/unigram/sp_bpe.h"

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstring>
#include <queue>
#include <string>
#include <unordered_map>

#include "core/unigram/word_cache.h"

namespace fastlm {
namespace unigram {

namespace {
inline size_t one_char_len(uint8_t c) { return size_t("\1\1\1\1\1\1\1\1\1\1\1\1\2\2\3\4"[c >> 4]); }


struct Cand {
  float score;
  uint32_t left;
  uint32_t right;
  uint32_t size;
  // priority_queue pops the largest: higher score first, then the smaller left index (sentencepiece's order).
  bool operator<(const Cand& o) const { return score < o.score || (score == o.score && left > o.left); }
};

}  // namespace

SpBpeModel::SpBpeModel(std::shared_ptr<const PieceTable> table)
    : t_(std::move(table)), uid_(new_cache_owner()) {
  std::vector<sp::DoubleArrayTrie::Key> keys;
  std::vector<std::pair<std::string, int32_t>> user;
  words_ = true;
  out_id_.resize(t_->size());
  for (size_t i = 0; i < t_->size(); ++i) {
    const sp::Piece& p = t_->piece(uint32_t(i));
    const int32_t shadow = t_->find(p.piece);  // PieceToId: reserved pieces first
    out_id_[i] = shadow >= 0 ? uint32_t(shadow) : uint32_t(i);
    if (p.type != sp::kNormal && p.type != sp::kUserDefined && p.type != sp::kUnused) continue;
    keys.push_back({p.piece, int32_t(i), p.score});
    if (p.type == sp::kUserDefined) user.emplace_back(p.piece, 0);
    if (p.type == sp::kUnused) has_unused_ = true;
    if (std::isnan(p.score)) scan_ok_ = false;
    // A piece with U+2581 after another character could merge across a word start.
    if (!words_are_independent(p.piece)) words_ = false;
  }
  if (has_unused_ || !scan_ok_) words_ = false;
  dict_.build(std::move(keys));
  if (!user.empty()) {
    user_.build(std::move(user));
    has_user_ = true;
  }
}

// Initial symbols: user-defined symbols (longest match) stay whole and frozen, everything else one character.
// Trie nodes are found later, only for words that miss the cache.
void SpBpeModel::split(std::string_view s, std::vector<Sym>& sym) const {
  const size_t n = s.size();
  sym.clear();
  for (size_t i = 0; i < n;) {
    size_t len = 0;
    bool freeze = false;
    if (has_user_ && user_.has_first_byte(uint8_t(s[i]))) {
      int32_t v;
      len = user_.longest_prefix(s.data() + i, n - i, v);
      freeze = len > 0;
    }
    if (!len) len = std::min(one_char_len(uint8_t(s[i])), n - i);
    const int32_t k = int32_t(sym.size());
    sym.push_back(Sym{uint32_t(i), uint32_t(len), -1, k - 1, k + 1, freeze});  // node: set by merge()
    i += len;
  }
  if (!sym.empty()) sym.back().next = -1;
}

uint32_t SpBpeModel::output_id(std::string_view s, const Sym& x) const {
  if (x.node >= 0) {
    const int32_t v = dict_.value_at(x.node);
    if (v >= 0) return out_id_[size_t(v)];
  }
  const int32_t id = t_->find(s.substr(x.begin, x.len));  // a reserved piece, or nothing: unknown
  return id < 0 ? t_->unk_id() : uint32_t(id);
}

// A word starts at a symbol that begins with U+2581 not preceded by U+2581.
bool SpBpeModel::word_start(std::string_view s, const Sym& x) const {
  return word_starts_at(reinterpret_cast<const unsigned char*>(s.data()), s.size(), x.begin);
}

void SpBpeModel::merge_scan(std::string_view s, const Sym* in, size_t m, std::vector<Tok>& out) const {
  uint32_t begin[kScanMax], len[kScanMax];
  int32_t node[kScanMax], pair_node[kScanMax];
  bool freeze[kScanMax];
  float score[kScanMax] = {};
  std::fill(pair_node, pair_node + kScanMax, -1);
  for (size_t j = 0; j < m; ++j) {
    begin[j] = in[j].begin;
    len[j] = in[j].len;
    node[j] = in[j].node;
    freeze[j] = in[j].freeze;
  }
  // pair_node[j]: the trie node of symbol j + symbol j+1 if that is a piece, else -1.
  auto pair = [&](size_t j) {
    pair_node[j] = -1;
    if (freeze[j] || freeze[j + 1] || node[j] < 0) return;
    const int32_t x = dict_.walk(node[j], s.data() + begin[j + 1], len[j + 1]);
    if (x < 0 || dict_.value_at(x) < 0) return;
    pair_node[j] = x;
    score[j] = dict_.payload_at(x);
  };
  for (size_t j = 0; j + 1 < m; ++j) pair(j);
  while (m > 1) {
    size_t best = m;
    float bs = 0.0f;
    for (size_t j = 0; j + 1 < m; ++j)
      if (pair_node[j] >= 0 && (best == m || score[j] > bs)) {
        best = j;
        bs = score[j];
      }
    if (best == m) break;
    len[best] += len[best + 1];
    node[best] = pair_node[best];
    for (size_t j = best + 1; j + 1 < m; ++j) {
      begin[j] = begin[j + 1];
      len[j] = len[j + 1];
      node[j] = node[j + 1];
      freeze[j] = freeze[j + 1];
      pair_node[j] = pair_node[j + 1];
      score[j] = score[j + 1];
    }
    --m;
    if (best > 0) pair(best - 1);
    if (best + 1 < m) pair(best);
  }
  for (size_t j = 0; j < m; ++j) {
    const Sym x{begin[j], len[j], node[j], 0, 0, freeze[j]};
    out.push_back(Tok(begin[j], begin[j] + len[j], output_id(s, x)));
  }
}

void SpBpeModel::merge_heap(std::string_view s, std::vector<Sym>& sym, size_t lo, size_t hi,
                            std::vector<Tok>& out) const {
  const PieceTable& t = *t_;
  sym[lo].prev = -1;
  sym[hi - 1].next = -1;
  std::priority_queue<Cand> agenda;
  std::unordered_map<std::string_view, std::pair<std::string_view, std::string_view>> rev;
  auto try_pair = [&](int32_t l, int32_t r) {
    if (l < 0 || r < 0) return;
    const Sym& a = sym[size_t(l)];
    const Sym& b = sym[size_t(r)];
    if (a.freeze || b.freeze || a.node < 0) return;
    const int32_t x = dict_.walk(a.node, s.data() + b.begin, b.len);
    if (x < 0) return;
    const int32_t id = dict_.value_at(x);
    if (id < 0) return;
    agenda.push(Cand{dict_.payload_at(x), uint32_t(l), uint32_t(r), a.len + b.len});
    if (has_unused_ && t.is_unused(uint32_t(id)))
      rev[s.substr(a.begin, a.len + b.len)] = {s.substr(a.begin, a.len), s.substr(b.begin, b.len)};
  };
  for (size_t i = lo + 1; i < hi; ++i) try_pair(int32_t(i - 1), int32_t(i));
  while (!agenda.empty()) {
    Cand c = agenda.top();
    agenda.pop();
    Sym& a = sym[c.left];
    Sym& b = sym[c.right];
    if (a.len == 0 || b.len == 0 || a.len + b.len != c.size) continue;
    a.node = dict_.walk(a.node, s.data() + b.begin, b.len);
    a.len += b.len;
    a.next = b.next;
    if (b.next >= 0) sym[size_t(b.next)].prev = int32_t(c.left);
    b.len = 0;
    try_pair(a.prev, int32_t(c.left));
    try_pair(int32_t(c.left), sym[c.left].next);
  }
  // Emit, splitting UNUSED pieces back into their halves.
  auto emit = [&](auto&& self, std::string_view w) -> void {
    const int32_t id = t.find(w);
    const uint32_t begin = uint32_t(w.data() - s.data());
    if (id < 0 || !has_unused_ || !t.is_unused(uint32_t(id))) {
      out.push_back(Tok(begin, begin + uint32_t(w.size()), id < 0 ? t.unk_id() : uint32_t(id)));
      return;
    }
    auto it = rev.find(w);
    if (it == rev.end()) {
      out.push_back(Tok(begin, begin + uint32_t(w.size()), uint32_t(id)));
      return;
    }
    self(self, it->second.first);
    self(self, it->second.second);
  };
  for (int32_t k = int32_t(lo); k >= 0; k = sym[size_t(k)].next) {
    const Sym& x = sym[size_t(k)];
    if (has_unused_)
      emit(emit, s.substr(x.begin, x.len));
    else
      out.push_back(Tok(x.begin, x.begin + x.len, output_id(s, x)));
  }
}

void SpBpeModel::merge(std::string_view s, std::vector<Sym>& sym, size_t lo, size_t hi, std::vector<Tok>& out) const {
  for (size_t i = lo; i < hi; ++i) sym[i].node = dict_.walk(dict_.root(), s.data() + sym[i].begin, sym[i].len);
  if (hi - lo == 1) {
    out.push_back(Tok(sym[lo].begin, sym[lo].begin + sym[lo].len, output_id(s, sym[lo])));
  } else if (scan_ok_ && !has_unused_ && hi - lo <= kScanMax) {
    merge_scan(s, sym.data() + lo, hi - lo, out);
  } else {
    merge_heap(s, sym, lo, hi, out);
  }
}

namespace {
// A word's blob: (end offset within the word, id) per token.
inline void emit_cached(const uint32_t* hit, uint32_t count, uint32_t wb, std::vector<Tok>& out) {
  uint32_t b = wb;
  for (uint32_t k = 0; k + 1 < count; k += 2) {
    const uint32_t e = wb + hit[k];
    out.push_back(Tok(b, e, hit[k + 1]));
    b = e;
  }
}
inline void cache_word(WordCache& cache, const char* w, uint32_t wn, uint64_t h, const Tok* toks, size_t count,
                       uint32_t wb) {
  thread_local std::vector<uint32_t> blob;
  blob.clear();
  for (size_t k = 0; k < count; ++k) {
    blob.push_back(toks[k].end - wb);
    blob.push_back(toks[k].id);
  }
  cache.insert(w, wn, h, blob.data(), blob.size());
}
}  // namespace

void SpBpeModel::encode(std::string_view s, std::vector<Tok>& out) const {
  if (s.empty()) return;
  thread_local std::vector<Sym> sym;
  thread_local WordCache cache;
  const size_t n = s.size();
  const unsigned char* p = reinterpret_cast<const unsigned char*>(s.data());
  if (words_ && !has_user_) {
    // Words found on the bytes (characters are the initial symbols); symbols are built only for cache misses.
    cache.use(uid_);
    for (size_t wb = 0; wb < n;) {
      size_t we = wb + std::min(one_char_len(p[wb]), n - wb);
      while (we < n && !word_starts_at(p, n, we)) we += std::min(one_char_len(p[we]), n - we);
      const uint32_t wn = uint32_t(we - wb);
      const uint64_t h = wn <= WordCache::kMaxWordBytes ? word_hash(p + wb, wn) : 0;
      uint32_t count = 0;
      const uint32_t* hit = wn <= WordCache::kMaxWordBytes ? cache.find(s.data() + wb, wn, h, count) : nullptr;
      if (hit) {
        emit_cached(hit, count, uint32_t(wb), out);
      } else {
        sym.clear();
        for (size_t i = wb; i < we;) {
          const size_t len = std::min(one_char_len(p[i]), we - i);
          const int32_t k = int32_t(sym.size());
          sym.push_back(Sym{uint32_t(i), uint32_t(len), -1, k - 1, k + 1, false});
          i += len;
        }
        const size_t first = out.size();
        merge(s, sym, 0, sym.size(), out);
        if (wn <= WordCache::kMaxWordBytes)
          cache_word(cache, s.data() + wb, wn, h, out.data() + first, out.size() - first, uint32_t(wb));
      }
      wb = we;
    }
    return;
  }
  split(s, sym);
  if (!words_) {
    merge(s, sym, 0, sym.size(), out);
    return;
  }
  cache.use(uid_);
  for (size_t lo = 0; lo < sym.size();) {
    size_t hi = lo + 1;
    while (hi < sym.size() && !word_start(s, sym[hi])) ++hi;
    const uint32_t wb = sym[lo].begin;
    const uint32_t wn = sym[hi - 1].begin + sym[hi - 1].len - wb;
    if (hi - lo == 1 || wn > WordCache::kMaxWordBytes) {
      merge(s, sym, lo, hi, out);
    } else {
      const uint64_t h = word_hash(s.data() + wb, wn);
      uint32_t count = 0;
      if (const uint32_t* hit = cache.find(s.data() + wb, wn, h, count)) {
        emit_cached(hit, count, wb, out);
      } else {
        const size_t first = out.size();
        merge(s, sym, lo, hi, out);
        cache_word(cache, s.data() + wb, wn, h, out.data() + first, out.size() - first, wb);
      }
    }
    lo = hi;
  }
}

}  // namespace unigram
}  // namespace fastlm
