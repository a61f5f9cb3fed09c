// Internals of the regex engine (regex.h): character classes, the instruction set, and the compiler entry point.
#pragma once
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace fastlm {
namespace pipeline {

// One item of a class: a code point range, or a property (general categories, \w \s \d, a script), each possibly
// negated (\P{L}, \W inside [...]).
struct ClassItem {
  enum Kind : uint8_t { kRange, kGc, kFlag, kScript, kAnyChar } kind;
  bool negate = false;
  uint32_t lo = 0, hi = 0;  // kRange
  uint32_t gc_mask = 0;     // kGc: bit per unicode::GC
  uint8_t flag = 0;         // kFlag: kUWord / kUSpace / kUDigit
  uint8_t script = 0;       // kScript
};

struct CharClass {
  std::vector<ClassItem> items;
  bool negate = false;
  bool icase = false;
  std::vector<uint64_t> bmp;  // membership bitmap of U+0000..U+FFFF, filled by finalize()

  bool test_raw(uint32_t cp) const;  // items and negation, no case folding, no bitmap
  void finalize();
  bool matches(uint32_t cp) const {
    if (cp < 0x10000) return (bmp[cp >> 6] >> (cp & 63)) & 1;
    return test_full(cp);
  }
  bool test_full(uint32_t cp) const;  // with case folding
};

enum Op : uint8_t {
  kOpChar,      // x = code point
  kOpCharI,     // x = folded code point (case-insensitive)
  kOpClass,     // x = class index
  kOpAny,       // any character but \n
  kOpAnyNl,     // any character
  kOpAssert,    // x = AssertKind
  kOpSplit,     // try x, then y
  kOpJmp,       // x
  kOpMatch,
  kOpLook,      // x = sub-program start, y = next; flags: bit0 negate, bit1 behind; lo/hi = char lengths (behind)
  kOpAtomic,    // x = sub-program start, y = next
  kOpSave,      // x = register: remember the position (loop entry)
  kOpCheck,     // x = register: fail if the position did not move since kOpSave (empty-loop guard)
};
enum AssertKind : uint32_t { kBol, kEol, kBos, kEos, kEosNl, kWordB, kNotWordB };

struct Inst {
  Op op;
  uint8_t flags = 0;
  uint32_t x = 0, y = 0;
  uint32_t lo = 0, hi = 0;
};

struct RegexProgram {
  std::vector<Inst> code;      // main program at 0; sub-programs (lookaround / atomic bodies) after it
  std::vector<CharClass> classes;
  uint32_t num_regs = 0;
  bool anchored_start = false;  // begins with \A: only position 0 can match
};

// Syntax tree of a parsed pattern (regex_parse.cc), compiled to instructions by regex_compile.cc.
struct Ast {
  enum K : uint8_t { kEmpty, kChar, kClass, kAny, kAssert, kCat, kAlt, kRepeat, kLook, kAtomic } k = kEmpty;
  uint32_t v = 0;  // code point / class index / AssertKind
  bool icase = false, dotall = false;
  std::vector<int> kids;
  int min = 0, max = 0;  // kRepeat (max -1: unbounded)
  bool greedy = true, possessive = false;
  bool negate = false, behind = false;  // kLook
};


// Parses `pattern` into nodes; classes go to prog.classes. Returns the root node. Throws ValueError.
int parse_regex(std::string_view pattern, RegexProgram& prog, std::vector<Ast>& nodes);
// Parses and compiles `pattern`; throws ValueError.
void compile_regex(std::string_view pattern, RegexProgram& prog);
// \p{name}: general categories (short and long names), Digit / Space / Word / Any, and scripts. False if unknown.
bool regex_named_class(std::string_view name, ClassItem& it);
[[noreturn]] void regex_error(std::string_view pattern, size_t at, const std::string& what, bool unsupported);

uint32_t simple_fold(uint32_t cp);  // lowercase when it is one code point, else cp

}  // namespace pipeline
}  // namespace fastlm
