// SentencePiece BPE (Llama-2, Mistral): start from characters (user-defined symbols stay whole), then repeatedly
// merge the adjacent pair whose concatenation is the highest-scoring piece (ties: leftmost). Pieces of type UNUSED
// are split back into the two halves they were merged from, as sentencepiece does.
//
// Pair lookup: each symbol keeps the dictionary-trie node its bytes reach, so "is left + right a piece" is a walk
// over the right symbol's bytes from the left symbol's node; the merged symbol inherits the node reached. (A
// (left id, right id) hash table was rejected: a symbol may be a trie path that is not a piece, so it would need a
// string fallback, and the table is several MB of random probes for a 32k vocabulary.)
//
// Words: when no piece contains U+2581 right after another character (true for Llama-2: its pieces have U+2581
// only in a leading run), no merge can cross a position where U+2581 follows something else, so the text splits
// there into words whose merges are independent of each other: the global loop's merges restricted to one word
// are exactly that word's own merge sequence (candidates never span words, and the global maximum is the word's
// maximum). Words are then merged one by one and their results cached per thread (key: the word's bytes).
// Models with UNUSED pieces keep one loop over the whole text: sentencepiece's record of how an unused piece was
// formed is shared by the whole text, so words are not independent there; so do models with NaN scores, where the
// heap order is not a strict weak order.
//
// Merge loops: a word of up to kScanMax symbols runs a scan loop (find the best adjacent pair, merge, update its
// two neighbours), which makes the same choices as a heap with stale-entry skipping because the valid heap entries
// are exactly the current adjacent pairs that form pieces; longer runs use a max-heap with lazy invalidation (an
// entry is stale when either side has changed length since it was pushed: pieces only grow).
#pragma once
#include <cstdint>
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

  struct Sym {
    uint32_t begin;
    uint32_t len;   // 0 once merged into its left neighbour (heap loop)
    int32_t node;   // dictionary-trie node of the symbol's bytes; -1 if they leave the trie
    int32_t prev;   // heap loop links
    int32_t next;
    bool freeze;    // user-defined symbol: never merged
  };
  static constexpr size_t kScanMax = 32;

 private:
  void split(std::string_view s, std::vector<Sym>& sym) const;
  // Merges sym[lo, hi) and appends the resulting tokens.
  void merge_scan(std::string_view s, const Sym* sym, size_t count, std::vector<Tok>& out) const;
  void merge_heap(std::string_view s, std::vector<Sym>& sym, size_t lo, size_t hi, std::vector<Tok>& out) const;
  void merge(std::string_view s, std::vector<Sym>& sym, size_t lo, size_t hi, std::vector<Tok>& out) const;
  uint32_t output_id(std::string_view s, const Sym& x) const;
  bool word_start(std::string_view s, const Sym& x) const;

  std::shared_ptr<const PieceTable> t_;
  sp::DoubleArrayTrie dict_;  // NORMAL, USER_DEFINED and UNUSED pieces (sentencepiece's pieces_), payload = score
  sp::DoubleArrayTrie user_;  // user-defined symbols (matched whole, never merged)
  std::vector<uint32_t> out_id_;  // dictionary id -> emitted id (a reserved piece with the same text wins)
  bool has_user_ = false;
  bool has_unused_ = false;
  bool scan_ok_ = true;   // no NaN scores
  bool words_ = false;    // the text may be split into independent words
  uint64_t uid_;          // identifies this model to the per-thread word cache
};

}  // namespace unigram
}  // namespace fastlm
