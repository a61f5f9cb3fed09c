// The backtracking matcher of the regex engine (regex.h) and the search API.
//
// The machine runs one program from one start position: a stack of (pc, position) alternatives and register
// restores; SPLIT pushes the second branch, a failure pops. Lookaround and atomic bodies run as nested machines
// over the same stack (above a base index), so what they leave behind is discarded when they return: an atomic
// group keeps only its first match, as in Oniguruma. Scratch space is per thread.
#include "core/pipeline/regex.h"

#include <cstring>

#include "core/error.h"
#include "core/pipeline/normstr.h"
#include "core/pipeline/regex_impl.h"
#include "core/pipeline/uprops.h"

namespace fastlm {
namespace pipeline {

namespace {

constexpr size_t kNpos = ~size_t(0);

struct Frame {
  uint32_t pc;    // kRestore: register index
  uint32_t kind;  // 0 = alternative (pc, pos), 1 = register restore (pc = register, pos = old value)
  size_t pos;
};

struct Scratch {
  std::vector<Frame> stack;
  std::vector<size_t> regs;
};

Scratch& scratch() {
  thread_local Scratch s;
  return s;
}

inline bool is_word_at(const unsigned char* s, size_t n, size_t pos) {
  if (pos >= n) return false;
  uint32_t cp;
  unicode::decode(s + pos, s + n, cp);
  return cp != unicode::kInvalid && (uprops(cp).flags & kUWord);
}
inline bool is_word_before(const unsigned char* s, size_t pos) {
  if (pos == 0) return false;
  size_t b = pos - 1;
  while (b > 0 && (s[b] & 0xC0) == 0x80 && pos - b < 4) --b;
  uint32_t cp;
  int len = unicode::decode(s + b, s + pos, cp);
  if (b + size_t(len) != pos) cp = unicode::kInvalid;
  return cp != unicode::kInvalid && (uprops(cp).flags & kUWord);
}
// Start of the character that ends at pos (pos > 0).
inline size_t prev_char(const unsigned char* s, size_t pos) {
  size_t b = pos - 1;
  while (b > 0 && (s[b] & 0xC0) == 0x80 && pos - b < 4) --b;
  uint32_t cp;
  int len = unicode::decode(s + b, s + pos, cp);
  return b + size_t(len) == pos ? b : pos - 1;
}

class Machine {
 public:
  Machine(const RegexProgram& p, const unsigned char* s, size_t n) : p_(p), s_(s), n_(n), sc_(scratch()) {
    if (sc_.regs.size() < p.num_regs) sc_.regs.resize(p.num_regs);
  }

  // Runs from pc at pos; on success sets end. required_end != kNpos: MATCH only counts at that position.
  bool run(uint32_t pc, size_t pos, size_t& end, size_t required_end) {
    std::vector<Frame>& st = sc_.stack;
    const size_t base = st.size();
    const Inst* code = p_.code.data();
    for (;;) {
      const Inst& in = code[pc];
      bool ok = true;
      switch (in.op) {
        case kOpChar: {
          if (pos >= n_) {
            ok = false;
            break;
          }
          if (in.x < 0x80) {
            ok = s_[pos] == in.x;
            pos += 1;
          } else {
            uint32_t cp;
            int len = unicode::decode(s_ + pos, s_ + n_, cp);
            ok = cp == in.x;
            pos += size_t(len);
          }
          ++pc;
          break;
        }
        case kOpCharI: {
          if (pos >= n_) {
            ok = false;
            break;
          }
          uint32_t cp;
          int len = unicode::decode(s_ + pos, s_ + n_, cp);
          ok = cp != unicode::kInvalid && simple_fold(cp) == in.x;
          pos += size_t(len);
          ++pc;
          break;
        }
        case kOpClass: {
          if (pos >= n_) {
            ok = false;
            break;
          }
          uint32_t cp;
          int len;
          if (s_[pos] < 0x80) {
            cp = s_[pos];
            len = 1;
          } else {
            len = unicode::decode(s_ + pos, s_ + n_, cp);
          }
          const CharClass& cc = p_.classes[in.x];
          ok = cp == unicode::kInvalid ? cc.test_full(cp) : cc.matches(cp);
          pos += size_t(len);
          ++pc;
          break;
        }
        case kOpAny:
        case kOpAnyNl: {
          if (pos >= n_ || (in.op == kOpAny && s_[pos] == '\n')) {
            ok = false;
            break;
          }
          uint32_t cp;
          pos += size_t(unicode::decode(s_ + pos, s_ + n_, cp));
          ++pc;
          break;
        }
        case kOpAssert:
          ok = check_assert(AssertKind(in.x), pos);
          ++pc;
          break;
        case kOpSplit:
          st.push_back({in.y, 0, pos});
          pc = in.x;
          break;
        case kOpJmp:
          pc = in.x;
          break;
        case kOpSave:
          st.push_back({in.x, 1, sc_.regs[in.x]});
          sc_.regs[in.x] = pos;
          ++pc;
          break;
        case kOpCheck:
          ok = sc_.regs[in.x] != pos;
          ++pc;
          break;
        case kOpMatch:
          if (required_end != kNpos && pos != required_end) {
            ok = false;
            break;
          }
          end = pos;
          unwind(base);
          return true;
        case kOpLook: {
          bool found;
          size_t e;
          if (in.flags & 2) {  // behind: try every start lo..hi characters back, ending exactly at pos
            found = false;
            size_t b = pos;
            for (uint32_t k = 0; k <= in.hi && !found; ++k) {
              if (k >= in.lo) found = run(in.x, b, e, pos);
              if (b == 0) break;
              b = prev_char(s_, b);
            }
          } else {
            found = run(in.x, pos, e, kNpos);
          }
          ok = found != bool(in.flags & 1);
          pc = in.y;
          break;
        }
        case kOpAtomic: {
          size_t e;
          ok = run(in.x, pos, e, kNpos);
          if (ok) pos = e;
          pc = in.y;
          break;
        }
      }
      if (ok) continue;
      // backtrack
      for (;;) {
        if (st.size() <= base) return false;
        Frame f = st.back();
        st.pop_back();
        if (f.kind == 1) {
          sc_.regs[f.pc] = f.pos;
          continue;
        }
        pc = f.pc;
        pos = f.pos;
        break;
      }
    }
  }

