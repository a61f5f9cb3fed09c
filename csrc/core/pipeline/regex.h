// A regex engine for the patterns of tokenizer.json files (Split pre-tokenizers, Replace normalizers and decoders).
//
// Why an engine in the core: the general pipeline runs on C++ threads with the GIL released, like every other
// encoder, so a pattern cannot be handed to Python's `regex` module (that would serialize encode_batch on the GIL
// and make every piece a Python call). And the files are written for the reference's engine, Oniguruma with Ruby
// syntax, whose dialect differs from Python's in ways tokenizers rely on: `X{1,3}+` is a repetition of the
// interval (not a possessive interval), `^`/`$` are line anchors, and \w \s \d \p{..} use Oniguruma's own Unicode
// data. The class data here is measured through the reference (tools/gen_pipeline_unicode.py).
// Rejected alternative: keeping the Python `regex` step of the custom-pattern BPE path (formats/patterns.py); it is
// right for tiktoken's dialect, not for tokenizer.json, and it holds the GIL.
//
// Semantics: leftmost-first backtracking (Perl/Oniguruma priority: alternatives in order, greedy quantifiers try
// the longest first). Supported: literals and escapes (\t \n \r \f \v \a \e \0 \xHH \x{H..} \uHHHH, escaped
// punctuation), `.`, classes [...] with ranges, negation and the escapes below, \d \D \s \S \w \W \h \H,
// \p{..} \P{..} \p{^..} for general categories (L, Lu, Letter, ...) and scripts (Han, Latin, ...), POSIX
// brackets [[:alpha:]] etc., anchors ^ $ \A \z \Z \b \B, groups (...) (?:...) (?<name>...), inline options
// (?i) (?m) (?i:...) (?-i:...), lookahead (?=...) (?!...), bounded lookbehind (?<=...) (?<!...), atomic groups
// (?>...), quantifiers * + ? {n} {n,} {n,m} {,m} with lazy (?) and possessive (*+ ++ ?+) forms.
// Anything else (backreferences, conditionals, class intersections, unbounded lookbehind, \X, \R, \G, \K)
// raises ValueError naming the construct and its position: never a silently different match.
//
// Cost: patterns of tokenizer files are alternations of simple runs; each match attempt costs the length of the
// match times the pattern's nesting, and the search resumes after each match, so splitting text is linear. The
// backtracking stack grows with the length of a greedy run (memory proportional to the input piece).
#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace fastlm {
namespace pipeline {

struct RegexProgram;  // compiled form (regex.cc)

class Regex {
 public:
  // Compiles a pattern of the reference's dialect. Throws ValueError for what is unsupported or malformed.
  explicit Regex(std::string_view pattern);
  // A pattern that matches the string `s` literally (the reference's String patterns).
  static Regex literal(std::string_view s);
  ~Regex();
  Regex(Regex&&) noexcept;
  Regex& operator=(Regex&&) noexcept;
  Regex(const Regex&) = delete;
  Regex& operator=(const Regex&) = delete;

  // The leftmost match that starts at or after `from`: true and [mb, me).
  bool search(std::string_view s, size_t from, size_t& mb, size_t& me) const;
  // Every match, left to right, as the reference's find_iter: after a match the search resumes at its end, or one
  // character later after an empty match. Appends [begin, end) byte pairs.
  void find_all(std::string_view s, std::vector<std::pair<uint32_t, uint32_t>>& out) const;
  const std::string& pattern() const { return pattern_; }
  bool is_literal() const { return !prog_; }

 private:
  Regex() = default;
  std::string pattern_;
  std::string literal_;                  // when the pattern is a plain string
  std::unique_ptr<RegexProgram> prog_;   // null for literals
};

}  // namespace pipeline
}  // namespace fastlm
