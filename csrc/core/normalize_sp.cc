// SentencePiece normalizer (see normalize_sp.h). The whitespace rules mirror sentencepiece exactly: leading
// whitespace dropped, runs collapsed, trailing whitespace dropped (its offset kept as the end), dummy prefix added.
#include "core/normalize_sp.h"

#include <algorithm>
#include <cstring>

#include "core/error.h"
#include "core/unicode.h"

namespace fastlm {

namespace {
constexpr char kSpaceSymbol[] = "\xe2\x96\x81";  // U+2581
constexpr char kReplacement[] = "\xEF\xBF\xBD";   // U+FFFD for a malformed byte

// darts-clone unit accessors.
inline bool has_leaf(uint32_t u) { return (u >> 8) & 1; }
inline uint32_t unit_value(uint32_t u) { return u & ((1u << 31) - 1); }
inline uint32_t unit_label(uint32_t u) { return u & ((1u << 31) | 0xFF); }
inline uint32_t unit_offset(uint32_t u) { return (u >> 10) << ((u & (1u << 9)) >> 6); }
}  // namespace

SpNormalizer::SpNormalizer(SpNormalizerOptions opts) : opts_(std::move(opts)) {
  const std::string& blob = opts_.precompiled_charsmap;
  if (!blob.empty()) {
    if (blob.size() < 4) throw ValueError("precompiled_charsmap is truncated (" + std::to_string(blob.size()) + " bytes)");
    uint32_t trie_size = uint32_t(uint8_t(blob[0])) | uint32_t(uint8_t(blob[1])) << 8 |
                         uint32_t(uint8_t(blob[2])) << 16 | uint32_t(uint8_t(blob[3])) << 24;
    if (trie_size % 4 != 0 || trie_size > blob.size() - 4 || trie_size == 0)
      throw ValueError("precompiled_charsmap: trie size " + std::to_string(trie_size) + " does not fit the " +
                       std::to_string(blob.size()) + "-byte blob");
    num_units_ = trie_size / 4;
    unit_store_.resize(num_units_);
    for (size_t i = 0; i < num_units_; ++i) {
      const auto* p = reinterpret_cast<const uint8_t*>(blob.data() + 4 + 4 * i);
      unit_store_[i] = uint32_t(p[0]) | uint32_t(p[1]) << 8 | uint32_t(p[2]) << 16 | uint32_t(p[3]) << 24;
    }
    units_ = unit_store_.data();
    pool_ = blob.substr(4 + trie_size);
    if (!pool_.empty() && pool_.back() != '\0')
      throw ValueError("precompiled_charsmap: the replacement pool is not NUL-terminated");
    for (int b = 1; b < 256; ++b) {
      uint32_t id = unit_offset(units_[0]) ^ uint32_t(b);
      if (id < num_units_ && unit_label(units_[id]) == uint32_t(b)) first_byte_hit_[b] = true;
    }
  }
  std::vector<std::pair<std::string, int32_t>> keys;
  for (auto& u : opts_.user_defined)
    if (!u.empty()) keys.emplace_back(u, 0);
  if (!keys.empty()) {
    std::sort(keys.begin(), keys.end());
    keys.erase(std::unique(keys.begin(), keys.end()), keys.end());
    user_.build(std::move(keys));
    has_user_ = true;
  }
}

size_t SpNormalizer::charsmap_longest(const char* s, size_t n, uint32_t& value) const {
  // darts-clone commonPrefixSearch, keeping the longest of at most 32 results (as sentencepiece does).
  size_t best = 0;
  size_t found = 0;
  uint32_t id = unit_offset(units_[0]);
  for (size_t i = 0; i < n; ++i) {
    uint8_t c = static_cast<uint8_t>(s[i]);
    id ^= c;
    if (id >= num_units_) return best;
    uint32_t u = units_[id];
    if (unit_label(u) != c) return best;
    id ^= unit_offset(u);
    if (has_leaf(u)) {
      if (id >= num_units_) return best;
      if (found < 32) {
        best = i + 1;
        value = unit_value(units_[id]);
      }
      ++found;
    }
  }
  return best;
}

std::string_view SpNormalizer::normalize_prefix(std::string_view s, size_t& consumed) const {
  const char* p = s.data();
  const size_t n = s.size();
  const uint8_t b0 = static_cast<uint8_t>(p[0]);
  if (has_user_ && user_.has_first_byte(b0)) {
    int32_t v;
    size_t len = user_.longest_prefix(p, n, v);
    if (len) {
      consumed = len;
      return s.substr(0, len);
    }
  }
  if (units_ && first_byte_hit_[b0]) {
    uint32_t v = 0;
    size_t len = charsmap_longest(p, n, v);
    if (len) {
      consumed = len;
      if (v >= pool_.size()) return std::string_view();  // out-of-range rule in a damaged charsmap: delete
      return std::string_view(pool_.data() + v);
    }
  }
  if (b0 < 0x80) {
    consumed = 1;
    return s.substr(0, 1);
  }
  uint32_t cp;
  int len = unicode::decode(reinterpret_cast<const unsigned char*>(p), reinterpret_cast<const unsigned char*>(p) + n, cp);
  consumed = size_t(len);
  if (cp == unicode::kInvalid) return std::string_view(kReplacement, 3);
  return s.substr(0, size_t(len));
}

void SpNormalizer::normalize(std::string_view in, std::string& out, std::vector<uint32_t>* n2o) const {
  out.clear();
  if (n2o) n2o->clear();
  if (in.empty()) return;
  size_t consumed = 0;
  const bool rm = opts_.remove_extra_whitespaces, esc = opts_.escape_whitespaces;
  if (rm) {
    while (!in.empty()) {
      size_t c;
      std::string_view r = normalize_prefix(in, c);
      if (r != " ") break;
      in.remove_prefix(c);
      consumed += c;
    }
  }
  if (in.empty()) return;
  out.reserve(in.size() * 3 / 2 + 4);
  if (n2o) n2o->reserve(in.size() * 3 / 2 + 4);
  auto add_ws = [&] {
    if (esc) {
      out.append(kSpaceSymbol, 3);
      if (n2o) n2o->insert(n2o->end(), 3, uint32_t(consumed));
    } else {
      out.push_back(' ');
      if (n2o) n2o->push_back(uint32_t(consumed));
    }
  };
  if (!opts_.treat_whitespace_as_suffix && opts_.add_dummy_prefix) add_ws();
  bool prev_space = rm;
  while (!in.empty()) {
    size_t c;
    std::string_view r = normalize_prefix(in, c);
    if (prev_space)
      while (!r.empty() && r[0] == ' ') r.remove_prefix(1);
    if (!r.empty()) {
      for (char ch : r) {
        if (esc && ch == ' ') {
          out.append(kSpaceSymbol, 3);
          if (n2o) n2o->insert(n2o->end(), 3, uint32_t(consumed));
        } else {
          out.push_back(ch);
          if (n2o) n2o->push_back(uint32_t(consumed));
        }
      }
      prev_space = r.back() == ' ';
    }
    consumed += c;
    in.remove_prefix(c);
    if (!rm) prev_space = false;
  }
  if (rm) {
    const size_t sl = esc ? 3 : 1;
    const char* sym = esc ? kSpaceSymbol : " ";
    while (out.size() >= sl && std::memcmp(out.data() + out.size() - sl, sym, sl) == 0) {
      size_t len = out.size() - sl;
      if (n2o) {
        consumed = (*n2o)[len];
        n2o->resize(len);
      }
      out.resize(len);
    }
  }
  if (opts_.treat_whitespace_as_suffix && opts_.add_dummy_prefix) add_ws();
  if (n2o) n2o->push_back(uint32_t(consumed));
}

}  // namespace fastlm
