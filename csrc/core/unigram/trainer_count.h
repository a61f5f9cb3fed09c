// Word counting for the Unigram trainer: lines -> normalized sentences -> words -> counts.
//
// A line (text split at '\n', as sentencepiece reads its input) is normalized as a whole with SpNormalizer, then
// cut at the cut tokens (meta, special and user-defined pieces never take part in learned pieces, so each
// occurrence ends a word), then split before every U+2581 ("\xe2\x96\x81") into words when split_by_whitespace
// (else the whole sentence is one word). Each worker thread counts into its own table (bpe::PieceCounter, a
// byte-string -> count open-addressing table); take() sums them. Sums do not depend on how lines were spread over
// threads.
//
// With max_sentences > 0 the lines are first sampled: reservoir sampling (Algorithm R) whose draw for line i is a
// hash of (seed, i), so the sample depends only on the seed and the line order, never on threads. Only the
// sample is kept (max_sentences lines).
#pragma once
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "core/bpe/trainer_count.h"
#include "core/normalize_sp.h"
#include "core/special.h"
#include "core/unigram/trainer.h"

namespace fastlm {
namespace unigram {

class WordCounter {
 public:
  explicit WordCounter(const UnigramTrainerOptions& opts);

  void add_texts(const std::vector<std::string_view>& texts, int num_threads);
  // The summed word counts (frees the per-thread tables). Call once.
  bpe::PieceCounter take(int num_threads);
  uint64_t lines() const { return lines_; }
  uint64_t bytes() const { return bytes_; }

 private:
  void count_lines(const std::vector<std::string_view>& lines, int num_threads);
  void count_line(std::string_view line, std::string& scratch, bpe::PieceCounter& into) const;

  SpNormalizer norm_;
  SpecialMatcher cut_;  // the cut tokens as they appear in normalized text (spaces escaped)
  bool split_by_whitespace_;
  size_t max_sentences_;
  uint64_t seed_;
  std::vector<std::string> sample_;
  std::vector<bpe::PieceCounter> workers_;
  uint64_t lines_ = 0, bytes_ = 0;
};

}  // namespace unigram
}  // namespace fastlm
