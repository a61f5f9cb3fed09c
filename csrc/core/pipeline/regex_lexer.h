// The lexical layer of the regex parser (regex_parse.cc): the cursor over the pattern, escapes, and character
// classes ([...], \p{..}, POSIX brackets), which need no knowledge of the syntax tree.
#pragma once
#include <cstdint>
#include <string>
#include <string_view>

#include "core/pipeline/regex_impl.h"

namespace fastlm {
namespace pipeline {

class RegexLexer {
 public:
  explicit RegexLexer(std::string_view p) : p_(p) {}
  [[noreturn]] void fail(const std::string& what) const { regex_error(p_, i_, what, false); }
  [[noreturn]] void unsupported(const std::string& what) const { regex_error(p_, i_, what, true); }

 protected:
  bool eof() const { return i_ >= p_.size(); }
  char cur() const { return p_[i_]; }
  uint32_t next_cp();
  static uint32_t hexval(char c);
  uint32_t hex_digits(size_t max_digits, bool braces);
  // A code-point escape (after the backslash), shared by atoms and classes; false if `c` is not one.
  bool char_escape(char c, bool in_class, uint32_t& cp);
  // \d \s \w \h and their negations, \p{..}: appended to `cc` as items. False if `c` is not a class escape.
  bool class_escape(char c, CharClass& cc);
  ClassItem property(bool negate);
  // After '[': parses up to the matching ']'.
  CharClass bracket();
  void posix(CharClass& cc);

  std::string_view p_;
  size_t i_ = 0;
};

}  // namespace pipeline
}  // namespace fastlm
