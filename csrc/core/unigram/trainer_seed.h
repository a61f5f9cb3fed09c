// The training corpus as integer arrays, and the seed pieces (suffix array + LCP over the distinct words).
//
// Legend: W distinct words, N = total characters of the distinct words + W separators, K required characters,
// S seed pieces (K single characters first, then the substrings), E lattice edges (occurrences of multi-character
// seed pieces in the distinct words).
//
//   text[N]        char ids: 1..K the required characters (most frequent first), K+1 the unknown character (every
//                  other code point), 0 the separator after each word.
//   word_begin[W+1], word_count[W]   word w is text[word_begin[w], word_begin[w+1] - 1).
//
// Seeds. A piece is valid when it has 1..max_piece_length characters, no unknown character, U+2581 only first
// (split_by_whitespace; otherwise anywhere but last), one script (Hiragana, Katakana and U+30FC count as Han,
// combining marks take the script before them; digits are a wildcard without split_by_number and single with
// split_digits). Validity is closed under prefixes (the not-last rule aside), so vmax[p], the longest valid piece
// starting at p, decides every substring starting there.
// The suffix array is sorted on the first max_piece_length characters only (prefix doubling, log2(16) = 4
// radix rounds; a full suffix sort was rejected: nothing longer can be a piece) and the LCP is cut at the same
// length and at separators. Each lcp-interval [lb, rb] of depth d below a parent of depth pd yields the substring
// of length v = min(d, vmax) when v > pd: exactly its occurrences are the interval, so its frequency is the sum of
// the interval's word counts (a prefix sum over SA order) and its lattice edges are text positions SA[lb..rb].
// Singletons (one distinct word) count too when that word occurs twice or more. Score = frequency x length; the
// best seed_size are kept (ties: lexicographic order), sentencepiece's rule. Their initial log-probabilities are
// log(score) (characters: log(count)) minus the log of the total.
#pragma once
#include <cstdint>
#include <vector>

#include "core/bpe/trainer_count.h"
#include "core/unigram/trainer.h"

namespace fastlm {
namespace unigram {

struct TrainCorpus {
  std::vector<uint32_t> text;
  std::vector<uint32_t> word_begin;
  std::vector<uint64_t> word_count;
  std::vector<uint32_t> cp;          // char id -> code point (cp[0] unused; cp[K+1] = U+FFFD stands for unknown)
  std::vector<uint64_t> char_count;  // char id -> occurrences in the corpus
  uint32_t num_required = 0;         // K
  uint64_t total_words = 0;

  uint32_t unk() const { return num_required + 1; }
  size_t num_words() const { return word_count.size(); }
};

// Sorts the words (so nothing depends on hashing or threads), picks the required characters and maps the text.
TrainCorpus build_corpus(const bpe::PieceCounter& words, double character_coverage);

struct SeedSet {
  std::vector<uint32_t> pos;   // [S]: piece j is text[pos[j], pos[j] + len[j]); for j < K, len 1 (char id j + 1)
  std::vector<uint16_t> len;   // [S]
  std::vector<double> score;   // [S] initial log-probabilities
  std::vector<uint32_t> edge_begin;  // [N+1] CSR over text positions: multi-character pieces starting there
  std::vector<uint32_t> edge_piece;  // [E]
};

SeedSet make_seeds(const TrainCorpus& c, const UnigramTrainerOptions& opts);

}  // namespace unigram
}  // namespace fastlm
