// Regex parser: pattern -> syntax tree (regex_impl.h). The dialect is Oniguruma's Ruby syntax as the reference
// uses it; see regex.h for what is supported.
#include <algorithm>
#include <cctype>
#include <string>

#include "core/error.h"
#include "core/pipeline/regex_impl.h"
#include "core/pipeline/regex_lexer.h"
#include "core/pipeline/uprops.h"
#include "core/unicode.h"

namespace fastlm {
namespace pipeline {

namespace {

class RegexParser : public RegexLexer {
 public:
  RegexParser(std::string_view p, RegexProgram& prog) : RegexLexer(p), prog_(prog) {}

  int parse() {
    int n = alt();
    if (i_ < p_.size()) fail("unmatched ')'");
    return n;
  }
  std::vector<Ast> nodes;


 private:
  int add(Ast a) {
    nodes.push_back(std::move(a));
    return int(nodes.size() - 1);
  }

  int alt() {
    std::vector<int> alts{concat()};
    while (!eof() && cur() == '|') {
      ++i_;
      alts.push_back(concat());
    }
    if (alts.size() == 1) return alts[0];
    Ast a;
    a.k = Ast::kAlt;
    a.kids = std::move(alts);
    return add(std::move(a));
  }

  int concat() {
    std::vector<int> items;
    while (!eof() && cur() != '|' && cur() != ')') {
      int n = repeat();
      if (n >= 0) items.push_back(n);
    }
    if (items.size() == 1) return items[0];
    Ast a;
    a.k = items.empty() ? Ast::kEmpty : Ast::kCat;
    a.kids = std::move(items);
    return add(std::move(a));
  }

  // Parses {n}, {n,}, {n,m}, {,m} at i_ (which is at '{'); false (i_ unchanged) if it is not an interval.
  bool interval(int& lo, int& hi) {
    size_t j = i_ + 1;
    auto num = [&](int& v) {
      size_t s = j;
      long long x = 0;
      while (j < p_.size() && std::isdigit(static_cast<unsigned char>(p_[j]))) {
        x = x * 10 + (p_[j] - '0');
        if (x > 100000) fail("repeat count too large");
        ++j;
      }
      v = int(x);
      return j > s;
    };
    int a = 0, b = 0;
    bool has_a = num(a);
    if (j < p_.size() && p_[j] == '}') {
      if (!has_a) return false;
      lo = hi = a;
      i_ = j + 1;
      return true;
    }
    if (j >= p_.size() || p_[j] != ',') return false;
    ++j;
    bool has_b = num(b);
    if (j >= p_.size() || p_[j] != '}') return false;
    if (!has_a && !has_b) return false;
    lo = has_a ? a : 0;
    hi = has_b ? b : -1;
    if (hi >= 0 && hi < lo) fail("bad repeat interval {" + std::to_string(lo) + "," + std::to_string(hi) + "}");
    i_ = j + 1;
    return true;
  }

  int wrap_repeat(int atom, int lo, int hi, bool greedy, bool possessive) {
    Ast r;
    r.k = Ast::kRepeat;
    r.kids = {atom};
    r.min = lo;
    r.max = hi;
    r.greedy = greedy;
    r.possessive = possessive;
    return add(std::move(r));
  }

  int repeat() {
    int atom_i = atom();
    if (atom_i < 0) return -1;
    for (;;) {
      if (eof()) break;
      char c = cur();
      if (c == '*' || c == '+' || c == '?') {
        if (nodes[size_t(atom_i)].k == Ast::kAssert || nodes[size_t(atom_i)].k == Ast::kLook)
          fail("target of repeat operator is invalid");
        ++i_;
        int lo = c == '+' ? 1 : 0, hi = c == '?' ? 1 : -1;
        bool greedy = true, possessive = false;
        if (!eof() && cur() == '?') {
          greedy = false;
          ++i_;
        } else if (!eof() && cur() == '+') {
          possessive = true;
          ++i_;
        }
        atom_i = wrap_repeat(atom_i, lo, hi, greedy, possessive);
        continue;
      }
      if (c == '{') {
        int lo, hi;
        if (!interval(lo, hi)) break;
        bool greedy = true;
        if (!eof() && cur() == '?') {
          if (lo == hi) {  // Ruby: X{n}? is (?:X{n})?
            atom_i = wrap_repeat(wrap_repeat(atom_i, lo, hi, true, false), 0, 1, true, false);
            ++i_;
            continue;
          }
          greedy = false;
          ++i_;
        }
        // Ruby syntax: a '+' after an interval is a new quantifier (handled by the next iteration), not possessive.
        atom_i = wrap_repeat(atom_i, lo, hi, greedy, false);
        continue;
      }
      break;
    }
    return atom_i;
  }

  int char_node(uint32_t cp) {
    Ast a;
    a.k = Ast::kChar;
    a.v = cp;
    a.icase = icase_;
    return add(std::move(a));
  }
  int class_node(CharClass cc) {
    cc.icase = icase_;
    prog_.classes.push_back(std::move(cc));
    Ast a;
    a.k = Ast::kClass;
    a.v = uint32_t(prog_.classes.size() - 1);
    return add(std::move(a));
  }
  int assert_node(AssertKind k) {
    Ast a;
    a.k = Ast::kAssert;
    a.v = k;
    return add(std::move(a));
  }