 private:
  void unwind(size_t base) {
    std::vector<Frame>& st = sc_.stack;
    while (st.size() > base) {
      const Frame& f = st.back();
      if (f.kind == 1) sc_.regs[f.pc] = f.pos;
      st.pop_back();
    }
  }
  bool check_assert(AssertKind k, size_t pos) const {
    switch (k) {
      case kBol: return pos == 0 || s_[pos - 1] == '\n';
      case kEol: return pos == n_ || s_[pos] == '\n';
      case kBos: return pos == 0;
      case kEos: return pos == n_;
      case kEosNl: return pos == n_ || (pos + 1 == n_ && s_[pos] == '\n');
      case kWordB: return is_word_before(s_, pos) != is_word_at(s_, n_, pos);
      case kNotWordB: return is_word_before(s_, pos) == is_word_at(s_, n_, pos);
    }
    return false;
  }

  const RegexProgram& p_;
  const unsigned char* s_;
  size_t n_;
  Scratch& sc_;
};

}  // namespace

Regex::Regex(std::string_view pattern) : pattern_(pattern), prog_(new RegexProgram) {
  compile_regex(pattern, *prog_);
}

Regex Regex::literal(std::string_view s) {
  Regex r;
  r.pattern_ = std::string(s);
  r.literal_ = std::string(s);
  return r;
}

Regex::~Regex() = default;
Regex::Regex(Regex&&) noexcept = default;
Regex& Regex::operator=(Regex&&) noexcept = default;

bool Regex::search(std::string_view s, size_t from, size_t& mb, size_t& me) const {
  if (!prog_) {
    if (literal_.empty()) return false;
    size_t at = s.find(literal_, from);
    if (at == std::string_view::npos) return false;
    mb = at;
    me = at + literal_.size();
    return true;
  }
  const auto* b = reinterpret_cast<const unsigned char*>(s.data());
  Machine m(*prog_, b, s.size());
  scratch().stack.clear();
  for (size_t pos = from; pos <= s.size();) {
    size_t e;
    if (m.run(0, pos, e, kNpos)) {
      mb = pos;
      me = e;
      return true;
    }
    if (prog_->anchored_start || pos == s.size()) break;
    int len;
    char_at(s, pos, len);
    pos += size_t(len);
  }
  return false;
}

void Regex::find_all(std::string_view s, std::vector<std::pair<uint32_t, uint32_t>>& out) const {
  // The reference's iterator: an empty match right where the previous match ended is not reported; the search
  // then resumes one character later.
  size_t from = 0;
  size_t last_end = kNpos;
  while (from <= s.size()) {
    size_t b, e;
    if (!search(s, from, b, e)) break;
    if (b == e && e == last_end) {
      if (from >= s.size()) break;
      int len;
      char_at(s, from, len);
      from += size_t(len);
      continue;
    }
    out.emplace_back(uint32_t(b), uint32_t(e));
    from = e;
    last_end = e;
  }
}

}  // namespace pipeline
}  // namespace fastlm
