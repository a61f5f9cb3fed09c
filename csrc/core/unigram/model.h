// Unigram language model over pieces: best segmentation (Viterbi), n-best, and sampling.
//
// encode() is a single left-to-right dynamic program over byte positions (no lattice is materialized): for each
// character start, one trie walk yields every dictionary piece starting there, with its score stored in the trie
// unit (no per-match score lookup). Per position the DP keeps only {best score, start, id}.
//
// The arithmetic is sentencepiece's (>= 0.2.1) exactly, because on long inputs float rounding decides near-ties:
//   * path scores are float; candidate = float(piece score) + float(path score), compared with `>` (ties keep the
//     earlier start);
//   * a user-defined piece of b bytes scores float(double(b - 1) * 0.1), the unknown piece min_score - 10;
//   * when the path score at a character start leaves [-1e5, 1e5], it is subtracted from every reached position
//     from that start up to the furthest end written so far (rebasing; without it, decisions diverged from
//     sentencepiece after ~20-140 KB of one text). Double accumulation was tried and diverges sooner.
// nbest()/sample() build the full lattice (lattice.h).
#pragma once
#include <cstdint>
#include <memory>
#include <random>
#include <string_view>
#include <vector>

#include "core/unigram/pieces.h"

namespace fastlm {
namespace unigram {

// Scores below this (or NaN) send the DP to its exact path (model_encode.cc: the fill of unset cells).
constexpr float kLowestScore = -1e37f;

class UnigramModel {
 public:
  explicit UnigramModel(std::shared_ptr<const PieceTable> table);
  const PieceTable& table() const { return *t_; }

  // Best segmentation of normalized text (appends to out).
  void encode(std::string_view normalized, std::vector<Tok>& out) const;
  // Ids only, appended, with the output rules for unknown pieces applied (SpEncoder::finish): the same ids as
  // encode() followed by finish(), without the Tok pass.
  void encode_ids(std::string_view normalized, std::vector<uint32_t>& ids) const;
  // Up to n best segmentations with their scores, best first (n is clamped to [1, 1024] as sentencepiece does).
  std::vector<std::pair<std::vector<Tok>, float>> nbest(std::string_view normalized, int n) const;
  // One sampled segmentation. nbest_size < 0: forward-filtering backward-sampling over the whole lattice with
  // inverse temperature alpha; nbest_size > 1: sample among the n best with p ~ exp(alpha * score);
  // nbest_size 0 or 1: the best segmentation.
  void sample(std::string_view normalized, int nbest_size, float alpha, std::mt19937& rng, std::vector<Tok>& out) const;

 private:
  void forward(std::string_view normalized) const;       // the DP, into a per-thread state
  void backtrace(size_t n, std::vector<Tok>& out) const;  // the best path of the last forward()

  std::shared_ptr<const PieceTable> t_;
  // NORMAL and USER_DEFINED pieces (UNUSED ones never enter the DP), payload = the DP score of the piece.
  sp::DoubleArrayTrie dp_;
  size_t max_len_ = 4;  // longest DP piece in bytes (at least one character)
  // Some DP piece score is NaN or below the unknown piece's, or that is below kLowestScore: the DP then tracks the
  // one-character match itself and tests unset cells by their start (model_encode.cc).
  bool exact_ = false;
  bool ascii_piece_[256] = {};  // [b]: the ASCII byte b alone is a DP piece
};

}  // namespace unigram
}  // namespace fastlm
