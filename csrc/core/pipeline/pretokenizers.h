// Pre-tokenizers of the general pipeline, one per tokenizer.json pre_tokenizer type. A pre-tokenizer turns a list
// of pieces (normalized text with alignment) into a finer list; some also rewrite the text of a piece (ByteLevel
// maps bytes to its printable alphabet, Metaspace turns spaces into U+2581 and prepends one).
//
//   ByteLevel        [prefix space per piece] [GPT-2 regex split] byte -> printable character
//   Split            literal or regex pattern, a split behavior, invert
//   Whitespace       \w+|[^\w\s]+ (the rest is removed)
//   WhitespaceSplit  split on whitespace (removed)
//   BertPreTokenizer whitespace removed, punctuation isolated (core/normalize's classes)
//   Metaspace        ' ' -> replacement, prepend scheme always / first / never, split before each replacement
//   Digits           digits isolated one by one, or runs of digits
//   Punctuation      punctuation with a split behavior
//   Sequence
// Semantics are the reference's, including empty pieces being dropped and each piece carrying the original offset
// where it starts (Metaspace's "first" scheme prepends only to the piece that starts the text).
#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "core/pipeline/normstr.h"
#include "core/pipeline/regex.h"

namespace fastlm {
namespace pipeline {

constexpr uint32_t kNoAdded = 0xFFFFFFFFu;

struct Piece {
  uint32_t begin, end;  // bytes of Splits::ns
  uint32_t origin;      // original offset where the piece starts
  uint32_t added;       // added-token id (already tokenized), or kNoAdded
};

struct Splits {
  NormStr ns;  // every piece's bytes, concatenated, with their alignment (ns.origin is unused)
  std::vector<Piece> pieces;
  void clear() {
    ns.clear();
    pieces.clear();
  }
  // Appends bytes [b, e) of src as a piece to tokenize (nothing if empty).
  void add(const NormStr& src, size_t b, size_t e) {
    if (e <= b) return;
    uint32_t at = uint32_t(ns.s.size());
    ns.append_from(src, b, e);
    pieces.push_back(Piece{at, uint32_t(ns.s.size()), src.a0[b], kNoAdded});
  }
  // Appends all of src as one piece that keeps src.origin (a pre-tokenizer that returns its input unsplit).
  void add_whole(const NormStr& src) {
    if (src.s.empty()) return;
    uint32_t at = uint32_t(ns.s.size());
    ns.append_from(src, 0, src.s.size());
    pieces.push_back(Piece{at, uint32_t(ns.s.size()), src.origin, kNoAdded});
  }
  void add_added(const NormStr& src, size_t b, size_t e, uint32_t id) {
    uint32_t at = uint32_t(ns.s.size());
    ns.append_from(src, b, e);
    pieces.push_back(Piece{at, uint32_t(ns.s.size()), e > b ? src.a0[b] : src.origin, id});
  }
};

enum class SplitBehavior : uint8_t { kRemoved, kIsolated, kMergedWithPrevious, kMergedWithNext, kContiguous };
enum class PrependScheme : uint8_t { kAlways, kFirst, kNever };

class PreTokenizer {
 public:
  virtual ~PreTokenizer() = default;
  // Refines every piece of `in` that is not an added token into `out` (added-token pieces are copied).
  void apply(const Splits& in, Splits& out) const;

 protected:
  // Refines one piece: `piece` is its text (origin set), results go to out.
  virtual void split(const NormStr& piece, Splits& out) const = 0;
};

using PreTokenizerPtr = std::shared_ptr<const PreTokenizer>;

PreTokenizerPtr make_byte_level(bool add_prefix_space, bool use_regex);
PreTokenizerPtr make_split(Regex pattern, SplitBehavior behavior, bool invert);
PreTokenizerPtr make_whitespace();
PreTokenizerPtr make_whitespace_split();
PreTokenizerPtr make_bert_pretokenizer();
PreTokenizerPtr make_metaspace(uint32_t replacement, PrependScheme scheme, bool split);
PreTokenizerPtr make_digits(bool individual);
PreTokenizerPtr make_punctuation(SplitBehavior behavior);
PreTokenizerPtr make_pretok_sequence(std::vector<PreTokenizerPtr> items);

// The GPT-2 byte -> printable character map (bytes that are printable Latin-1 map to themselves, the others to
// U+0100 onwards in byte order), and its inverse (-1 for characters outside the alphabet).
uint32_t byte_level_char(uint8_t b);
int byte_level_byte(uint32_t cp);

}  // namespace pipeline
}  // namespace fastlm
