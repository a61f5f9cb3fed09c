#include "core/unigram/trainer.h"

#include <algorithm>
#include <cstdio>

#include "core/error.h"
#include "core/unigram/trainer_count.h"
#include "core/unigram/trainer_em.h"
#include "core/unigram/trainer_seed.h"

namespace fastlm {
namespace unigram {

UnigramTrainer::UnigramTrainer(UnigramTrainerOptions opts)
    : opts_(std::move(opts)), counter_(std::make_unique<WordCounter>(opts_)) {
  if (opts_.max_piece_length < 1) throw ValueError("max_piece_length must be at least 1");
  if (!(opts_.shrinking_factor > 0.0 && opts_.shrinking_factor < 1.0))
    throw ValueError("shrinking_factor must be in (0, 1)");
  if (!(opts_.character_coverage > 0.0 && opts_.character_coverage <= 1.0))
    throw ValueError("character_coverage must be in (0, 1]");
}

UnigramTrainer::~UnigramTrainer() = default;

void UnigramTrainer::add_texts(const std::vector<std::string_view>& texts, int num_threads) {
  if (trained_) throw ValueError("this trainer has already trained; create a new one");
  counter_->add_texts(texts, num_threads);
}

uint64_t UnigramTrainer::lines_seen() const { return counter_->lines(); }
uint64_t UnigramTrainer::bytes_seen() const { return counter_->bytes(); }

std::vector<TrainedPiece> UnigramTrainer::train(int num_threads, const UnigramProgress& progress) {
  if (trained_) throw ValueError("this trainer has already trained; create a new one");
  trained_ = true;
  const size_t user_vocab = opts_.vocab_size + opts_.reserved_pieces;
  TrainCorpus corpus;
  {
    bpe::PieceCounter words = counter_->take(num_threads);
    stats_.lines = counter_->lines();
    stats_.bytes = counter_->bytes();
    if (words.size() == 0)
      throw ValueError("the training corpus is empty (no text left after normalization); pass non-empty files or texts");
    corpus = build_corpus(words, opts_.character_coverage);
  }
  stats_.words = corpus.total_words;
  stats_.distinct_words = corpus.num_words();
  stats_.required_chars = corpus.num_required;
  if (corpus.num_required > opts_.vocab_size) {
    char cov[32];
    std::snprintf(cov, sizeof cov, "%g", opts_.character_coverage);
    throw ValueError("vocab_size=" + std::to_string(user_vocab) + " is too small: character_coverage=" + cov +
                     " requires " + std::to_string(corpus.num_required) + " characters" +
                     (opts_.reserved_pieces ? " plus " + std::to_string(opts_.reserved_pieces) + " reserved pieces" : "") +
                     "; pass vocab_size >= " + std::to_string(corpus.num_required + opts_.reserved_pieces) +
                     " or a lower character_coverage");
  }
  if (progress) progress(0, 0, 1);
  SeedSet seeds = make_seeds(corpus, opts_);
  stats_.seed_pieces = seeds.pos.size();
  auto too_large = [&](size_t available) {
    return ValueError("vocab_size=" + std::to_string(user_vocab) + " is too large for this corpus: it yields only " +
                      std::to_string(available + opts_.reserved_pieces) + " pieces; pass vocab_size <= " +
                      std::to_string(available + opts_.reserved_pieces) + " or more text");
  };
  if (seeds.pos.size() < opts_.vocab_size) throw too_large(seeds.pos.size());
  EmTrainer em(corpus, std::move(seeds), opts_, num_threads);
  const size_t desired = std::max(opts_.vocab_size, static_cast<size_t>(double(opts_.vocab_size) * 1.1));
  em.run(desired, progress, stats_);
  em.prune_to(opts_.vocab_size);
  std::vector<TrainedPiece> out = em.finalize(opts_.vocab_size);
  if (out.size() < opts_.vocab_size) throw too_large(out.size());
  if (progress) progress(2, 1, 1);
  return out;
}

}  // namespace unigram
}  // namespace fastlm
