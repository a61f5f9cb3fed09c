// SentencePiece Unigram training: text in, (piece, log-probability) pairs out, sorted by score.
//
//   count      lines -> SentencePiece normalization (charsmap, U+2581 escape, dummy prefix, extra-whitespace
//              removal) -> words (split before each U+2581) -> word counts, on C++ threads (trainer_count.h).
//              Only the distinct words and their counts are kept.
//   chars      the most frequent characters up to `character_coverage` are required pieces; the rest become one
//              unknown character that no piece may contain.
//   seed       a suffix array + LCP over the distinct words (each weighted by its count), cut at
//              max_piece_length: every substring that is a valid piece and occurs at least twice, scored
//              occurrences x length; the best `seed_size` plus every required character (trainer_seed.h).
//   EM         E-step: expected piece counts by forward-backward over each distinct word (flat arrays, no lattice
//              objects); M-step: the Bayesian (digamma) update, pieces expected less than 0.5 times dropped.
//              Every `num_sub_iterations` EM steps, prune: keep the pieces whose removal would cost the most
//              likelihood (their best re-segmentation stands in for them), `shrinking_factor` of them, until at
//              most 1.1 x the target remains (trainer_em.h; the per-word passes are in trainer_kernels.h).
//   finalize   one last pruning round straight to the target, then the required characters and the
//              best-scoring pieces up to the target, sorted by score.
//
// Deterministic: the words are sorted before training, and every cross-thread sum is an integer (expected counts
// in 2^-24 fixed point), so the result does not depend on num_threads or on scheduling.
#pragma once
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "core/normalize_sp.h"

namespace fastlm {
namespace unigram {

struct UnigramTrainerOptions {
  size_t vocab_size = 8000;  // pieces to produce: required characters + learned pieces (no meta/byte pieces)
  double character_coverage = 0.9995;
  size_t max_piece_length = 16;  // in characters
  bool split_by_whitespace = true;
  bool split_by_unicode_script = true;
  bool split_by_number = true;
  bool split_digits = false;
  size_t seed_size = 1000000;
  double shrinking_factor = 0.75;
  int num_sub_iterations = 2;
  SpNormalizerOptions normalizer;        // escape_whitespaces must be true
  std::vector<std::string> cut_tokens;   // meta / special / user-defined pieces: boundaries in the training text
  size_t max_sentences = 0;              // 0: every line; else a uniform sample of this many lines
  uint64_t seed = 0;                     // for the sample
  size_t reserved_pieces = 0;            // meta/byte/user pieces the caller adds (only for error messages)
};

struct TrainedPiece {
  std::string piece;  // normalized UTF-8 (U+2581 for spaces)
  float score;
};

struct UnigramTrainStats {
  uint64_t lines = 0, bytes = 0, words = 0, distinct_words = 0, required_chars = 0, seed_pieces = 0;
  int em_steps = 0, prune_rounds = 0;
};

// progress(stage, done, total): stage 0 = seeding, 1 = EM rounds (done/total estimated), 2 = finished.
using UnigramProgress = std::function<void(int, size_t, size_t)>;

class WordCounter;

class UnigramTrainer {
 public:
  explicit UnigramTrainer(UnigramTrainerOptions opts);
  ~UnigramTrainer();

  // Counts the words of every line of every text (UTF-8). Thread-safe only for one caller at a time.
  void add_texts(const std::vector<std::string_view>& texts, int num_threads);
  uint64_t lines_seen() const;
  uint64_t bytes_seen() const;

  // Trains on everything added so far (once). Throws ValueError for an empty corpus or a vocab_size smaller than
  // the number of required characters.
  std::vector<TrainedPiece> train(int num_threads, const UnigramProgress& progress);
  const UnigramTrainStats& stats() const { return stats_; }

 private:
  UnigramTrainerOptions opts_;
  std::unique_ptr<WordCounter> counter_;
  UnigramTrainStats stats_;
  bool trained_ = false;
};

}  // namespace unigram
}  // namespace fastlm
