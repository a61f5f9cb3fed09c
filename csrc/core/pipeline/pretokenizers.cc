#include "core/pipeline/pretokenizers.h"

#include "core/error.h"
#include "core/normalize.h"
#include "core/pipeline/uprops.h"
#include "core/pretokenize.h"
#include "core/unicode.h"

namespace fastlm {
namespace pipeline {

namespace {

struct Match {
  uint32_t b, e;
  bool is_match;
};

// The reference's find_matches: a list of ranges covering s, each a match or the text between matches.
void regex_matches(const Regex& re, std::string_view s, std::vector<Match>& out) {
  out.clear();
  thread_local std::vector<std::pair<uint32_t, uint32_t>> m;
  m.clear();
  re.find_all(s, m);
  uint32_t prev = 0;
  for (auto [b, e] : m) {
    if (prev != b) out.push_back({prev, b, false});
    out.push_back({b, e, true});
    prev = e;
  }
  if (prev != s.size()) out.push_back({prev, uint32_t(s.size()), false});
}

// Character predicates: every matching character is a match of its own.
template <class Pred>
void char_matches(std::string_view s, Pred pred, std::vector<Match>& out) {
  out.clear();
  uint32_t last = 0;
  for (size_t i = 0; i < s.size();) {
    int len;
    uint32_t cp = char_at(s, i, len);
    if (cp != unicode::kInvalid && pred(cp)) {
      if (last < i) out.push_back({last, uint32_t(i), false});
      out.push_back({uint32_t(i), uint32_t(i + size_t(len)), true});
      last = uint32_t(i + size_t(len));
    }
    i += size_t(len);
  }
  if (last < s.size()) out.push_back({last, uint32_t(s.size()), false});
}

// Applies a split behavior to a covering match list and appends the kept ranges of `piece` to out.
void split_by(const NormStr& piece, std::vector<Match>& m, SplitBehavior beh, bool invert, Splits& out) {
  if (invert)
    for (auto& x : m) x.is_match = !x.is_match;
  struct Part {
    uint32_t b, e;
    bool remove;
  };
  thread_local std::vector<Part> parts;
  parts.clear();
  bool prev = false;
  switch (beh) {
    case SplitBehavior::kIsolated:
      for (const auto& x : m) parts.push_back({x.b, x.e, false});
      break;
    case SplitBehavior::kRemoved:
      for (const auto& x : m) parts.push_back({x.b, x.e, x.is_match});
      break;
    case SplitBehavior::kContiguous:
      for (const auto& x : m) {
        if (x.is_match == prev && !parts.empty())
          parts.back().e = x.e;
        else
          parts.push_back({x.b, x.e, false});
        prev = x.is_match;
      }
      break;
    case SplitBehavior::kMergedWithPrevious:
      for (const auto& x : m) {
        if (x.is_match && !prev && !parts.empty())
          parts.back().e = x.e;
        else
          parts.push_back({x.b, x.e, false});
        prev = x.is_match;
      }
      break;
    case SplitBehavior::kMergedWithNext:
      for (size_t k = m.size(); k-- > 0;) {
        const auto& x = m[k];
        if (x.is_match && !prev && !parts.empty())
          parts.back().b = x.b;
        else
          parts.push_back({x.b, x.e, false});
        prev = x.is_match;
      }
      for (size_t i = 0, j = parts.size(); i + 1 < j; ++i, --j) std::swap(parts[i], parts[j - 1]);
      break;
  }
  for (const auto& p : parts)
    if (!p.remove) out.add(piece, p.b, p.e);
}

// Rust's char::is_whitespace, as measured into core/normalize's table
bool is_ws(uint32_t cp) { return (norm::record(cp).flags & norm::kWhitespace) != 0; }

// Prepends the character `c` as the reference's NormalizedString::prepend does (it replaces the first character,
// which is re-inserted after it: both take the first character's range).
void prepend_char(const NormStr& in, uint32_t c, NormStr& out) {
  Rewriter w(in, out);
  int len;
  uint32_t first = w.peek(len);
  if (first == unicode::kInvalid) {
    out.push_char(c, in.a0[0], in.a1[0]);
    w.finish();
    return;
  }
  w.replace(c);
  w.insert(first);
  w.finish();
}

// ------------------------------------------------------------------------------------------------ ByteLevel
// The hand-written GPT-2 scanner (core/pretokenize, proven equal to the pattern below) takes its letter / number /
// space classes from the `regex` module's Unicode data, the reference's engine from Oniguruma's; they differ on
// code points assigned in between. Where every character of a piece is classified alike, the scanner's split is the
// engine's, and it is several times faster; other pieces go through the engine.
bool scanner_agrees(uint32_t cp) {
  static const std::vector<uint64_t> bits = [] {
    std::vector<uint64_t> b(0x110000 / 64, 0);
    for (uint32_t c = 0; c < 0x110000; ++c) {
      uint8_t k = pretok::class_of_cp(c);
      const UProps& u = uprops(c);
      bool l = u.gc >= unicode::Lu && u.gc <= unicode::Lo, n = u.gc >= unicode::Nd && u.gc <= unicode::No;
      if (bool(k & pretok::kL) == l && bool(k & pretok::kN) == n && bool(k & pretok::kWS) == bool(u.flags & kUSpace))
        b[c >> 6] |= uint64_t(1) << (c & 63);
    }
    return b;
  }();
  return cp >= 0x110000 || ((bits[cp >> 6] >> (cp & 63)) & 1);
}

bool scanner_exact(std::string_view s) {
  for (size_t i = 0; i < s.size();) {
    if (static_cast<unsigned char>(s[i]) < 0x80) {
      ++i;
      continue;
    }
    int len;
    uint32_t cp = char_at(s, i, len);
    if (cp != unicode::kInvalid && !scanner_agrees(cp)) return false;
    i += size_t(len);
  }
  return true;
}

const char kGpt2Pattern[] = R"('s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+)";

class ByteLevel : public PreTokenizer {
 public:
  ByteLevel(bool prefix, bool use_regex) : prefix_(prefix), use_regex_(use_regex) {
    if (use_regex_) re_ = std::make_unique<Regex>(kGpt2Pattern);
  }

