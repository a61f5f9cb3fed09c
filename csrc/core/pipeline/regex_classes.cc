// Character classes of the regex engine: membership (items, negation, case folding, a BMP bitmap), and the
// names \p{..} accepts.
#include <cctype>
#include <string>

#include "core/normalize.h"
#include "core/pipeline/regex_impl.h"
#include "core/pipeline/uprops.h"
#include "core/unicode.h"

namespace fastlm {
namespace pipeline {

uint32_t simple_fold(uint32_t cp) {
  if (cp < 128) return (cp >= 'A' && cp <= 'Z') ? cp + 32 : cp;
  if (cp >= 0x110000) return cp;
  const norm::NormRecord& r = norm::record(cp);
  const uint32_t* m;
  int n = norm::map_char(r, false, true, &cp, &m);
  return n == 1 ? m[0] : cp;
}

bool CharClass::test_raw(uint32_t cp) const {
  bool in = false;
  if (cp != unicode::kInvalid) {
    const UProps& u = uprops(cp);
    for (const ClassItem& it : items) {
      bool m;
      switch (it.kind) {
        case ClassItem::kRange: m = cp >= it.lo && cp <= it.hi; break;
        case ClassItem::kGc: m = (it.gc_mask >> u.gc) & 1; break;
        case ClassItem::kFlag: m = (u.flags & it.flag) != 0; break;
        case ClassItem::kScript: m = u.script == it.script; break;
        default: m = true; break;
      }
      if (m != it.negate) {
        in = true;
        break;
      }
    }
  }
  return in != negate;
}

bool CharClass::test_full(uint32_t cp) const {
  if (test_raw(cp)) return true;
  if (!icase || cp == unicode::kInvalid) return false;
  // Case-insensitive: the class matches cp if it matches its simple lowercase or, for ASCII, its uppercase.
  // (Full Unicode case closure is not modelled; tokenizer patterns use (?i) on ASCII contractions.)
  uint32_t f = simple_fold(cp);
  if (f != cp && test_raw(f)) return true;
  if (cp >= 'a' && cp <= 'z' && test_raw(cp - 32)) return true;
  return false;
}

void CharClass::finalize() {
  bmp.assign(0x10000 / 64, 0);
  for (uint32_t cp = 0; cp < 0x10000; ++cp)
    if (test_full(cp)) bmp[cp >> 6] |= uint64_t(1) << (cp & 63);
}

namespace {

std::string canon(std::string_view s) {
  std::string o;
  for (char c : s)
    if (c != '_' && c != ' ' && c != '-') o.push_back(char(std::tolower(static_cast<unsigned char>(c))));
  return o;
}

}  // namespace

bool regex_named_class(std::string_view name, ClassItem& it) {
  using namespace unicode;
  static const struct {
    const char* n;
    uint32_t mask;
  } kGcs[] = {
      {"l", (1u << Lu) | (1u << Ll) | (1u << Lt) | (1u << Lm) | (1u << Lo)},
      {"letter", (1u << Lu) | (1u << Ll) | (1u << Lt) | (1u << Lm) | (1u << Lo)},
      {"lu", 1u << Lu}, {"uppercaseletter", 1u << Lu}, {"ll", 1u << Ll}, {"lowercaseletter", 1u << Ll},
      {"lt", 1u << Lt}, {"titlecaseletter", 1u << Lt}, {"lm", 1u << Lm}, {"modifierletter", 1u << Lm},
      {"lo", 1u << Lo}, {"otherletter", 1u << Lo}, {"lc", (1u << Lu) | (1u << Ll) | (1u << Lt)},
      {"casedletter", (1u << Lu) | (1u << Ll) | (1u << Lt)},
      {"m", (1u << Mn) | (1u << Mc) | (1u << Me)}, {"mark", (1u << Mn) | (1u << Mc) | (1u << Me)},
      {"combiningmark", (1u << Mn) | (1u << Mc) | (1u << Me)},
      {"mn", 1u << Mn}, {"nonspacingmark", 1u << Mn}, {"mc", 1u << Mc}, {"spacingmark", 1u << Mc},
      {"me", 1u << Me}, {"enclosingmark", 1u << Me},
      {"n", (1u << Nd) | (1u << Nl) | (1u << No)}, {"number", (1u << Nd) | (1u << Nl) | (1u << No)},
      {"nd", 1u << Nd}, {"decimalnumber", 1u << Nd}, {"nl", 1u << Nl}, {"letternumber", 1u << Nl},
      {"no", 1u << No}, {"othernumber", 1u << No},
      {"p", (1u << Pc) | (1u << Pd) | (1u << Ps) | (1u << Pe) | (1u << Pi) | (1u << Pf) | (1u << Po)},
      {"punctuation", (1u << Pc) | (1u << Pd) | (1u << Ps) | (1u << Pe) | (1u << Pi) | (1u << Pf) | (1u << Po)},
      {"pc", 1u << Pc}, {"connectorpunctuation", 1u << Pc}, {"pd", 1u << Pd}, {"dashpunctuation", 1u << Pd},
      {"ps", 1u << Ps}, {"openpunctuation", 1u << Ps}, {"pe", 1u << Pe}, {"closepunctuation", 1u << Pe},
      {"pi", 1u << Pi}, {"initialpunctuation", 1u << Pi}, {"pf", 1u << Pf}, {"finalpunctuation", 1u << Pf},
      {"po", 1u << Po}, {"otherpunctuation", 1u << Po},
      {"s", (1u << Sm) | (1u << Sc) | (1u << Sk) | (1u << So)},
      {"symbol", (1u << Sm) | (1u << Sc) | (1u << Sk) | (1u << So)},
      {"sm", 1u << Sm}, {"mathsymbol", 1u << Sm}, {"sc", 1u << Sc}, {"currencysymbol", 1u << Sc},
      {"sk", 1u << Sk}, {"modifiersymbol", 1u << Sk}, {"so", 1u << So}, {"othersymbol", 1u << So},
      {"z", (1u << Zs) | (1u << Zl) | (1u << Zp)}, {"separator", (1u << Zs) | (1u << Zl) | (1u << Zp)},
      {"zs", 1u << Zs}, {"spaceseparator", 1u << Zs}, {"zl", 1u << Zl}, {"lineseparator", 1u << Zl},
      {"zp", 1u << Zp}, {"paragraphseparator", 1u << Zp},
      {"c", (1u << Cc) | (1u << Cf) | (1u << Cs) | (1u << Co) | (1u << Cn)},
      {"other", (1u << Cc) | (1u << Cf) | (1u << Cs) | (1u << Co) | (1u << Cn)},
      {"cc", 1u << Cc}, {"control", 1u << Cc}, {"cntrl", 1u << Cc}, {"cf", 1u << Cf}, {"format", 1u << Cf},
      {"co", 1u << Co}, {"privateuse", 1u << Co}, {"cn", 1u << Cn}, {"unassigned", 1u << Cn},
      {"cs", 1u << Cs}, {"surrogate", 1u << Cs},
  };
  std::string c = canon(name);
  for (const auto& g : kGcs)
    if (c == g.n) {
      it.kind = ClassItem::kGc;
      it.gc_mask = g.mask;
      return true;
    }
  if (c == "digit") {
    it.kind = ClassItem::kFlag;
    it.flag = kUDigit;
    return true;
  }
  if (c == "space") {
    it.kind = ClassItem::kFlag;
    it.flag = kUSpace;
    return true;
  }
  if (c == "word") {
    it.kind = ClassItem::kFlag;
    it.flag = kUWord;
    return true;
  }
  if (c == "any") {
    it.kind = ClassItem::kAnyChar;
    return true;
  }
  std::string sc(name);
  for (auto& ch : sc) ch = ch == ' ' ? '_' : ch;
  int id = script_id(sc);
  if (id < 0 && !sc.empty()) {  // Oniguruma accepts any letter case
    std::string t = canon(name);
    if (!t.empty()) t[0] = char(std::toupper(static_cast<unsigned char>(t[0])));
    id = script_id(t);
  }
  if (id > 0) {
    it.kind = ClassItem::kScript;
    it.script = uint8_t(id);
    return true;
  }
  return false;
}


}  // namespace pipeline
}  // namespace fastlm
