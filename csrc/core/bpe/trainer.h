// Byte-level BPE training: pre-token counts in, a tiktoken-rank BpeModel out (rank = id; ids 0..255 are the
// single bytes 0x00..0xff, then one id per learned token in the order it was learned).
//
// Algorithm (never recounts from scratch; trainer.cc has the data layout and the alternatives measured):
//   * words = the distinct pre-tokens laid out as one array of positions, one per byte, a sentinel between
//     words; each position holds its token, the previous live position, the pair that starts there and the
//     word's count (a merged token lives at its leftmost position; the next live position is found from the
//     token's length, so no `next` link is stored);
//   * pairs: 64-bit counts and, per pair, a run of one arena listing the positions where it starts (built by a
//     counting sort for the initial byte pairs; entries go stale as neighbours merge and are skipped);
//   * a lazy priority queue of (count, tie key, pair) (trainer_queue.h): a popped entry whose count no longer
//     matches is re-pushed with the current one; every pair whose count rose during a merge is pushed again
//     right after it, so the queue never underestimates a pair;
//   * merging (a, b) visits only the positions listed for (a, b), left to right, and moves counts between the
//     neighbouring pairs through the pair ids stored at the positions: (x, a) -> (x, m) and (b, y) -> (m, y).
//     The new pairs of one merge are found through a per-step table indexed by the neighbour's token, so the
//     inner loop never hashes.
//
// Tie-break (documented, deterministic): the highest count wins; among equal counts, the pair whose
// (left token bytes, right token bytes) is lexicographically smallest as a tuple of unsigned byte strings.
// Every count is a sum and ties are broken by bytes, so the output does not depend on the order of the words
// (how counting was threaded, or the order of the documents).
//
// Tokens are byte strings, as tiktoken ranks require: if a merge ever produced bytes that are already a token
// ("a"+"bc" after "ab"+"c"), the words would be rewritten to that token and no new id spent. Merging every
// occurrence left to right makes this hard to reach (no real or random corpus tried so far reaches it); the
// path is kept so the ranks stay valid whatever the input.
//
// Memory: 16 bytes per byte of each distinct pre-token for the positions, 4-12 for the position lists, and the
// pair table: proportional to the number of distinct pre-tokens, not to the corpus size.
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
