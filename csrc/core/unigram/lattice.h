// The segmentation lattice: one node per (start character, dictionary piece), plus BOS/EOS.
// Node order (insertion order per position) matches sentencepiece's, which fixes the order of n-best ties.
#pragma once
#include <cstdint>
#include <random>
#include <string_view>
#include <utility>
#include <vector>

#include "core/unigram/pieces.h"

namespace fastlm {
namespace unigram {

class Lattice {
 public:
  struct Node {
    int32_t id;      // piece id; -1 for BOS/EOS
    uint32_t pos;    // start, in characters
    uint32_t len;    // length, in characters
    float score;
    float backtrace = 0.0f;
    int32_t prev = -1;
  };

  Lattice(std::string_view normalized, const PieceTable& table);
  size_t num_chars() const { return chars_.size() - 1; }

  // Viterbi: fills backtrace scores; returns node indices of the best path.
  std::vector<int32_t> viterbi();
  std::vector<std::pair<std::vector<int32_t>, float>> nbest(size_t n);
  // log of the sum over paths ending at each node of exp(theta * path score); alpha[EOS] is log Z.
  std::vector<float> forward(float theta) const;
  std::vector<int32_t> sample(float theta, std::mt19937& rng) const;

  Tok tok(int32_t node) const {
    const Node& n = nodes_[size_t(node)];
    return Tok{chars_[n.pos], chars_[n.pos + n.len], uint32_t(n.id)};
  }

 private:
  int32_t insert(uint32_t pos, uint32_t len, int32_t id, float score);
  std::vector<uint32_t> chars_;  // byte offset of each character start, plus the end
  std::vector<Node> nodes_;      // 0 = BOS, 1 = EOS
  std::vector<std::vector<int32_t>> begin_, end_;
};

}  // namespace unigram
}  // namespace fastlm
