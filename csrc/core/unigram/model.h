// Unigram language model over pieces: best segmentation (Viterbi), n-best, and sampling.
//
// encode() is a single left-to-right dynamic program over byte positions (no lattice is materialized): for each
// character start, one trie walk yields every dictionary piece starting there. Scores follow sentencepiece's
// arithmetic exactly (float state, double candidates for dictionary pieces, float for the unknown node) so ties
// resolve identically. nbest()/sample() build the full lattice (lattice.h).
#pragma once
#include <cstdint>
#include <memory>
#include <random>
#include <string_view>
#include <vector>

#include "core/unigram/pieces.h"

namespace fastlm {
namespace unigram {

class UnigramModel {
 public:
  explicit UnigramModel(std::shared_ptr<const PieceTable> table) : t_(std::move(table)) {}
  const PieceTable& table() const { return *t_; }

  // Best segmentation of normalized text (appends to out).
  void encode(std::string_view normalized, std::vector<Tok>& out) const;
  // Up to n best segmentations with their scores, best first (n is clamped to [1, 1024] as sentencepiece does).
  std::vector<std::pair<std::vector<Tok>, float>> nbest(std::string_view normalized, int n) const;
  // One sampled segmentation. nbest_size < 0: forward-filtering backward-sampling over the whole lattice with
  // inverse temperature alpha; nbest_size > 1: sample among the n best with p ~ exp(alpha * score);
  // nbest_size 0 or 1: the best segmentation.
  void sample(std::string_view normalized, int nbest_size, float alpha, std::mt19937& rng, std::vector<Tok>& out) const;

 private:
  std::shared_ptr<const PieceTable> t_;
};

}  // namespace unigram
}  // namespace fastlm