  int atom() {
    char c = cur();
    switch (c) {
      case '(': return group();
      case '[': {
        ++i_;
        return class_node(bracket());
      }
      case '.': {
        ++i_;
        Ast a;
        a.k = Ast::kAny;
        a.dotall = dotall_;
        return add(std::move(a));
      }
      case '^': ++i_; return assert_node(kBol);
      case '$': ++i_; return assert_node(kEol);
      case '*': case '+': case '?': fail("target of repeat operator is not specified");
      case '\\': return escape();
      default: return char_node(next_cp());
    }
  }

  int group() {
    ++i_;  // '('
    bool save_i = icase_, save_d = dotall_;
    int body;
    if (!eof() && cur() == '?') {
      ++i_;
      if (eof()) fail("end of pattern in group");
      char c = cur();
      if (c == ':') {
        ++i_;
        body = alt();
      } else if (c == '=' || c == '!') {
        ++i_;
        Ast a;
        a.k = Ast::kLook;
        a.negate = c == '!';
        a.kids = {alt()};
        body = add(std::move(a));
      } else if (c == '>') {
        ++i_;
        Ast a;
        a.k = Ast::kAtomic;
        a.kids = {alt()};
        body = add(std::move(a));
      } else if (c == '<' && i_ + 1 < p_.size() && (p_[i_ + 1] == '=' || p_[i_ + 1] == '!')) {
        Ast a;
        a.k = Ast::kLook;
        a.behind = true;
        a.negate = p_[i_ + 1] == '!';
        i_ += 2;
        a.kids = {alt()};
        body = add(std::move(a));
      } else if (c == '<' || c == '\'' || c == 'P') {  // named group: matched as a plain group
        if (c == 'P') {
          ++i_;
          if (eof() || cur() != '<') unsupported("(?P construct");
        }
        char close = cur() == '\'' ? '\'' : '>';
        ++i_;
        while (!eof() && cur() != close) ++i_;
        if (eof()) fail("unterminated group name");
        ++i_;
        body = alt();
      } else if (c == '#') {  // comment
        while (!eof() && cur() != ')') ++i_;
        if (eof()) fail("unterminated comment");
        ++i_;
        return -1;
      } else {
        // inline options: (?imx-imx) or (?imx-imx:...)
        bool on = true, any = false;
        bool ni = icase_, nd = dotall_;
        while (!eof() && cur() != ')' && cur() != ':') {
          char o = cur();
          if (o == '-') {
            on = false;
          } else if (o == 'i') {
            ni = on;
          } else if (o == 'm' || o == 's') {  // Ruby's m is "dot matches newline"
            nd = on;
          } else if (o == 'x') {
            unsupported("the extended-syntax option (?x)");
          } else {
            unsupported(std::string("the group construct (?") + o);
          }
          any = true;
          ++i_;
        }
        if (eof()) fail("end of pattern in group");
        if (!any && cur() == ')') fail("empty option group");
        if (cur() == ')') {  // applies to the rest of the enclosing group
          ++i_;
          icase_ = ni;
          dotall_ = nd;
          return -1;
        }
        ++i_;  // ':'
        icase_ = ni;
        dotall_ = nd;
        body = alt();
      }
    } else {
      body = alt();
    }
    if (eof() || cur() != ')') fail("missing ')'");
    ++i_;
    icase_ = save_i;
    dotall_ = save_d;
    return body;
  }

  int escape() {
    ++i_;  // '\'
    if (eof()) fail("pattern ends with a backslash");
    char c = cur();
    ++i_;
    switch (c) {
      case 'A': return assert_node(kBos);
      case 'z': return assert_node(kEos);
      case 'Z': return assert_node(kEosNl);
      case 'b': return assert_node(kWordB);
      case 'B': return assert_node(kNotWordB);
      default: break;
    }
    if (c >= '1' && c <= '9') unsupported("a backreference \\" + std::string(1, c));
    if (std::string_view("kgGKXRNOyY").find(c) != std::string_view::npos)
      unsupported(std::string("the escape \\") + c);
    uint32_t cp;
    if (char_escape(c, false, cp)) return char_node(cp);
    CharClass cc;
    if (class_escape(c, cc)) return class_node(std::move(cc));
    --i_;
    return char_node(next_cp());  // escaped literal (punctuation or any other character)
  }

  // After '[': parses up to the matching ']'.
  RegexProgram& prog_;
  bool icase_ = false, dotall_ = false;
};

}  // namespace

void regex_error(std::string_view pattern, size_t at, const std::string& what, bool unsupported) {
  std::string q = pattern.size() > 80 ? std::string(pattern.substr(0, 77)) + "..." : std::string(pattern);
  if (unsupported)
    throw ValueError("regex '" + q + "': " + what + " (at position " + std::to_string(at) +
                     ") is not supported by fastlm's regex engine");
  throw ValueError("regex '" + q + "': " + what + " at position " + std::to_string(at));
}

int parse_regex(std::string_view pattern, RegexProgram& prog, std::vector<Ast>& nodes) {
  RegexParser p(pattern, prog);
  int root = p.parse();
  nodes = std::move(p.nodes);
  return root;
}

}  // namespace pipeline
}  // namespace fastlm
