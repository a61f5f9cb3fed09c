// Models of the general pipeline: one pre-tokenized piece (normalized UTF-8) -> tokens with byte ranges in the
// piece. Each follows the reference's tokenizer.json model of the same name exactly:
//
//   BPE        characters (with continuing_subword_prefix / end_of_word_suffix) -> ids; unknown characters become
//              <0xNN> byte pieces (byte_fallback), the unk token (fused when fuse_unk), or vanish (no unk token);
//              then the lowest-ranked listed merge first, leftmost on ties (a heap over a linked list: O(n log n));
//              ignore_merges looks the whole piece up first. Merge ranks and results are the reference's
//              (a later duplicate of a merge overrides the earlier one).
//   WordPiece  greedy longest match (core/wordpiece's linear-time matcher); a word longer than
//              max_input_chars_per_word or with an uncoverable position is the unk token.
//   Unigram    Viterbi over every vocabulary entry in double precision, in the reference's order, so ties break
//              as they do there (sentencepiece's float arithmetic, used by the .model encoder, breaks a few exact
//              ties differently: measured on the shared corpora); runs of unknown characters fuse into one unk
//              token, or become <0xNN> byte pieces with byte_fallback.
#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace fastlm {
namespace wordpiece {
class WordPieceModel;
}
namespace bpe {
class BpeModel;
}
namespace pipeline {

struct ModelToken {
  uint32_t id;
  uint32_t b, e;  // bytes of the piece
};

class Model {
 public:
  virtual ~Model() = default;
  virtual std::string type() const = 0;
  // Appends the tokens of one piece (non-empty).
  virtual void tokenize(std::string_view piece, std::vector<ModelToken>& out) const = 0;
  // The token string of id (appended); false if the id is not in the vocabulary.
  virtual bool token(uint32_t id, std::string& out) const = 0;
  virtual uint32_t token_to_id(std::string_view token) const = 0;  // 0xFFFFFFFF if absent
  virtual size_t id_bound() const = 0;
  virtual size_t vocab_size() const = 0;
};

using ModelPtr = std::shared_ptr<const Model>;

struct BpeOptions {
  bool has_unk = false;
  std::string unk_token;
  std::string continuing_subword_prefix;  // "" = none
  std::string end_of_word_suffix;         // "" = none
  bool fuse_unk = false;
  bool byte_fallback = false;
  bool ignore_merges = false;
};

// vocab: (token, id); merges: (left, right) token strings in rank order. Throws ValueError naming a merge whose
// parts or result are not in the vocabulary, or an unk token that is not in it.
ModelPtr make_bpe(std::vector<std::pair<std::string, uint32_t>> vocab,
                  const std::vector<std::pair<std::string, std::string>>& merges, BpeOptions opts);
ModelPtr make_wordpiece(std::shared_ptr<const wordpiece::WordPieceModel> model);
// A byte-level vocabulary on the byte-level merge engine (pipeline/byte_bpe.cc); `fallback` is the character-level
// BPE of the same file (pieces with characters outside the byte alphabet; token_to_id; sizes).
ModelPtr make_byte_level_bpe(std::shared_ptr<const bpe::BpeModel> model, ModelPtr fallback);
// vocab: (piece, score) by id. unk_id < 0: none.
ModelPtr make_unigram(std::vector<std::pair<std::string, double>> vocab, long unk_id, bool byte_fallback);

}  // namespace pipeline
}  // namespace fastlm
