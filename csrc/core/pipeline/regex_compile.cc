// Regex compiler: syntax tree -> instructions for the backtracking matcher (regex.cc).
//
// Shapes: X|Y -> SPLIT(X, next) X JMP(end) next: Y; X* -> loop: SPLIT(body, out) body: X JMP(loop); a loop whose
// body can match empty gets SAVE/CHECK on a register so an empty iteration fails instead of spinning;
// X{n,m} -> X n times, then m-n nested optionals; lookaround and atomic bodies are sub-programs after the main
// one, each ending in MATCH. (Rejected: a Pike VM, linear-time for any pattern, but it cannot express atomic
// groups and possessive quantifiers, which the published tokenizer patterns use.)
#include <algorithm>
#include <cctype>
#include <string>

#include "core/pipeline/regex_impl.h"

namespace fastlm {
namespace pipeline {

namespace {

constexpr size_t kMaxCode = 200000;  // instructions: bounds what {n,m} expansion may cost

class Compiler {
 public:
  Compiler(const std::vector<Ast>& nodes, RegexProgram& prog, std::string_view pattern)
      : n_(nodes), prog_(prog), pattern_(pattern) {}

  void compile(int root) {
    emit(root);
    push({kOpMatch});
    // sub-programs (lookaround and atomic bodies), each ending in kOpMatch; they may add more
    for (size_t k = 0; k < pending_.size(); ++k) {
      auto [inst, node] = pending_[k];
      prog_.code[inst].x = uint32_t(prog_.code.size());
      emit(node);
      push({kOpMatch});
    }
  }

 private:
  [[noreturn]] void unsupported(const std::string& what) const { regex_error(pattern_, 0, what, true); }
  size_t push(Inst in) {
    if (prog_.code.size() >= kMaxCode) unsupported("a pattern this large (its repeat counts expand to too much code)");
    prog_.code.push_back(in);
    return prog_.code.size() - 1;
  }
  size_t here() const { return prog_.code.size(); }

  bool nullable(int i) const {
    const Ast& a = n_[size_t(i)];
    switch (a.k) {
      case Ast::kEmpty: case Ast::kAssert: case Ast::kLook: return true;
      case Ast::kChar: case Ast::kClass: case Ast::kAny: return false;
      case Ast::kCat:
        for (int k : a.kids)
          if (!nullable(k)) return false;
        return true;
      case Ast::kAlt:
        for (int k : a.kids)
          if (nullable(k)) return true;
        return false;
      case Ast::kRepeat: return a.min == 0 || nullable(a.kids[0]);
      case Ast::kAtomic: return nullable(a.kids[0]);
    }
    return true;
  }

  // Length in characters: [lo, hi], hi = -1 when unbounded.
  void length(int i, long& lo, long& hi) const {
    const Ast& a = n_[size_t(i)];
    switch (a.k) {
      case Ast::kEmpty: case Ast::kAssert: case Ast::kLook: lo = hi = 0; return;
      case Ast::kChar: case Ast::kClass: case Ast::kAny: lo = hi = 1; return;
      case Ast::kAtomic: length(a.kids[0], lo, hi); return;
      case Ast::kCat: {
        lo = hi = 0;
        for (int k : a.kids) {
          long l, h;
          length(k, l, h);
          lo += l;
          hi = (hi < 0 || h < 0) ? -1 : hi + h;
        }
        return;
      }
      case Ast::kAlt: {
        lo = -2;
        hi = 0;
        for (int k : a.kids) {
          long l, h;
          length(k, l, h);
          lo = lo == -2 ? l : std::min(lo, l);
          hi = (hi < 0 || h < 0) ? -1 : std::max(hi, h);
        }
        return;
      }
      case Ast::kRepeat: {
        long l, h;
        length(a.kids[0], l, h);
        lo = l * a.min;
        hi = (a.max < 0 || h < 0) ? -1 : h * a.max;
        return;
      }
    }
  }

