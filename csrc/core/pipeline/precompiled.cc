// The Precompiled normalizer: a SentencePiece precompiled_charsmap applied the way the reference's tokenizer.json
// normalizer applies it, which is not sentencepiece's own rule (core/normalize_sp.*):
//
//   for each extended grapheme cluster g of the text:
//     if g is shorter than 6 bytes and some prefix of g is a key of the charsmap, g becomes the replacement of
//       the SHORTEST such key (the rest of g is dropped);
//     otherwise each character of g that is a key by itself (a prefix of the character's bytes) is replaced.
//
// (sentencepiece takes the longest key at each position instead.) The two agree on almost all text; they differ on
// a few clusters such as CR LF (one cluster: replaced by the replacement of CR alone). Alignment follows the
// reference's rewrite list: the new characters take the old ones' ranges one to one, extra new characters are
// inserted after them, and missing ones remove old characters from the last replacement.
//
// Blob: uint32 little-endian size of the double array in bytes, the darts-clone double array (uint32 units),
// then the replacement strings, each NUL-terminated; a key's value is the offset of its replacement.
#include <cstring>

#include "core/error.h"
#include "core/pipeline/normalizers.h"
#include "core/pipeline/uprops.h"

namespace fastlm {
namespace pipeline {

namespace {

class Precompiled : public Normalizer {
 public:
  explicit Precompiled(const std::string& blob) {
    if (blob.size() < 4) throw ValueError("precompiled_charsmap is too short (" + std::to_string(blob.size()) + " bytes)");
    uint32_t trie_bytes;
    std::memcpy(&trie_bytes, blob.data(), 4);  // little-endian on every supported platform
    if (trie_bytes % 4 != 0 || size_t(trie_bytes) + 4 > blob.size())
      throw ValueError("precompiled_charsmap: double-array size " + std::to_string(trie_bytes) +
                       " does not fit the blob of " + std::to_string(blob.size()) + " bytes");
    units_.resize(trie_bytes / 4);
    if (trie_bytes) std::memcpy(units_.data(), blob.data() + 4, trie_bytes);
    pool_ = blob.substr(4 + size_t(trie_bytes));
    if (units_.empty()) throw ValueError("precompiled_charsmap: empty double array");
  }

  void apply(const NormStr& in, NormStr& out) const override {
    const std::string& s = in.s;
    Changes t;
    t.reserve(s.size() + 8);
    bool modified = false;
    size_t i = 0;
    while (i < s.size()) {
      // one grapheme cluster [i, j)
      int len;
      uint32_t prev = char_at(s, i, len);
      size_t j = i + size_t(len);
      if (prev != unicode::kInvalid) {
        GraphemeState st;
        grapheme_break(0x0A, prev, st);  // initializes the state with the first character (LF always breaks)
        while (j < s.size()) {
          int l2;
          uint32_t cur = char_at(s, j, l2);
          if (cur == unicode::kInvalid || grapheme_break(prev, cur, st)) break;
          prev = cur;
          j += size_t(l2);
        }
      }
      std::string_view g(s.data() + i, j - i);
      std::string_view rep;
      if (g.size() < 6 && lookup(g, rep)) {
        modified = true;
        replace(t, g, rep);
      } else {
        for (size_t k = i; k < j;) {
          int cl;
          uint32_t cp = char_at(s, k, cl);
          std::string_view part(s.data() + k, size_t(cl));
          if (cp != unicode::kInvalid && lookup(part, rep)) {
            modified = true;
            replace(t, part, rep);
          } else {
            t.emplace_back(cp, 0);
          }
          k += size_t(cl);
        }
      }
      i = j;
    }
    if (!modified) {
      out = in;
      return;
    }
    apply_changes(in, t, out);
  }

 private:
  // darts-clone unit fields
  static bool has_leaf(uint32_t u) { return (u >> 8) & 1; }
  static uint32_t value(uint32_t u) { return u & ((1u << 31) - 1); }
  static uint32_t label(uint32_t u) { return u & ((1u << 31) | 0xFF); }
  static uint32_t offset(uint32_t u) { return (u >> 10) << ((u & (1u << 9)) >> 6); }

  // The replacement of the shortest key that is a prefix of `key`.
  bool lookup(std::string_view key, std::string_view& rep) const {
    uint32_t pos = 0;
    uint32_t unit = units_[0];
    pos ^= offset(unit);
    for (size_t i = 0; i < key.size(); ++i) {
      uint8_t c = static_cast<uint8_t>(key[i]);
      pos ^= c;
      if (pos >= units_.size()) return false;
      unit = units_[pos];
      if (label(unit) != c) return false;
      pos ^= offset(unit);
      if (has_leaf(unit)) {
        if (pos >= units_.size()) return false;
        uint32_t v = value(units_[pos]);
        if (v >= pool_.size()) return false;
        size_t end = pool_.find('\0', v);
        rep = std::string_view(pool_).substr(v, (end == std::string::npos ? pool_.size() : end) - v);
        return true;
      }
    }
    return false;
  }

  // The reference's rewrite for old text -> new text: new characters with change 0; if there are more new than
  // old characters the last extra ones become insertions; if fewer, the last entry of the list (possibly from
  // an earlier cluster) removes the difference.
  static void replace(Changes& t, std::string_view old_part, std::string_view new_part) {
    long old_n = 0, new_n = 0;
    for (size_t i = 0; i < old_part.size();) {
      int len;
      char_at(old_part, i, len);
      i += size_t(len);
      ++old_n;
    }
    for (size_t i = 0; i < new_part.size();) {
      int len;
      uint32_t cp = char_at(new_part, i, len);
      i += size_t(len);
      t.emplace_back(cp, 0);
      ++new_n;
    }
    long diff = new_n - old_n;
    if (diff > 0) {
      for (long k = 0; k < diff; ++k) t[t.size() - 1 - size_t(k)].second = 1;
    } else if (diff < 0 && !t.empty()) {
      t.back().second += int(diff);
    }
  }

  std::vector<uint32_t> units_;
  std::string pool_;
};

}  // namespace

NormalizerPtr make_precompiled(const std::string& charsmap) { return std::make_shared<Precompiled>(charsmap); }

}  // namespace pipeline
}  // namespace fastlm
