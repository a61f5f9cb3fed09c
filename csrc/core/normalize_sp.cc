// SentencePiece normalizer (see normalize_sp.h). The whitespace rules mirror sentencepiece exactly: leading
// whitespace dropped, runs collapsed, trailing whitespace dropped (its offset kept as the end), dummy prefix added.
#include "core/normalize_sp.h"

#include <algorithm>
#include <cassert>
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
  build_table();
}

void SpNormalizer::build_table() {
  table_.assign(0x10000, 0);
  ext_.clear();
  std::string u;
  for (uint32_t cp = 0; cp < 0x10000; ++cp) {
    uint32_t& e = table_[cp];
    if (cp >= 0xD800 && cp <= 0xDFFF) {
      e = kSlow;
      continue;
    }
    u.clear();
    unicode::append_utf8(u, cp);
    const uint8_t b0 = static_cast<uint8_t>(u[0]);
    if (has_user_ && user_.has_first_byte(b0)) {
      // A user-defined symbol is copied verbatim: the character alone is one (xlnet's "." and "-") unless a
      // longer symbol may start with it or a shorter one ends inside it.
      int32_t v;
      const size_t m = user_.longest_prefix(u.data(), u.size(), v);
      if (user_.extends(u) || (m > 0 && m < u.size())) {
        e = kSlow;
        continue;
      }
      if (m == u.size()) continue;  // identity
    }
    if (!units_ || !first_byte_hit_[b0]) continue;  // identity
    // The walk of charsmap_longest over u alone, remembering whether it is still inside the trie at u's end.
    uint32_t id = unit_offset(units_[0]);
    size_t best = 0;
    uint32_t value = 0;
    bool live = true;
    for (size_t i = 0; i < u.size() && live; ++i) {
      const uint8_t c = static_cast<uint8_t>(u[i]);
      id ^= c;
      if (id >= num_units_ || unit_label(units_[id]) != c) {
        live = false;
        break;
      }
      const uint32_t unit = units_[id];
      id ^= unit_offset(unit);
      if (has_leaf(unit)) {
        if (id >= num_units_) {
          live = false;
          break;
        }
        best = i + 1;
        value = unit_value(units_[id]);
      }
    }
    bool extends = false;
    if (live)
      for (uint32_t c = 0; c < 256 && !extends; ++c) {
        const uint32_t j = id ^ c;
        extends = j < num_units_ && unit_label(units_[j]) == c;
      }
    // The entry for the character alone.
    uint32_t alone = 0;
    if (best > 0 && best < u.size()) {
      e = kSlow;  // a rule ends inside the character
      continue;
    }
    if (best > 0) {
      if (value >= pool_.size()) {
        alone = 1;  // out-of-range rule: the character is deleted
      } else {
        const size_t len = std::strlen(pool_.data() + value);
        alone = (len < 64 && value < (1u << 24)) ? (1u | uint32_t(len) << 2 | value << 8) : kSlow;
      }
    }
    if (!extends || alone == kSlow) {
      e = alone;
      continue;
    }
    e = 2u | uint32_t(ext_.size()) << 2;
    ext_.push_back(Ext{id, alone});
  }
  for (uint32_t b = 0; b < 0x80; ++b) {
    const uint32_t e = table_[b];
    if (b == ' ') continue;
    if (e == 0) {
      ascii_run_[b] = 1;
    } else if ((e & 3) == 2 && ext_[e >> 2].alone == 0) {
      bool ascii_next = false;
      for (uint32_t c = 0; c < 0x80 && !ascii_next; ++c) {
        const uint32_t j = ext_[e >> 2].node ^ c;
        ascii_next = j < num_units_ && unit_label(units_[j]) == c;
      }
      if (!ascii_next) ascii_run_[b] = 2;
    }
  }
  for (uint32_t b = 0; b < 256; ++b) {
    run_step_[0][b] = run_step_[1][b] = ascii_run_[b] ? 1 : kRunStop;
    run_bytes_[b][0] = char(b);
  }
  if (table_[' '] == 0) {  // a space maps to itself: it is escaped (or kept) and collapsed in the run loop
    const uint8_t sp = ' ';
    const uint8_t len = opts_.escape_whitespaces ? 3 : 1;
    if (opts_.escape_whitespaces) std::memcpy(run_bytes_[sp], kSpaceSymbol, 3);
    const uint8_t after = uint8_t(opts_.remove_extra_whitespaces) << kRunSpaceShift;
    run_step_[0][sp] = len | after;
    run_step_[1][sp] = opts_.remove_extra_whitespaces ? after : len;  // collapsed after a space
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
  SpNormBuffer buf;
  normalize(in, buf, n2o != nullptr);
  out.assign(buf.data.get(), buf.size);
  if (n2o) *n2o = std::move(buf.n2o);
}

void SpNormalizer::normalize(std::string_view in, SpNormBuffer& out, bool offsets) const {
  if (offsets)
    normalize_impl<true>(in, out);
  else
    normalize_impl<false>(in, out);
  out.reserve(out.size);  // (no-op) the buffer always has room for the terminator
  out.data[out.size] = '\0';
}

// Writes through a raw cursor: the buffer is sized for the identity worst case (3 output bytes per input byte: a
// space becomes U+2581) and grown only before a replacement string that could overflow it.
template <bool kOffsets>
void SpNormalizer::normalize_impl(std::string_view in, SpNormBuffer& out) const {
  out.size = 0;
  std::vector<uint32_t>* n2o = kOffsets ? &out.n2o : nullptr;
  if (kOffsets) n2o->clear();
  out.reserve(0);
  if (in.empty()) return;
  size_t consumed = 0;
  const bool rm = opts_.remove_extra_whitespaces, esc = opts_.escape_whitespaces;
  if (rm) {
    while (!in.empty()) {
      // A plain ASCII character is not whitespace (the common first character): skip the full lookup.
      const uint8_t r0 = ascii_run_[static_cast<uint8_t>(in[0])];
      if (r0 == 1 || (r0 == 2 && (in.size() == 1 || static_cast<uint8_t>(in[1]) < 0x80))) break;
      size_t c;
      std::string_view r = normalize_prefix(in, c);
      if (r != " ") break;
      in.remove_prefix(c);
      consumed += c;
    }
  }
  if (in.empty()) return;
  size_t cap = in.size() * 3 + 8;
  out.reserve(cap);
  if (kOffsets) n2o->resize(cap + 1);
  char* o = out.data.get();
  uint32_t* m = kOffsets ? n2o->data() : nullptr;
  size_t k = 0;  // bytes written
  // Keeps room for `extra` bytes now plus the identity worst case of the input after position `from`.
  auto grow = [&](size_t extra, size_t from) {
    const size_t need = k + extra + 3 * (in.size() - std::min(from, in.size())) + 8;
    if (need <= cap) return;
    cap = std::max(cap * 2, need);
    out.size = k;
    out.reserve(cap);
    o = out.data.get();
    if (kOffsets) {
      n2o->resize(cap + 1);
      m = n2o->data();
    }
  };
  auto put = [&](char ch) {
    o[k] = ch;
    if (kOffsets) m[k] = uint32_t(consumed);
    ++k;
  };
  auto put_ws = [&] {
    if (esc) {
      put('\xe2');
      put('\x96');
      put('\x81');
    } else {
      put(' ');
    }
  };
  if (!opts_.treat_whitespace_as_suffix && opts_.add_dummy_prefix) put_ws();
  bool prev_space = rm;
  const unsigned char* p = reinterpret_cast<const unsigned char*>(in.data());
  const size_t n = in.size();
  const uint32_t* table = table_.data();
  // Kind 2: the character-alone entry, unless the charsmap walk continues through the next character or finds a
  // rule ending inside it (then the slow path decides). Composition rules (か + U+3099 -> が) make the first
  // byte of the next character match often; its later bytes almost never do.
  auto resolve = [&](uint32_t e, size_t next) -> uint32_t {
    const Ext& x = ext_[e >> 2];
    if (next >= n) return x.alone;
    const size_t stop = std::min(n, next + size_t("\1\1\1\1\1\1\1\1\1\1\1\1\2\2\3\4"[p[next] >> 4]));
    uint32_t id = x.node;
    for (size_t q = next; q < stop; ++q) {
      const uint32_t c = p[q];
      id ^= c;
      if (id >= num_units_ || unit_label(units_[id]) != c) return x.alone;
      const uint32_t unit = units_[id];
      id ^= unit_offset(unit);
      if (has_leaf(unit)) return kSlow;
    }
    return kSlow;
  };
  size_t i = 0;
  while (i < n) {
    // Runs of ASCII that map to themselves (most Latin-script text and code) are copied without lookups.
    if (kOffsets ? ascii_run_[p[i]] != 0 : !(run_step_[0][p[i]] & kRunStop)) {
      const size_t from = i;
      if (kOffsets) {
        while (i < n) {
          const uint8_t c = ascii_run_[p[i]];
          if (c == 0 || (c == 2 && i + 1 < n && p[i + 1] >= 0x80)) break;
          put(char(p[i]));
          ++consumed;
          ++i;
        }
      } else {
        // Spaces that map to themselves join the run too: each byte stores its 4-byte output word and advances
        // by its length (0 for a space after a space with remove_extra_whitespaces), so a line of words is one
        // loop with no branch per word. (Leaving the run at every space for the general path below cost a
        // mispredicted exit and some 40 instructions a word: ~2.9 ns a byte on English.) Writes: at most 4
        // bytes at o + k, inside the room of 3 * (n - i) + 5 kept for the rest of the input.
        char* w = o + k;
        size_t ps = prev_space;
        while (i < n) {
          const uint8_t b = p[i];
          const uint8_t e = run_step_[ps][b];
          if (e & kRunStop) break;
          std::memcpy(w, run_bytes_[b], 4);
          w += e & kRunLen;
          ps = (e >> kRunSpaceShift) & 1;
          ++i;
        }
        // A letter that may start a composition rule (ascii_run_ 2) is left to the general path below when a
        // non-ASCII byte follows it: take it back (it wrote one byte) with the space state from before it.
        if (i < n && i > from && p[i] >= 0x80 && ascii_run_[p[i - 1]] == 2) {
          --i;
          --w;
          ps = i > from ? (run_step_[0][p[i - 1]] >> kRunSpaceShift) & 1 : prev_space;
        }
        k = size_t(w - o);
        prev_space = ps;
      }
      if (kOffsets && i > from) prev_space = false;
      if (i >= n) break;
    }
    uint32_t e;
    size_t len;
    const unsigned char b0 = p[i];
    if (b0 < 0x80) {
      e = table[b0];
      len = 1;
      if ((e & 3) == 2) e = resolve(e, i + 1);
      if (e == 0) {  // identity ASCII: the common case
        if (b0 == ' ') {
          if (!prev_space) {
            put_ws();
            prev_space = rm;
          }
        } else {
          put(char(b0));
          prev_space = false;
        }
        ++i;
        ++consumed;
        continue;
      }
    } else {
      uint32_t cp;
      len = size_t(unicode::decode(p + i, p + n, cp));
      e = cp < 0x10000 ? table[cp] : kSlow;
      if ((e & 3) == 2) e = resolve(e, i + len);
      if (e == 0) {  // identity multi-byte character (never a space)
        // One 4-byte copy instead of a byte loop (about 20% fewer instructions on Japanese text). Reads stay in
        // the input: i + 4 <= n. Writes stay in the output: every step writes at most 3 bytes per input byte it
        // consumes (grow() keeps that room for pool strings), so cap - k >= 3 * (n - i) + 5 holds at the top of
        // the loop (cap starts at 3n + 8, the dummy prefix takes 3), and 3 * 4 + 5 >= 4. Bytes past k + len
        // are scratch that later writes overwrite and out.size excludes. The offsets build keeps the byte loop.
        if (kOffsets || i + 4 > n) {
          for (size_t j = 0; j < len; ++j) put(char(p[i + j]));
        } else {
          assert(k + 4 <= cap);
          std::memcpy(o + k, p + i, 4);
          k += len;
        }
        prev_space = false;
        i += len;
        consumed += len;
        continue;
      }
    }
    std::string_view r;
    if ((e & 3) == 1) {
      r = std::string_view(pool_.data() + (e >> 8), (e >> 2) & 63);
    } else {
      r = normalize_prefix(std::string_view(in.data() + i, n - i), len);
    }
    if (prev_space)
      while (!r.empty() && r[0] == ' ') r.remove_prefix(1);
    if (!r.empty()) {
      grow(r.size() * 3, i + len);
      for (char ch : r) {
        if (esc && ch == ' ')
          put_ws();
        else
          put(ch);
      }
      prev_space = r.back() == ' ';
    }
    consumed += len;
    i += len;
    if (!rm) prev_space = false;
  }
  if (rm) {
    const size_t sl = esc ? 3 : 1;
    const char* sym = esc ? kSpaceSymbol : " ";
    // (Compared inline: a memcmp call per line was ~1% of the encode of short lines.)
    auto ends_with_space = [&] {
      return k >= sl && o[k - 1] == sym[sl - 1] && (sl == 1 || (o[k - 2] == sym[1] && o[k - 3] == sym[0]));
    };
    while (ends_with_space()) {
      k -= sl;
      if (kOffsets) consumed = m[k];
    }
  }
  if (opts_.treat_whitespace_as_suffix && opts_.add_dummy_prefix) {
    grow(3, in.size());
    put_ws();
  }
  if (kOffsets) m[k] = uint32_t(consumed);
  out.size = k;
  if (kOffsets) n2o->resize(k + 1);
}

}  // namespace fastlm
