// Per-code-point data of the general pipeline (generated: tools/gen_pipeline_unicode.py): the regex classes the
// reference's engine uses (general category, \w \s \d, scripts), StripAccents, NFD/NFKD decompositions, canonical
// combining classes and composition, and the grapheme cluster properties of UAX #29 (for the Precompiled
// normalizer). Lookups are two array reads.
#pragma once
#include <cstdint>
#include <string_view>

namespace fastlm {
namespace pipeline {

struct UProps {
  uint8_t gc;        // unicode::GC order
  uint8_t flags;     // kUWord | kUSpace | kUDigit | kUStrip | kUExtPict
  uint8_t ccc;       // canonical combining class
  uint8_t gcb;       // grapheme break class (low 4 bits) | Indic_Conjunct_Break << 4
  uint8_t script;    // index into script_name(), 0 = other
  uint8_t nfd_len;   // 0: the character decomposes to itself
  uint8_t nfkd_len;
  uint32_t nfd_off;  // into decomposition_pool()
  uint32_t nfkd_off;
};

enum : uint8_t { kUWord = 1, kUSpace = 2, kUDigit = 4, kUStrip = 8, kUExtPict = 16 };
enum Gcb : uint8_t {
  kGOther, kGCR, kGLF, kGControl, kGExtend, kGZWJ, kGRI, kGPrepend, kGSpacingMark, kGL, kGV, kGT, kGLV, kGLVT
};
enum InCB : uint8_t { kInNone, kInLinker, kInConsonant, kInExtend };

const UProps& uprops(uint32_t cp);  // any value; kInvalid and out-of-range get an empty record
const uint32_t* decomposition_pool();
// Canonical composition of (a, b), Hangul included; 0 if they do not compose.
uint32_t compose_pair(uint32_t a, uint32_t b);
// Script id by Oniguruma name ("Han", "Latin", ...); -1 if unknown.
int script_id(std::string_view name);

// True if there is an extended grapheme cluster boundary between the code points prev and cur, given the state
// of the cluster so far (UAX #29 rules GB3-GB13; `ri_count` counts the regional indicators before cur,
// `emoji` is GB11's "Extended_Pictographic Extend*" state, `incb` GB9c's state).
struct GraphemeState {
  uint32_t ri_count = 0;
  bool emoji = false;       // the cluster ends with ExtPict Extend*
  bool emoji_zwj = false;   // ... with ExtPict Extend* ZWJ
  uint8_t incb = 0;         // 0 none, 1 consonant [extend|linker]*, 2 ... with a linker
};
bool grapheme_break(uint32_t prev, uint32_t cur, GraphemeState& st);

}  // namespace pipeline
}  // namespace fastlm
