// Unigram segmentation (see model.h).
#include "core/unigram/model.h"

#include <algorithm>
#include <cmath>
#include <cstring>

#include "core/unigram/lattice.h"

namespace fastlm {
namespace unigram {

namespace {
inline size_t one_char_len(uint8_t c) { return size_t("\1\1\1\1\1\1\1\1\1\1\1\1\2\2\3\4"[c >> 4]); }

struct Best {
  float score;
  int32_t start;  // -1: not reached yet
  uint32_t id;
};
constexpr float kRebaseBound = 1e5f;
}  // namespace

UnigramModel::UnigramModel(std::shared_ptr<const PieceTable> table) : t_(std::move(table)) {
  std::vector<sp::DoubleArrayTrie::Key> keys;
  for (size_t i = 0; i < t_->size(); ++i) {
    const sp::Piece& p = t_->piece(uint32_t(i));
    if (p.type == sp::kNormal)
      keys.push_back({p.piece, int32_t(i), p.score});
    else if (p.type == sp::kUserDefined)
      keys.push_back({p.piece, int32_t(i), float(double(int(p.piece.size()) - 1) * 0.1)});
  }
  dp_.build(std::move(keys));
}

void UnigramModel::encode(std::string_view s, std::vector<Tok>& out) const {
  const size_t n = s.size();
  if (n == 0) return;
  thread_local std::vector<Best> best;
  if (best.size() < n + 1) best.resize(n + 1);
  Best* bp = best.data();
  // Positions past `reach` were never written; they are cleared only when a candidate first reaches them (no
  // pass over the whole array: on long lines that memset cost as much as the DP's trie walks).
  bp[0].score = 0.0f;
  bp[0].start = -1;
  const float unk_score = t_->min_score() - kUnkPenalty;
  const uint32_t unk = t_->unk_id();
  const char* d = s.data();
  size_t reach = 0;  // furthest end position written so far
  for (size_t start = 0; start < n;) {
    float here = bp[start].score;
    if (std::fabs(here) > kRebaseBound) {  // false for NaN, as sentencepiece's two comparisons
      for (size_t c = start; c <= reach; ++c)
        if (c == start || bp[c].start >= 0) bp[c].score -= here;
      here = 0.0f;
    }
    const size_t mblen = std::min(one_char_len(uint8_t(d[start])), n - start);
    bool single = false;
    dp_.prefixes_with_payload(d + start, n - start, [&](size_t len, int32_t id, float score) {
      const size_t e = start + len;
      if (e > reach) {
        for (size_t q = reach + 1; q <= e; ++q) bp[q].start = -1;
        reach = e;
      }
      const float cand = score + here;
      Best& b = bp[e];
      if (b.start < 0 || cand > b.score) {
        b.score = cand;
        b.start = int32_t(start);
        b.id = uint32_t(id);
      }
      single |= len == mblen;
    });
    if (!single) {
      const size_t e = start + mblen;
      if (e > reach) {
        for (size_t q = reach + 1; q <= e; ++q) bp[q].start = -1;
        reach = e;
      }
      const float cand = unk_score + here;
      Best& b = bp[e];
      if (b.start < 0 || cand > b.score) {
        b.score = cand;
        b.start = int32_t(start);
        b.id = unk;
      }
    }
    start += mblen;
  }
  // Backtrace in one pass: a segmentation has at most one token per character, so write from the end of an
  // n-slot block and move the filled tail down.
  const size_t first = out.size();
  out.resize(first + n);
  Tok* const base = out.data() + first;
  Tok* o = base + n;
  for (size_t end = n; end > 0;) {
    const Best& b = bp[end];
    *--o = Tok(uint32_t(b.start), uint32_t(end), b.id);
    end = size_t(b.start);
  }
  const size_t count = size_t(base + n - o);
  std::memmove(static_cast<void*>(base), o, count * sizeof(Tok));
  out.resize(first + count);
}

std::vector<std::pair<std::vector<Tok>, float>> UnigramModel::nbest(std::string_view s, int n) const {
  std::vector<std::pair<std::vector<Tok>, float>> res;
  if (s.empty()) {
    res.emplace_back(std::vector<Tok>{}, 0.0f);
    return res;
  }
  n = std::max(1, std::min(n, 1024));
  if (n == 1) {
    std::vector<Tok> v;
    encode(s, v);
    res.emplace_back(std::move(v), 0.0f);
    return res;
  }
  Lattice lat(s, *t_);
  for (auto& p : lat.nbest(size_t(n))) {
    std::vector<Tok> v;
    v.reserve(p.first.size());
    for (int32_t k : p.first) v.push_back(lat.tok(k));
    res.emplace_back(std::move(v), p.second);
  }
  return res;
}

void UnigramModel::sample(std::string_view s, int nbest_size, float alpha, std::mt19937& rng,
                          std::vector<Tok>& out) const {
  if (s.empty()) return;
  if (nbest_size == 0 || nbest_size == 1) {
    encode(s, out);
    return;
  }
  if (nbest_size > 1) {
    auto nb = nbest(s, nbest_size);
    std::vector<double> lp;
    double mx = -1e300;
    for (auto& p : nb) {
      lp.push_back(double(alpha) * double(p.second));
      mx = std::max(mx, lp.back());
    }
    for (auto& x : lp) x = std::exp(x - mx);
    std::discrete_distribution<size_t> dist(lp.begin(), lp.end());
    auto& pick = nb[dist(rng)].first;
    out.insert(out.end(), pick.begin(), pick.end());
    return;
  }
  Lattice lat(s, *t_);
  for (int32_t k : lat.sample(alpha, rng)) out.push_back(lat.tok(k));
}

}  // namespace unigram
}  // namespace fastlm
