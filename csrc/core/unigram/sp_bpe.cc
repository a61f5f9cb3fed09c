#include "core/unigram/sp_bpe.h"

#include <algorithm>
#include <queue>
#include <string>
#include <unordered_map>

namespace fastlm {
namespace unigram {

namespace {
inline size_t one_char_len(uint8_t c) { return size_t("\1\1\1\1\1\1\1\1\1\1\1\1\2\2\3\4"[c >> 4]); }

struct Sym {
  uint32_t begin;
  uint32_t len;  // 0 once merged into its left neighbour
  int32_t prev;
  int32_t next;
  bool freeze;
};

struct Cand {
  float score;
  uint32_t left;
  uint32_t right;
  uint32_t size;
  // priority_queue pops the largest: higher score first, then the smaller left index.
  bool operator<(const Cand& o) const { return score < o.score || (score == o.score && left > o.left); }
};
}  // namespace

SpBpeModel::SpBpeModel(std::shared_ptr<const PieceTable> table) : t_(std::move(table)) {
  std::vector<std::pair<std::string, int32_t>> keys;
  for (auto& u : t_->user_defined()) keys.emplace_back(u, 0);
  if (!keys.empty()) {
    user_.build(std::move(keys));
    has_user_ = true;
  }
  for (auto& p : t_->pieces())
    if (p.type == sp::kUnused) has_unused_ = true;
}

void SpBpeModel::encode(std::string_view s, std::vector<Tok>& out) const {
  const size_t n = s.size();
  if (n == 0) return;
  const PieceTable& t = *t_;
  thread_local std::vector<Sym> sym;
  sym.clear();
  for (size_t i = 0; i < n;) {
    size_t len = 0;
    bool freeze = false;
    if (has_user_ && user_.has_first_byte(uint8_t(s[i]))) {
      int32_t v;
      len = user_.longest_prefix(s.data() + i, n - i, v);
      freeze = len > 0;
    }
    if (!len) len = std::min(one_char_len(uint8_t(s[i])), n - i);
    int32_t k = int32_t(sym.size());
    sym.push_back(Sym{uint32_t(i), uint32_t(len), k - 1, -1, freeze});
    i += len;
    if (i < n) sym.back().next = k + 1;
  }
  std::priority_queue<Cand> agenda;
  std::unordered_map<std::string_view, std::pair<std::string_view, std::string_view>> rev;
  auto try_pair = [&](int32_t l, int32_t r) {
    if (l < 0 || r < 0 || sym[size_t(l)].freeze || sym[size_t(r)].freeze) return;
    const Sym& a = sym[size_t(l)];
    const Sym& b = sym[size_t(r)];
    std::string_view piece(s.data() + a.begin, a.len + b.len);
    int32_t id = t.trie().find(piece);
    if (id < 0) return;
    agenda.push(Cand{t.score(uint32_t(id)), uint32_t(l), uint32_t(r), a.len + b.len});
    if (has_unused_ && t.is_unused(uint32_t(id)))
      rev[piece] = {std::string_view(s.data() + a.begin, a.len), std::string_view(s.data() + b.begin, b.len)};
  };
  for (size_t i = 1; i < sym.size(); ++i) try_pair(int32_t(i - 1), int32_t(i));
  while (!agenda.empty()) {
    Cand c = agenda.top();
    agenda.pop();
    Sym& a = sym[c.left];
    Sym& b = sym[c.right];
    if (a.len == 0 || b.len == 0 || a.len + b.len != c.size) continue;
    a.len += b.len;
    a.next = b.next;
    if (b.next >= 0) sym[size_t(b.next)].prev = int32_t(c.left);
    b.len = 0;
    try_pair(a.prev, int32_t(c.left));
    try_pair(int32_t(c.left), sym[c.left].next);
  }
  // Emit, splitting UNUSED pieces back into their halves.
  auto emit = [&](auto&& self, std::string_view w) -> void {
    int32_t id = t.find(w);
    uint32_t begin = uint32_t(w.data() - s.data());
    if (id < 0 || !t.is_unused(uint32_t(id)) || !has_unused_) {
      out.push_back(Tok{begin, begin + uint32_t(w.size()), id < 0 ? t.unk_id() : uint32_t(id)});
      return;
    }
    auto it = rev.find(w);
    if (it == rev.end()) {
      out.push_back(Tok{begin, begin + uint32_t(w.size()), uint32_t(id)});
      return;
    }
    self(self, it->second.first);
    self(self, it->second.second);
  };
  for (int32_t k = 0; k >= 0; k = sym[size_t(k)].next) emit(emit, std::string_view(s.data() + sym[size_t(k)].begin, sym[size_t(k)].len));
}

}  // namespace unigram
}  // namespace fastlm
