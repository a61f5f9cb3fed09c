// Byte-level BPE training: pre-token counts in, a tiktoken-rank BpeModel out (rank = id; ids 0..255 are the
// single bytes 0x00..0xff, then one id per learned token in the order it was learned).
//
// Algorithm (never recounts from scratch):
//   * words = the distinct pre-tokens, sorted by bytes, each a sequence of token ids with a 64-bit count;
//   * pair counts (64-bit) + an index pair -> words that contain (or once contained) it;
//   * a max-heap of (count, pair) with lazy invalidation: an entry whose count no longer matches the table is
//     re-pushed with the current count when popped. Counts of existing pairs only fall, except when a merge
//     produces bytes that are already a token (see below); every pair whose count rose during a merge is pushed
//     again right after it, so the heap never underestimates a pair.
//   * merging (a, b) rewrites only the words listed for (a, b), left to right, and adjusts the counts of the
//     neighbouring pairs: (x, a) -> (x, ab) and (b, y) -> (ab, y).
//
// Tie-break (documented, deterministic): the highest count wins; among equal counts, the pair whose
// (left token bytes, right token bytes) is lexicographically smallest as a tuple of unsigned byte strings.
// Words are sorted by bytes before merging, so the output does not depend on how counting was threaded.
//
// Tokens are byte strings, as tiktoken ranks require: when a merge produces bytes that are already a token (e.g.
// "a"+"bc" after "ab"+"c"), the words are rewritten to that token and no new id is spent.
//
// Memory: the words' ids (4 bytes per byte of each distinct pre-token), the pair table and the word index, all
// proportional to the number of distinct pre-tokens, not to the corpus size.
#pragma once
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <tuple>
#include <vector>

#include "core/bpe/model.h"
#include "core/bpe/trainer_count.h"

namespace fastlm {
namespace bpe {

struct BpeTrainerOptions {
  size_t vocab_size = 0;         // ordinary tokens to produce, the 256 bytes included (special tokens excluded)
  uint64_t min_frequency = 2;    // stop when the best pair occurs fewer times than this
  size_t max_token_length = 0;   // in bytes; 0 = unlimited. Pairs whose merge would be longer are never merged.
};

struct BpeMerge {
  uint32_t left;
  uint32_t right;
  uint32_t id;     // the merged token (a new id, or an existing one with the same bytes)
  uint64_t count;  // occurrences merged
};

struct BpeTrainResult {
  std::shared_ptr<BpeModel> model;
  std::vector<BpeMerge> merges;  // in the order they were applied
};

// progress(done, total) is called now and then during merging (done = tokens so far); may be empty.
using TrainProgress = std::function<void(size_t, size_t)>;

BpeTrainResult train_bpe(const PieceCounter& words, const BpeTrainerOptions& opts, const TrainProgress& progress);

}  // namespace bpe
}  // namespace fastlm
