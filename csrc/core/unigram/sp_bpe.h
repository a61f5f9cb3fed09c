// SentencePiece BPE (Llama-2, Mistral): start from characters (user-defined symbols stay whole), then repeatedly
// merge the adjacent pair whose concatenation is the highest-scoring piece (ties: leftmost). A max-heap with lazy
// invalidation gives O(n log n); an entry is stale when either side has changed length since it was pushed (pieces
// only grow, so equal total length means both sides are unchanged). Pieces of type UNUSED are split back into the
// two halves they were merged from, as sentencepiece does.
#pragma once
#include <memory>
#include <string_view>
#include <vector>

#include "core/unigram/pieces.h"

namespace fastlm {
namespace unigram {

class SpBpeModel {
 public:
  explicit SpBpeModel(std::shared_ptr<const PieceTable> table);
  const PieceTable& table() const { return *t_; }
  void encode(std::string_view normalized, std::vector<Tok>& out) const;

 private:
  std::shared_ptr<const PieceTable> t_;
  sp::DoubleArrayTrie user_;  // user-defined symbols (matched whole, never merged)
  bool has_user_ = false;
  bool has_unused_ = false;
};

}  // namespace unigram
}  // namespace fastlm
