// WordPiece model: vocabulary + a linear-time greedy longest-match-first matcher.
//
// Semantics (the reference's WordPiece): a word is covered left to right; at each position the longest vocabulary
// entry that matches is taken, spelled with the continuation prefix ("##") everywhere but at the word start. If a
// position has no match the whole word becomes the unknown token; so does a word longer than
// max_input_chars_per_word characters.
//
// Matcher: "Fast WordPiece Tokenization" (Song et al., 2021), LinMaxMatch. A byte trie holds the word-start
// entries under root R and the continuation entries (prefix removed) under a second root R#. Each node v has a
// failure link f(v) and failure pops F(v): when v cannot extend with the next byte, the greedy result commits the
// tokens F(v) and continues from node f(v) without re-reading input. Every byte is consumed once and each pop is
// paid for by an earlier byte, so a word of n bytes costs O(n) (the naive matcher re-scans: O(n^2)). Two roots
// instead of one trie with a "##" path keep a literal "##" at a word start distinct from the prefix.
// Transitions live in one open-addressing table keyed by (node, byte): one probe per byte in the common case.
#pragma once
#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace fastlm {
namespace wordpiece {

constexpr uint32_t kNone = 0xFFFFFFFFu;

struct Piece {
  uint32_t id;
  uint32_t len;  // bytes of the word this token covers
};

class WordPieceModel {
 public:
  // vocab: (token, id) pairs; ids may be sparse. A token listed twice keeps its last id (the reference does the
  // same when reading vocab.txt). Throws ValueError if the vocabulary is empty or lacks unk_token.
  WordPieceModel(std::vector<std::pair<std::string, uint32_t>> vocab, std::string unk_token,
                 std::string continuing_subword_prefix, size_t max_input_chars_per_word);

  // Greedy longest-match-first over one word's bytes. Appends pieces and returns true, or returns false (and
  // leaves `out` as it was) when the word cannot be covered.
  bool match(const unsigned char* w, size_t n, std::vector<Piece>& out) const;

  // The id of the word-start entry equal to the whole word, or kNone. When it exists it is the greedy result (the
  // longest match at position 0 covers everything), so one hash probe per word replaces n trie steps.
  uint32_t whole_word(const unsigned char* w, size_t n) const {
    uint64_t h = word_hash(w, n);
    for (size_t i = size_t(h) & wmask_;; i = (i + 1) & wmask_) {
      const WordSlot& s = words_[i];
      if (s.id == kNone) return kNone;
      if (s.hash == h && s.len == n && std::memcmp(pool_.data() + s.off, w, n) == 0) return s.id;
    }
  }

  uint32_t unk_id() const { return unk_id_; }
  const std::string& unk_token() const { return unk_token_; }
  const std::string& prefix() const { return prefix_; }
  size_t max_input_chars_per_word() const { return max_chars_; }
  uint32_t find(std::string_view token) const;  // kNone if absent
  bool has_id(uint32_t id) const { return id < has_.size() && has_[id]; }
  const std::string& token(uint32_t id) const { return tokens_[id]; }
  size_t id_bound() const { return tokens_.size(); }
  size_t size() const { return size_; }
  size_t num_nodes() const { return tok_.size(); }

 private:
  uint32_t child(uint32_t node, unsigned char c) const {
    uint64_t key = (uint64_t(node) << 8) | c;
    size_t i = size_t((key * 0x9E3779B97F4A7C15ULL) >> shift_);
    for (;;) {
      uint64_t e = table_[i];
      if (e == kEmpty) return kNone;
      if ((e >> 32) == key) return uint32_t(e);
      i = (i + 1) & mask_;
    }
  }
  void build();
  static uint64_t word_hash(const unsigned char* w, size_t n) {
    uint64_t h = 0xcbf29ce484222325ULL ^ n;
    while (n >= 8) {
      uint64_t v;
      std::memcpy(&v, w, 8);
      h = (h ^ v) * 0x9E3779B97F4A7C15ULL;
      h ^= h >> 29;
      w += 8;
      n -= 8;
    }
    uint64_t v = 0;
    if (n) std::memcpy(&v, w, n);
    h = (h ^ v) * 0x9E3779B97F4A7C15ULL;
    return h ^ (h >> 31);
  }
  struct WordSlot {
    uint64_t hash;
    uint32_t id = kNone;
    uint32_t len = 0;
    uint32_t off = 0;
  };
  std::vector<WordSlot> words_;
  std::string pool_;
  size_t wmask_ = 0;

  static constexpr uint64_t kEmpty = ~uint64_t(0);
  std::vector<std::string> tokens_;  // by id ("" where absent)
  std::vector<uint8_t> has_;
  std::unordered_map<std::string, uint32_t> ids_;
  size_t size_ = 0;
  std::string unk_token_, prefix_;
  uint32_t unk_id_ = 0;
  size_t max_chars_ = 100;

  // trie
  std::vector<uint64_t> table_;  // (node << 8 | byte) << 32 | child
  size_t mask_ = 0;
  int shift_ = 64;
  std::vector<uint32_t> tok_;         // node -> token id, or kNone
  std::vector<uint32_t> fail_;        // node -> failure link, or kNone
  std::vector<uint32_t> pop_begin_;   // node -> [pop_begin_[v], pop_begin_[v + 1]) in pops_
  std::vector<Piece> pops_;
  static constexpr uint32_t kRoot = 0, kRootCont = 1;
};

}  // namespace wordpiece
}  // namespace fastlm
