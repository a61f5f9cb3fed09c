#include <cctype>
#include <string>

#include "core/pipeline/regex_lexer.h"
#include "core/pipeline/uprops.h"
#include "core/unicode.h"

namespace fastlm {
namespace pipeline {

namespace {
// [0-9a-fA-F]: \h and [:xdigit:].
void add_hex_digits(CharClass& cc) {
  for (auto [lo, hi] : {std::pair<uint32_t, uint32_t>{'0', '9'}, {'a', 'f'}, {'A', 'F'}}) {
    ClassItem r;
    r.kind = ClassItem::kRange;
    r.lo = lo;
    r.hi = hi;
    cc.items.push_back(r);
  }
}
}  // namespace

uint32_t RegexLexer::next_cp() {
  const auto* b = reinterpret_cast<const unsigned char*>(p_.data());
  uint32_t cp;
  int len = unicode::decode(b + i_, b + p_.size(), cp);
  if (cp == unicode::kInvalid) fail("invalid UTF-8 in the pattern");
  i_ += size_t(len);
  return cp;
}

uint32_t RegexLexer::hexval(char c) {
  if (c >= '0' && c <= '9') return uint32_t(c - '0');
  if (c >= 'a' && c <= 'f') return uint32_t(c - 'a' + 10);
  if (c >= 'A' && c <= 'F') return uint32_t(c - 'A' + 10);
  return 99;
}
uint32_t RegexLexer::hex_digits(size_t max_digits, bool braces) {
  uint32_t v = 0;
  size_t n = 0;
  if (braces) {
    while (!eof() && cur() != '}') {
      uint32_t h = hexval(cur());
      if (h > 15) fail("bad hex escape");
      v = v * 16 + h;
      if (v > 0x10FFFF) fail("code point out of range");
      ++i_;
      ++n;
    }
    if (eof() || n == 0) fail("bad \\x{...} escape");
    ++i_;
    return v;
  }
  while (n < max_digits && !eof() && hexval(cur()) <= 15) {
    v = v * 16 + hexval(cur());
    ++i_;
    ++n;
  }
  if (n == 0) fail("bad hex escape");
  return v;
}

bool RegexLexer::char_escape(char c, bool in_class, uint32_t& cp) {
  switch (c) {
    case 'n': cp = '\n'; return true;
    case 't': cp = '\t'; return true;
    case 'r': cp = '\r'; return true;
    case 'f': cp = 0x0C; return true;
    case 'v': cp = 0x0B; return true;
    case 'a': cp = 0x07; return true;
    case 'e': cp = 0x1B; return true;
    case 'b':
      if (in_class) {
        cp = 0x08;
        return true;
      }
      return false;
    case '0': {
      uint32_t v = 0;
      for (int k = 0; k < 2 && !eof() && cur() >= '0' && cur() <= '7'; ++k) v = v * 8 + uint32_t(cur() - '0'), ++i_;
      cp = v;
      return true;
    }
    case 'x':
      if (!eof() && cur() == '{') {
        ++i_;
        cp = hex_digits(8, true);
      } else {
        cp = hex_digits(2, false);
      }
      return true;
    case 'u': {
      size_t s = i_;
      cp = hex_digits(4, false);
      if (i_ - s != 4) fail("\\u needs four hex digits");
      return true;
    }
    default: break;
  }
  return false;
}

bool RegexLexer::class_escape(char c, CharClass& cc) {
  ClassItem it;
  switch (c) {
    case 'd': case 'D': it.kind = ClassItem::kFlag; it.flag = kUDigit; it.negate = c == 'D'; break;
    case 's': case 'S': it.kind = ClassItem::kFlag; it.flag = kUSpace; it.negate = c == 'S'; break;
    case 'w': case 'W': it.kind = ClassItem::kFlag; it.flag = kUWord; it.negate = c == 'W'; break;
    case 'h': case 'H': {  // hex digit
      if (c == 'H') unsupported("\\H");
      add_hex_digits(cc);
      return true;
    }
    case 'p': case 'P': it = property(c == 'P'); break;
    default: return false;
  }
  cc.items.push_back(it);
  return true;
}

ClassItem RegexLexer::property(bool negate) {
  if (eof() || cur() != '{') fail("\\p needs {name}");
  ++i_;
  if (!eof() && cur() == '^') {
    negate = !negate;
    ++i_;
  }
  std::string name;
  while (!eof() && cur() != '}') name.push_back(cur()), ++i_;
  if (eof()) fail("unterminated \\p{");
  ++i_;
  ClassItem it;
  it.negate = negate;
  if (!regex_named_class(name, it)) unsupported("the property \\p{" + name + "}");
  return it;
}

CharClass RegexLexer::bracket() {
  CharClass cc;
  if (!eof() && cur() == '^') {
    cc.negate = true;
    ++i_;
  }
  bool first = true;
  while (true) {
    if (eof()) fail("premature end of char-class");
    char c = cur();
    if (c == ']' && !first) {
      ++i_;
      break;
    }
    first = false;
    if (c == '[') {
      if (i_ + 1 < p_.size() && p_[i_ + 1] == ':') {
        posix(cc);
        continue;
      }
      ++i_;  // nested class: a union
      CharClass inner = bracket();
      if (inner.negate) unsupported("a negated nested class");
      for (auto& x : inner.items) cc.items.push_back(x);  // a positive nested class is a union
      continue;
    }
    if (c == '&' && i_ + 1 < p_.size() && p_[i_ + 1] == '&') unsupported("class intersection &&");
    uint32_t lo;
    if (c == '\\') {
      ++i_;
      if (eof()) fail("premature end of char-class");
      char e = cur();
      ++i_;
      if (class_escape(e, cc)) continue;
      if (!char_escape(e, true, lo)) {
        --i_;
        lo = next_cp();
      }
    } else {
      lo = next_cp();
    }
    // a range lo-hi?
    if (i_ + 1 < p_.size() && cur() == '-' && p_[i_ + 1] != ']') {
      ++i_;
      uint32_t hi;
      if (cur() == '\\') {
        ++i_;
        if (eof()) fail("premature end of char-class");
        char e = cur();
        ++i_;
        if (!char_escape(e, true, hi)) {
          --i_;
          hi = next_cp();
        }
      } else if (cur() == '[') {
        unsupported("a class inside a range");
      } else {
        hi = next_cp();
      }
      if (hi < lo) fail("empty range in char class");
      ClassItem r;
      r.kind = ClassItem::kRange;
      r.lo = lo;
      r.hi = hi;
      cc.items.push_back(r);
      continue;
    }
    ClassItem r;
    r.kind = ClassItem::kRange;
    r.lo = r.hi = lo;
    cc.items.push_back(r);
  }
  return cc;
}

void RegexLexer::posix(CharClass& cc) {
  size_t close = p_.find(":]", i_ + 2);
  if (close == std::string_view::npos) fail("bad POSIX bracket");
  std::string_view name = p_.substr(i_ + 2, close - i_ - 2);
  bool neg = false;
  if (!name.empty() && name[0] == '^') {
    neg = true;
    name.remove_prefix(1);
  }
  ClassItem it;
  if (name == "digit") {
    it.kind = ClassItem::kFlag;
    it.flag = kUDigit;
  } else if (name == "space") {
    it.kind = ClassItem::kFlag;
    it.flag = kUSpace;
  } else if (name == "word") {
    it.kind = ClassItem::kFlag;
    it.flag = kUWord;
  } else if (name == "xdigit") {
    add_hex_digits(cc);
    if (neg) unsupported("[:^xdigit:]");
    i_ = close + 2;
    return;
  } else {
    unsupported("the POSIX bracket [:" + std::string(name) + ":]");
  }
  it.negate = neg;
  cc.items.push_back(it);
  i_ = close + 2;
}

}  // namespace pipeline
}  // namespace fastlm
