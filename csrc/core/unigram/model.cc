// Unigram segmentation (see model.h).
#include "core/unigram/model.h"

#include <algorithm>
#include <cmath>

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
}  // namespace

void UnigramModel::encode(std::string_view s, std::vector<Tok>& out) const {
  const size_t n = s.size();
  if (n == 0) return;
  const PieceTable& t = *t_;
  thread_local std::vector<Best> best;
  best.assign(n + 1, Best{0.0f, -1, 0});
  const float unk_score = t.min_score() - kUnkPenalty;
  const float max_score = t.max_score();
  const uint32_t unk = t.unk_id();
  for (size_t start = 0; start < n;) {
    const float here = best[start].score;
    const size_t mblen = std::min(one_char_len(uint8_t(s[start])), n - start);
    bool single = false;
    t.trie().prefixes(s.data() + start, n - start, [&](size_t len, int32_t id) {
      if (t.is_unused(uint32_t(id))) return;
      // Float path scores, as sentencepiece: rounding decides near-ties, and equal floats keep the earlier start.
      // (Double accumulation was tried: it resolves some near-ties differently from sentencepiece.)
      float score = t.is_user_defined(uint32_t(id)) ? float(double(float(len) * max_score) - 0.1)
                                                     : t.score(uint32_t(id));
      float cand = score + here;
      Best& b = best[start + len];
      if (b.start < 0 || cand > b.score) {
        b.score = cand;
        b.start = int32_t(start);
        b.id = uint32_t(id);
      }
      if (len == mblen) single = true;
    });
    if (!single) {
      float cand = unk_score + here;
      Best& b = best[start + mblen];
      if (b.start < 0 || cand > b.score) {
        b.score = cand;
        b.start = int32_t(start);
        b.id = unk;
      }
    }
    start += mblen;
  }
  size_t first = out.size();
  for (size_t end = n; end > 0;) {
    const Best& b = best[end];
    out.push_back(Tok{uint32_t(b.start), uint32_t(end), b.id});
    end = size_t(b.start);
  }
  std::reverse(out.begin() + std::ptrdiff_t(first), out.end());
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
