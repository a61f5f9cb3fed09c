// Unigram segmentation (see model.h).
#include "core/unigram/model.h"

#include <algorithm>
#include <cmath>
#include <cstring>

#include "core/unigram/lattice.h"

namespace fastlm {
namespace unigram {

UnigramModel::UnigramModel(std::shared_ptr<const PieceTable> table) : t_(std::move(table)) {
  std::vector<sp::DoubleArrayTrie::Key> keys;
  for (size_t i = 0; i < t_->size(); ++i) {
    const sp::Piece& p = t_->piece(uint32_t(i));
    if (p.type == sp::kNormal)
      keys.push_back({p.piece, int32_t(i), p.score});
    else if (p.type == sp::kUserDefined)
      keys.push_back({p.piece, int32_t(i), float(double(int(p.piece.size()) - 1) * 0.1)});
  }
  const float unk_score = t_->min_score() - kUnkPenalty;
  for (const auto& k : keys) {
    max_len_ = std::max(max_len_, k.key.size());
    exact_ |= !(k.payload >= unk_score);  // NaN on either side, or a user-defined score below it
    if (k.key.size() == 1 && uint8_t(k.key[0]) < 0x80) ascii_piece_[uint8_t(k.key[0])] = true;
  }
  exact_ |= !(unk_score >= kLowestScore);
  dp_.build(std::move(keys));
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
