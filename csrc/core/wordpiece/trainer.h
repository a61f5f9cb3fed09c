// WordPiece training: words counted from the corpus (BERT normalizer + pre-tokenizer), then a vocabulary grown by
// merging the most frequent adjacent pair of symbols, with the continuation prefix on every symbol that does not
// start a word (the scheme the reference's WordPieceTrainer uses).
//
//   * alphabet: the characters of the counted words, the `limit_alphabet` most frequent kept (ties: smaller code
//     point); a character outside it blocks merges across it (words holding it encode to [UNK]);
//   * initial vocabulary: special tokens, then each alphabet character, then "##" + each character that occurs
//     inside a word (both in code point order);
//   * each step merges the pair with the highest count (ties: the lexicographically smallest (left, right) token
//     strings); the new token is left + right without its prefix. A merge whose string is already a token reuses it.
//   * stops at vocab_size tokens, or when the best pair occurs fewer than min_frequency times.
// Deterministic: words are sorted before merging, so the thread count never changes the result.
// Incremental: pair counts, a lazy max-heap and a pair -> words index; a merge rewrites only the words that hold
// the pair.
#pragma once
#include <cstdint>
#include <functional>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "core/wordpiece/encoder.h"

namespace fastlm {
namespace wordpiece {

class WordCounter {
 public:
  WordCounter(WordPieceOptions opts, std::vector<std::string> special_tokens)
      : opts_(std::move(opts)), specials_(std::move(special_tokens)) {}
  // Normalizes, splits and counts the words of each text on C++ threads. Special-token strings are cut out.
  void count_texts(const std::vector<std::string_view>& texts, int num_threads);
  size_t distinct() const { return counts_.size(); }
  std::unordered_map<std::string, uint64_t> take() { return std::move(counts_); }

 private:
  void count_one(std::string_view text, std::unordered_map<std::string, uint64_t>& into) const;
  WordPieceOptions opts_;
  std::vector<std::string> specials_;
  std::unordered_map<std::string, uint64_t> counts_;
  std::mutex mu_;
};

struct WordPieceTrainerOptions {
  size_t vocab_size = 30000;
  uint64_t min_frequency = 0;
  size_t limit_alphabet = 0;  // 0 = keep every character
  std::vector<std::string> special_tokens;
  std::string prefix = "##";
};

using TrainProgress = std::function<void(size_t, size_t)>;

// Returns the vocabulary in id order.
std::vector<std::string> train_wordpiece(WordCounter& counter, const WordPieceTrainerOptions& opts,
                                         const TrainProgress& progress);

}  // namespace wordpiece
}  // namespace fastlm
