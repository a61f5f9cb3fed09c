// EM over the seed pieces (see trainer.h for the schedule): E-step, M-step, pruning and the final selection.
//
// Legend as in trainer_seed.h (N text positions, S seed pieces, E edges, K characters, T threads).
// Piece ids never change: a piece dropped by the M-step or by pruning is marked dead (probability 0, score -inf)
// and its edges are compacted out of the CSR (edge_begin[N+1], edge_piece[E]) once an eighth of them are dead.
// The single-character edge of a position is implicit: the piece of its character if alive, else the unknown
// node (score min_score - 10, as sentencepiece's lattice).
//
// E-step, per segment of n characters (see Segment; flat arrays, no lattice nodes):
//   forward   alpha[0..n] pushed left to right: alpha[i + len] += alpha[i] * p(piece)
//   backward  beta[0..n] pulled right to left: beta[i] = sum p(piece) * beta[i + len]
//   marginal  count(piece at i) += word_count * alpha[i] * p * beta[i + len] / alpha[n]
// in linear space (doubles; log space was rejected: an exp and a log per edge would dominate the pass), kept in
// range by rescaling: when a finished value leaves [2^-128, 2^128], it and the pending window of max_piece_length
// positions after it are multiplied by 2^(-+128) and the position records the exponent; marginals reapply the
// exponent difference (a multiple of 128) from a small table. Short segments never rescale and skip that.
// Counts are summed per thread in 2^-24 fixed point (int64), so the sum is exact and independent of T.
//
// Pruning, as sentencepiece: for each multi-character piece, its best segmentation without itself (a Viterbi over
// the edges inside one of its occurrences); if that beats the piece, the piece can go. Then a Viterbi over every
// word gives each piece's frequency f (and F = f / total words); the loss of removing piece i is
// F * (log p_i - sum_alt log p'_alt), with p' the re-normalized frequencies after its count moves to its
// alternative pieces. The highest-loss pieces (and every character still used) are kept, shrinking_factor of the
// pieces per round, never fewer than 1.1 x the target.
#pragma once
#include <cstdint>
#include <memory>
#include <vector>

#include "core/unigram/trainer.h"
#include "core/unigram/trainer_seed.h"

namespace fastlm {
namespace unigram {

// An independent stretch of a word: no piece crosses its ends, so forward-backward and Viterbi factorize over
// stretches. Words are cut wherever no seed edge spans the position (pieces never mix scripts, so "said," is
// "said" | ","), and equal stretches are merged with their counts summed: Japanese lines shrink to their
// distinct clauses, English words lose their punctuation variants: a third fewer positions to visit on the
// en+ja benchmark (589k -> 392k).
struct Segment {
  uint32_t off;    // text position
  uint32_t len;    // characters
  uint64_t count;  // occurrences in the corpus
};

struct Scratch;

class EmTrainer {
 public:
  EmTrainer(const TrainCorpus& corpus, SeedSet seeds, const UnigramTrainerOptions& opts, int num_threads);
  ~EmTrainer();

  // EM rounds and pruning until at most `desired` pieces remain.
  void run(size_t desired, const UnigramProgress& progress, UnigramTrainStats& stats);
  // The required characters, then the best other pieces up to `target` in all, sorted by score (ties: bytes).
  std::vector<TrainedPiece> finalize(size_t target) const;
  // One more pruning round straight to `target` pieces (the last ~10% cut by the same likelihood loss as every
  // other cut; truncating by score, sentencepiece's way, was rejected: 0.8% more tokens on the en+ja benchmark).
  void prune_to(size_t target) {
    if (alive_count_ > target) prune(target);
  }
  size_t alive() const { return alive_count_; }

 private:
  void e_step(std::vector<int64_t>& expected) const;
  void m_step(const std::vector<int64_t>& expected);
  void prune(size_t desired);
  void refresh();   // probabilities and min score after a score change
  void build_segments();
  void kill(uint32_t piece);
  void compact();   // drops the edges of dead pieces
  void maybe_compact();  // compact() once an eighth of the edges are dead (until then they weigh 0)
  size_t max_len() const { return max_len_; }
  std::string piece_string(uint32_t id) const;

  const TrainCorpus& c_;
  SeedSet s_;
  UnigramTrainerOptions o_;
  int threads_;
  size_t max_len_ = 1;
  std::vector<uint8_t> alive_;
  size_t alive_count_ = 0;
  std::vector<double> prob_;    // [S] exp(score) of alive pieces
  std::vector<uint16_t> elen_;  // [E] length of each edge's piece (kept in step with edge_piece)
  mutable std::vector<double> ew_;  // [E] scratch: each edge's probability (E-step) or score (pruning)
  std::vector<Segment> segs_;
  std::vector<uint32_t> edges_of_;  // [S] edges per piece (at the last compaction)
  size_t dead_edges_ = 0;
  mutable std::vector<std::unique_ptr<Scratch>> scratch_;  // per thread, kept warm across steps
  Scratch& scratch(size_t t) const;
  double min_score_ = 0, unk_prob_ = 0, unk_score_ = 0;
};

}  // namespace unigram
}  // namespace fastlm