  void emit(int i) {
    const Ast& a = n_[size_t(i)];
    switch (a.k) {
      case Ast::kEmpty: return;
      case Ast::kChar: {
        uint32_t f = simple_fold(a.v);
        bool fold = a.icase && (f != a.v || simple_fold(a.v) != a.v || (a.v < 128 && std::isalpha(int(a.v))));
        push(fold ? Inst{kOpCharI, 0, f} : Inst{kOpChar, 0, a.v});
        return;
      }
      case Ast::kClass: push({kOpClass, 0, a.v}); return;
      case Ast::kAny: push({a.dotall ? kOpAnyNl : kOpAny}); return;
      case Ast::kAssert: push({kOpAssert, 0, a.v}); return;
      case Ast::kCat:
        for (int k : a.kids) emit(k);
        return;
      case Ast::kAlt: {
        std::vector<size_t> to_end;
        for (size_t k = 0; k < a.kids.size(); ++k) {
          if (k + 1 < a.kids.size()) {
            size_t split = push({kOpSplit});
            prog_.code[split].x = uint32_t(here());
            emit(a.kids[k]);
            to_end.push_back(push({kOpJmp}));
            prog_.code[split].y = uint32_t(here());
          } else {
            emit(a.kids[k]);
          }
        }
        for (size_t j : to_end) prog_.code[j].x = uint32_t(here());
        return;
      }
      case Ast::kRepeat: {
        const int x = a.kids[0];
        for (int k = 0; k < a.min; ++k) emit(x);
        if (a.max < 0) {
          bool guard = nullable(x);
          uint32_t reg = guard ? prog_.num_regs++ : 0;
          size_t loop = push({kOpSplit});
          size_t body = here();
          if (guard) push({kOpSave, 0, reg});
          emit(x);
          if (guard) push({kOpCheck, 0, reg});
          push({kOpJmp, 0, uint32_t(loop)});
          size_t out = here();
          prog_.code[loop].x = uint32_t(a.greedy ? body : out);
          prog_.code[loop].y = uint32_t(a.greedy ? out : body);
          return;
        }
        std::vector<size_t> splits;
        for (int k = a.min; k < a.max; ++k) {
          size_t s = push({kOpSplit});
          splits.push_back(s);
          size_t body = here();
          emit(x);
          prog_.code[s].x = uint32_t(body);  // patched below for lazy
        }
        size_t out = here();
        for (size_t s : splits) {
          uint32_t body = prog_.code[s].x;
          prog_.code[s].x = uint32_t(a.greedy ? body : out);
          prog_.code[s].y = uint32_t(a.greedy ? out : body);
        }
        return;
      }
      case Ast::kLook: {
        Inst in{kOpLook};
        in.flags = uint8_t((a.negate ? 1 : 0) | (a.behind ? 2 : 0));
        if (a.behind) {
          long lo, hi;
          length(a.kids[0], lo, hi);
          if (hi < 0) unsupported("a lookbehind of unbounded length");
          in.lo = uint32_t(lo);
          in.hi = uint32_t(hi);
        }
        size_t at = push(in);
        pending_.push_back({at, a.kids[0]});
        prog_.code[at].y = uint32_t(here());
        return;
      }
      case Ast::kAtomic: {
        size_t at = push({kOpAtomic});
        pending_.push_back({at, a.kids[0]});
        prog_.code[at].y = uint32_t(here());
        return;
      }
    }
  }

 private:
  const std::vector<Ast>& n_;
  RegexProgram& prog_;
  std::string_view pattern_;
  std::vector<std::pair<size_t, int>> pending_;
};

}  // namespace

void compile_regex(std::string_view pattern, RegexProgram& prog) {
  std::vector<Ast> nodes;
  int root = parse_regex(pattern, prog, nodes);
  // A possessive repeat X*+ is the atomic group (?>X*): rewrite the node in place over a copy of itself.
  for (size_t i = 0; i < nodes.size(); ++i) {
    if (nodes[i].k == Ast::kRepeat && nodes[i].possessive) {
      Ast inner = nodes[i];
      inner.possessive = false;
      nodes.push_back(inner);
      Ast at;
      at.k = Ast::kAtomic;
      at.kids = {int(nodes.size() - 1)};
      nodes[i] = at;
    }
  }
  for (auto& c : prog.classes) c.finalize();
  Compiler c(nodes, prog, pattern);
  c.compile(root);
  prog.anchored_start = !prog.code.empty() && prog.code[0].op == kOpAssert && prog.code[0].x == kBos;
}

}  // namespace pipeline
}  // namespace fastlm
