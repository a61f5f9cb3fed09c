// The piece table shared by the SentencePiece models (Unigram and BPE): pieces with scores and types, the
// dictionary trie, and sentencepiece's piece -> id rules.
#pragma once
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "core/sentencepiece/model_proto.h"
#include "core/sentencepiece/trie.h"

namespace fastlm {
namespace unigram {

constexpr float kUnkPenalty = 10.0f;

// A token over the normalized text: bytes [begin, end) and its id. The empty constructor leaves the fields
// unset on purpose: encoders size a vector of Toks and then fill it, and value-initialization would zero it first.
struct Tok {
  Tok() {}
  Tok(uint32_t b, uint32_t e, uint32_t i) : begin(b), end(e), id(i) {}
  uint32_t begin;
  uint32_t end;
  uint32_t id;
};

class PieceTable {
 public:
  // Validates like sentencepiece: non-empty unique pieces, exactly one unknown piece, byte pieces only with
  // byte_fallback and spelled <0xNN>. Throws ValueError naming the piece.
  PieceTable(std::vector<sp::Piece> pieces, bool byte_fallback);

  size_t size() const { return pieces_.size(); }
  const sp::Piece& piece(uint32_t id) const { return pieces_[id]; }
  const std::vector<sp::Piece>& pieces() const { return pieces_; }
  int type(uint32_t id) const { return pieces_[id].type; }
  float score(uint32_t id) const { return pieces_[id].score; }
  bool is_unused(uint32_t id) const { return pieces_[id].type == sp::kUnused; }
  bool is_user_defined(uint32_t id) const { return pieces_[id].type == sp::kUserDefined; }
  uint32_t unk_id() const { return unk_id_; }
  bool byte_fallback() const { return byte_fallback_; }
  uint32_t byte_id(uint8_t b) const { return byte_ids_[b]; }  // unk_id if the model lacks that byte piece
  float min_score() const { return min_score_; }
  float max_score() const { return max_score_; }
  const std::vector<std::string>& user_defined() const { return user_defined_; }

  // NORMAL, USER_DEFINED and UNUSED pieces (the ones text can produce).
  const sp::DoubleArrayTrie& trie() const { return trie_; }
  // sentencepiece PieceToId: reserved pieces (control/unknown/byte) first, then the dictionary; else -1.
  int32_t find(std::string_view piece) const;

 private:
  std::vector<sp::Piece> pieces_;
  sp::DoubleArrayTrie trie_, reserved_;
  std::vector<std::string> user_defined_;
  uint32_t unk_id_ = 0;
  bool byte_fallback_;
  uint32_t byte_ids_[256];
  float min_score_, max_score_;
};

// Parses "<0xNN>" (uppercase hex, as sentencepiece writes it); -1 otherwise.
int parse_byte_piece(std::string_view s);
std::string byte_piece(uint8_t b);

}  // namespace unigram
}  // namespace fastlm
