// Lattice construction, Viterbi, A* n-best and forward-filtering backward-sampling.
#include "core/unigram/lattice.h"

#include <algorithm>
#include <cmath>
#include <queue>

namespace fastlm {
namespace unigram {

namespace {
inline int one_char_len(uint8_t c) { return "\1\1\1\1\1\1\1\1\1\1\1\1\2\2\3\4"[c >> 4]; }

// log(exp(x) + exp(y)); `init` means y is not yet a value.
inline float log_sum_exp(float x, float y, bool init) {
  if (init) return x;
  float vmin = std::min(x, y), vmax = std::max(x, y);
  constexpr float kMinusLogEpsilon = 50.0f;
  if (vmax > vmin + kMinusLogEpsilon) return vmax;
  return vmax + float(std::log(std::exp(double(vmin - vmax)) + 1.0));
}
}  // namespace

Lattice::Lattice(std::string_view s, const PieceTable& t) {
  for (size_t i = 0; i < s.size();) {
    chars_.push_back(uint32_t(i));
    i += std::min<size_t>(size_t(one_char_len(uint8_t(s[i]))), s.size() - i);
  }
  chars_.push_back(uint32_t(s.size()));
  const uint32_t len = uint32_t(chars_.size() - 1);
  begin_.assign(len + 1, {});
  end_.assign(len + 1, {});
  nodes_.push_back(Node{-1, 0, 0, 0.0f});
  nodes_.push_back(Node{-1, len, 0, 0.0f});
  end_[0].push_back(0);
  begin_[len].push_back(1);
  const float unk_score = t.min_score() - kUnkPenalty;
  for (uint32_t pos = 0; pos < len; ++pos) {
    uint32_t b = chars_[pos];
    bool single = false;
    uint32_t endc = pos;  // character index reached so far (lengths arrive in increasing order)
    t.trie().prefixes(s.data() + b, s.size() - b, [&](size_t blen, int32_t id) {
      uint32_t e = b + uint32_t(blen);
      while (chars_[endc] < e) ++endc;
      if (t.is_unused(uint32_t(id))) return;
      uint32_t clen = endc - pos;
      float score = t.is_user_defined(uint32_t(id)) ? float(double(int(clen) - 1) * 0.1) : t.score(uint32_t(id));
      insert(pos, clen, id, score);
      if (clen == 1) single = true;
    });
    if (!single) insert(pos, 1, int32_t(t.unk_id()), unk_score);
  }
}

int32_t Lattice::insert(uint32_t pos, uint32_t len, int32_t id, float score) {
  int32_t k = int32_t(nodes_.size());
  nodes_.push_back(Node{id, pos, len, score});
  begin_[pos].push_back(k);
  end_[pos + len].push_back(k);
  return k;
}

std::vector<int32_t> Lattice::viterbi() {
  const uint32_t len = uint32_t(num_chars());
  for (uint32_t pos = 0; pos <= len; ++pos) {
    for (int32_t r : begin_[pos]) {
      Node& rn = nodes_[size_t(r)];
      float best = 0.0f;
      int32_t best_node = -1;
      for (int32_t l : end_[pos]) {
        float sc = nodes_[size_t(l)].backtrace + rn.score;
        if (best_node < 0 || sc > best) {
          best = sc;
          best_node = l;
        }
      }
      rn.prev = best_node;
      rn.backtrace = best;
    }
  }
  std::vector<int32_t> path;
  for (int32_t k = nodes_[1].prev; k > 0 && k != 0; k = nodes_[size_t(k)].prev) path.push_back(k);
  std::reverse(path.begin(), path.end());
  return path;
}

std::vector<std::pair<std::vector<int32_t>, float>> Lattice::nbest(size_t n) {
  std::vector<std::pair<std::vector<int32_t>, float>> results;
  if (n < 1) return results;
  if (n == 1) {
    auto p = viterbi();
    results.emplace_back(p, nodes_[1].backtrace);
    return results;
  }
  // A* from EOS backwards: g = exact score of the suffix, h = Viterbi score of the best prefix (backtrace).
  struct Hyp {
    int32_t node;
    int32_t next;  // index into hyps, -1 at EOS
    float fx;
    float gx;
  };
  std::vector<Hyp> hyps;
  hyps.reserve(512);
  struct Cmp {
    const std::vector<Hyp>* h;
    bool operator()(int32_t a, int32_t b) const { return (*h)[size_t(a)].fx < (*h)[size_t(b)].fx; }
  };
  Cmp cmp{&hyps};
  using Agenda = std::priority_queue<int32_t, std::vector<int32_t>, Cmp>;
  Agenda agenda(cmp);
  viterbi();
  hyps.push_back(Hyp{1, -1, nodes_[1].backtrace, 0.0f});
  agenda.push(0);
  constexpr size_t kMaxAgenda = 10000, kMinAgenda = 512;
  while (!agenda.empty()) {
    int32_t top = agenda.top();
    agenda.pop();
    const Hyp th = hyps[size_t(top)];
    if (th.node == 0) {  // reached BOS
      std::vector<int32_t> path;
      for (int32_t h = th.next; h >= 0 && hyps[size_t(h)].next >= 0; h = hyps[size_t(h)].next)
        path.push_back(hyps[size_t(h)].node);
      results.emplace_back(std::move(path), th.fx);
      if (results.size() == n) break;
      continue;
    }
    const Node& node = nodes_[size_t(th.node)];
    for (int32_t l : end_[node.pos]) {
      const Node& ln = nodes_[size_t(l)];
      hyps.push_back(Hyp{l, top, ln.backtrace + th.gx, ln.score + th.gx});
      agenda.push(int32_t(hyps.size() - 1));
    }
    if (agenda.size() >= kMaxAgenda) {
      // Keep the best hypotheses only (long or repetitive inputs would otherwise blow up the agenda).
      Agenda kept(cmp);
      size_t keep = std::min(kMinAgenda, n * 10);
      for (size_t i = 0; i < keep; ++i) {
        kept.push(agenda.top());
        agenda.pop();
      }
      agenda = std::move(kept);
    }
  }
  return results;
}

std::vector<float> Lattice::forward(float theta) const {
  const uint32_t len = uint32_t(num_chars());
  std::vector<float> alpha(nodes_.size(), 0.0f);
  for (uint32_t pos = 0; pos <= len; ++pos)
    for (int32_t r : begin_[pos]) {
      bool first = true;
      for (int32_t l : end_[pos]) {
        alpha[size_t(r)] =
            log_sum_exp(theta * nodes_[size_t(l)].score + alpha[size_t(l)], alpha[size_t(r)], first);
        first = false;
      }
    }
  return alpha;
}

std::vector<int32_t> Lattice::sample(float theta, std::mt19937& rng) const {
  std::vector<float> alpha = forward(theta);
  std::vector<int32_t> out;
  std::vector<double> probs;
  float z = alpha[1];
  int32_t node = 1;
  while (true) {
    const auto& ends = end_[nodes_[size_t(node)].pos];
    probs.clear();
    for (int32_t l : ends)
      probs.push_back(std::exp(double(alpha[size_t(l)] + theta * nodes_[size_t(l)].score - z)));
    std::discrete_distribution<size_t> dist(probs.begin(), probs.end());
    node = ends[dist(rng)];
    if (node == 0) break;
    z = alpha[size_t(node)];
    out.push_back(node);
  }
  std::reverse(out.begin(), out.end());
  return out;
}

}  // namespace unigram
}  // namespace fastlm