 protected:
  void split(const NormStr& piece, Splits& out) const override {
    thread_local NormStr withp, mapped;
    thread_local std::vector<Match> m;
    const NormStr* src = &piece;
    if (prefix_ && piece.s[0] != ' ') {
      prepend_char(piece, ' ', withp);
      src = &withp;
    }
    // map every byte, then split the mapped text at the positions the regex gives on the unmapped text
    thread_local std::vector<uint32_t> at;  // byte offset in mapped for each byte offset in src (+1 entry)
    mapped.clear();
    mapped.origin = src->origin;
    at.resize(src->s.size() + 1);
    for (size_t i = 0; i < src->s.size(); ++i) {
      at[i] = uint32_t(mapped.s.size());
      mapped.push_char(byte_level_char(static_cast<uint8_t>(src->s[i])), src->a0[i], src->a1[i]);
    }
    at[src->s.size()] = uint32_t(mapped.s.size());
    if (!use_regex_) {
      out.add_whole(mapped);
      return;
    }
    if (scanner_exact(src->s)) {
      m.clear();
      const auto* b = reinterpret_cast<const unsigned char*>(src->s.data());
      const size_t n = src->s.size();
      for (size_t pos = 0; pos < n;) {
        size_t e = pretok::next_r50k(b, n, pos);
        m.push_back({uint32_t(pos), uint32_t(e), true});
        pos = e;
      }
    } else {
      regex_matches(*re_, src->s, m);
    }
    for (auto& x : m) {
      x.b = at[x.b];
      x.e = at[x.e];
    }
    split_by(mapped, m, SplitBehavior::kIsolated, false, out);
  }

