#include "core/unigram/pieces.h"

#include <algorithm>
#include <cfloat>

#include "core/error.h"

namespace fastlm {
namespace unigram {

int parse_byte_piece(std::string_view s) {
  if (s.size() != 6 || s[0] != '<' || s[1] != '0' || s[2] != 'x' || s[5] != '>') return -1;
  int v = 0;
  for (int i = 3; i < 5; ++i) {
    char c = s[size_t(i)];
    int d = (c >= '0' && c <= '9') ? c - '0' : (c >= 'A' && c <= 'F') ? c - 'A' + 10 : -1;
    if (d < 0) return -1;
    v = v * 16 + d;
  }
  return v;
}

std::string byte_piece(uint8_t b) {
  static const char* hex = "0123456789ABCDEF";
  std::string s = "<0x";
  s.push_back(hex[b >> 4]);
  s.push_back(hex[b & 15]);
  s.push_back('>');
  return s;
}

PieceTable::PieceTable(std::vector<sp::Piece> pieces, bool byte_fallback)
    : pieces_(std::move(pieces)), byte_fallback_(byte_fallback) {
  if (pieces_.empty()) throw ValueError("the model has no pieces");
  if (pieces_.size() >= 0x7FFFFFFF) throw ValueError("too many pieces");
  // sentencepiece keeps min over NORMAL pieces starting at FLT_MAX and max starting at FLT_MIN (the smallest
  // positive float): the user-defined bonus below depends on that exact starting value.
  min_score_ = FLT_MAX;
  max_score_ = FLT_MIN;
  std::vector<std::pair<std::string, int32_t>> dict, reserved;
  bool have_unk = false;
  for (size_t i = 0; i < pieces_.size(); ++i) {
    const auto& p = pieces_[i];
    if (p.piece.empty()) throw ValueError("piece " + std::to_string(i) + " is empty");
    bool normal = p.type == sp::kNormal || p.type == sp::kUserDefined || p.type == sp::kUnused;
    (normal ? dict : reserved).emplace_back(p.piece, int32_t(i));
    if (p.type == sp::kNormal) {
      min_score_ = std::min(min_score_, p.score);
      max_score_ = std::max(max_score_, p.score);
    }
    if (p.type == sp::kUserDefined) user_defined_.push_back(p.piece);
    if (p.type == sp::kUnknown) {
      if (have_unk) throw ValueError("the model defines the unknown piece twice (ids " + std::to_string(unk_id_) + " and " + std::to_string(i) + ")");
      have_unk = true;
      unk_id_ = uint32_t(i);
    }
    if (p.type == sp::kByte) {
      if (!byte_fallback_) throw ValueError("byte piece " + p.piece + " (id " + std::to_string(i) + ") in a model without byte_fallback");
      if (parse_byte_piece(p.piece) < 0) throw ValueError("byte piece " + std::to_string(i) + " is not of the form <0xNN>");
    }
  }
  if (!have_unk) throw ValueError("the model has no unknown piece (type UNKNOWN)");
  auto check_dupes = [](std::vector<std::pair<std::string, int32_t>>& v) {
    std::sort(v.begin(), v.end());
    for (size_t i = 1; i < v.size(); ++i)
      if (v[i].first == v[i - 1].first)
        throw ValueError("piece '" + v[i].first + "' is defined twice (ids " + std::to_string(v[i - 1].second) + " and " + std::to_string(v[i].second) + ")");
  };
  check_dupes(dict);
  check_dupes(reserved);
  trie_.build(std::move(dict));
  reserved_.build(std::move(reserved));
  for (int b = 0; b < 256; ++b) {
    int32_t id = find(byte_piece(uint8_t(b)));
    byte_ids_[b] = (id >= 0 && pieces_[size_t(id)].type == sp::kByte) ? uint32_t(id) : unk_id_;
  }
}

int32_t PieceTable::find(std::string_view piece) const {
  int32_t id = reserved_.find(piece);
  if (id >= 0) return id;
  return trie_.find(piece);
}

}  // namespace unigram
}  // namespace fastlm