 private:
  bool prefix_, use_regex_;
  std::unique_ptr<Regex> re_;
};

class SplitPattern : public PreTokenizer {
 public:
  SplitPattern(Regex re, SplitBehavior b, bool invert) : re_(std::move(re)), beh_(b), invert_(invert) {}

 protected:
  void split(const NormStr& piece, Splits& out) const override {
    thread_local std::vector<Match> m;
    regex_matches(re_, piece.s, m);
    split_by(piece, m, beh_, invert_, out);
  }

 private:
  Regex re_;
  SplitBehavior beh_;
  bool invert_;
};

class CharSplit : public PreTokenizer {
 public:
  enum Kind { kWhitespace, kPunct, kDigit };
  CharSplit(Kind k, SplitBehavior b) : k_(k), beh_(b) {}

 protected:
  void split(const NormStr& piece, Splits& out) const override {
    thread_local std::vector<Match> m;
    switch (k_) {
      case kWhitespace: char_matches(piece.s, is_ws, m); break;
      case kPunct:
        char_matches(piece.s, [](uint32_t cp) { return (norm::record(cp).flags & norm::kPunct) != 0; }, m);
        break;
      case kDigit:
        char_matches(piece.s, [](uint32_t cp) {
          uint8_t g = uprops(cp).gc;
          return g == unicode::Nd || g == unicode::Nl || g == unicode::No;
        }, m);
        break;
    }
    split_by(piece, m, beh_, false, out);
  }

 private:
  Kind k_;
  SplitBehavior beh_;
};

class BertPre : public PreTokenizer {
 protected:
  void split(const NormStr& piece, Splits& out) const override {
    thread_local Splits words;
    thread_local std::vector<Match> m;
    words.clear();
    char_matches(piece.s, is_ws, m);
    split_by(piece, m, SplitBehavior::kRemoved, false, words);
    thread_local NormStr w;
    for (const Piece& p : words.pieces) {
      w.clear();
      w.origin = p.origin;
      w.append_from(words.ns, p.begin, p.end);
      char_matches(w.s, [](uint32_t cp) { return (norm::record(cp).flags & norm::kPunct) != 0; }, m);
      split_by(w, m, SplitBehavior::kIsolated, false, out);
    }
  }
};

class Metaspace : public PreTokenizer {
 public:
  Metaspace(uint32_t repl, PrependScheme scheme, bool split) : repl_(repl), scheme_(scheme), split_(split) {}

 protected:
  void split(const NormStr& piece, Splits& out) const override {
    thread_local NormStr a, b;
    thread_local std::vector<Match> m;
    {  // ' ' -> replacement (each takes the space's range)
      Rewriter w(piece, a);
      while (!w.done()) {
        int len;
        uint32_t cp = w.peek(len);
        if (cp == ' ') {
          w.skip_bytes(1);
          w.insert(repl_);
        } else {
          w.keep_bytes(size_t(len));
        }
      }
    }
    const NormStr* cur = &a;
    int len;
    bool starts = !a.s.empty() && char_at(a.s, 0, len) == repl_;
    if (!a.s.empty() && !starts &&
        (scheme_ == PrependScheme::kAlways || (scheme_ == PrependScheme::kFirst && a.origin == 0))) {
      prepend_char(a, repl_, b);
      cur = &b;
    }
    if (!split_) {
      out.add_whole(*cur);
      return;
    }
    const uint32_t r = repl_;
    char_matches(cur->s, [r](uint32_t cp) { return cp == r; }, m);
    split_by(*cur, m, SplitBehavior::kMergedWithNext, false, out);
  }

 private:
  uint32_t repl_;
  PrependScheme scheme_;
  bool split_;
};

class PreSequence : public PreTokenizer {
 public:
  explicit PreSequence(std::vector<PreTokenizerPtr> items) : items_(std::move(items)) {}
  void run(const Splits& in, Splits& out) const {
    if (items_.empty()) {
      out = in;
      return;
    }
    Splits cur = in, next;
    for (const auto& p : items_) {
      p->apply(cur, next);
      std::swap(cur, next);
    }
    out = std::move(cur);
  }

 protected:
  void split(const NormStr& piece, Splits& out) const override {
    Splits in;
    in.add_whole(piece);
    Splits res;
    run(in, res);
    for (const Piece& p : res.pieces) {
      uint32_t at = uint32_t(out.ns.s.size());
      out.ns.append_from(res.ns, p.begin, p.end);
      out.pieces.push_back(Piece{at, uint32_t(out.ns.s.size()), p.origin, p.added});
    }
  }

 private:
  std::vector<PreTokenizerPtr> items_;
};

}  // namespace

void PreTokenizer::apply(const Splits& in, Splits& out) const {
  out.clear();
  thread_local NormStr piece;
  for (const Piece& p : in.pieces) {
    if (p.added != kNoAdded) {
      uint32_t at = uint32_t(out.ns.s.size());
      out.ns.append_from(in.ns, p.begin, p.end);
      out.pieces.push_back(Piece{at, uint32_t(out.ns.s.size()), p.origin, p.added});
      continue;
    }
    if (p.end <= p.begin) continue;
    piece.clear();
    piece.origin = p.origin;
    piece.append_from(in.ns, p.begin, p.end);
    split(piece, out);
  }
}

uint32_t byte_level_char(uint8_t b) {
  static const struct Table {
    uint32_t v[256];
    Table() {
      uint32_t extra = 0;
      for (int c = 0; c < 256; ++c) {
        bool keep = (c >= 0x21 && c <= 0x7E) || (c >= 0xA1 && c <= 0xAC) || (c >= 0xAE && c <= 0xFF);
        v[c] = keep ? uint32_t(c) : 0x100 + extra++;
      }
    }
  } t;
  return t.v[b];
}

int byte_level_byte(uint32_t cp) {
  if (cp <= 0xFF) {
    bool keep = (cp >= 0x21 && cp <= 0x7E) || (cp >= 0xA1 && cp <= 0xAC) || (cp >= 0xAE);
    return keep ? int(cp) : -1;
  }
  if (cp >= 0x100 && cp < 0x100 + 68) {
    static const struct Inv {
      int v[68];
      Inv() {
        for (int c = 0; c < 256; ++c) {
          uint32_t m = byte_level_char(uint8_t(c));
          if (m >= 0x100) v[m - 0x100] = c;
        }
      }
    } inv;
    return inv.v[cp - 0x100];
  }
  return -1;
}

PreTokenizerPtr make_byte_level(bool add_prefix_space, bool use_regex) {
  return std::make_shared<ByteLevel>(add_prefix_space, use_regex);
}
PreTokenizerPtr make_split(Regex pattern, SplitBehavior behavior, bool invert) {
  return std::make_shared<SplitPattern>(std::move(pattern), behavior, invert);
}
PreTokenizerPtr make_whitespace() { return make_split(Regex(R"(\w+|[^\w\s]+)"), SplitBehavior::kRemoved, true); }
PreTokenizerPtr make_whitespace_split() {
  return std::make_shared<CharSplit>(CharSplit::kWhitespace, SplitBehavior::kRemoved);
}
PreTokenizerPtr make_bert_pretokenizer() { return std::make_shared<BertPre>(); }
PreTokenizerPtr make_metaspace(uint32_t replacement, PrependScheme scheme, bool split) {
  return std::make_shared<Metaspace>(replacement, scheme, split);
}
PreTokenizerPtr make_digits(bool individual) {
  return std::make_shared<CharSplit>(CharSplit::kDigit,
                                     individual ? SplitBehavior::kIsolated : SplitBehavior::kContiguous);
}
PreTokenizerPtr make_punctuation(SplitBehavior behavior) {
  return std::make_shared<CharSplit>(CharSplit::kPunct, behavior);
}
PreTokenizerPtr make_pretok_sequence(std::vector<PreTokenizerPtr> items) {
  return std::make_shared<PreSequence>(std::move(items));
}

}  // namespace pipeline
}  // namespace fastlm
