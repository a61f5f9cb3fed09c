#include "core/unigram/trainer_em.h"

#include <algorithm>
#include <cmath>
#include <limits>

#include "core/hash.h"
#include "core/parallel.h"
#include "core/unigram/trainer_kernels.h"
#include "core/unicode.h"

namespace fastlm {
namespace unigram {

EmTrainer::EmTrainer(const TrainCorpus& corpus, SeedSet seeds, const UnigramTrainerOptions& opts, int num_threads)
    : c_(corpus), s_(std::move(seeds)), o_(opts), threads_(num_threads) {
  alive_.assign(s_.pos.size(), 1);
  alive_count_ = s_.pos.size();
  prob_.assign(s_.pos.size(), 0.0);
  elen_.resize(s_.edge_piece.size());
  edges_of_.assign(s_.pos.size(), 0);
  for (size_t e = 0; e < elen_.size(); ++e) {
    elen_[e] = s_.len[s_.edge_piece[e]];
    ++edges_of_[s_.edge_piece[e]];
  }
  build_segments();
  refresh();
}

EmTrainer::~EmTrainer() = default;

Scratch& EmTrainer::scratch(size_t t) const {
  while (scratch_.size() <= t) scratch_.push_back(std::make_unique<Scratch>());
  return *scratch_[t];
}

void EmTrainer::build_segments() {
  const uint32_t* text = c_.text.data();
  const uint32_t* eb = s_.edge_begin.data();
  const uint16_t* el = elen_.data();
  // open addressing over (hash, segment index); a stretch is looked up by content
  std::vector<std::pair<uint64_t, uint32_t>> table(1024, {0, UINT32_MAX});
  size_t used = 0;
  auto add = [&](uint32_t off, uint32_t len, uint64_t count) {
    const uint64_t h = hash_bytes(text + off, size_t(len) * sizeof(uint32_t));
    if ((used + 1) * 2 > table.size()) {
      std::vector<std::pair<uint64_t, uint32_t>> old(table.size() * 2, {0, UINT32_MAX});
      old.swap(table);
      for (const auto& x : old)
        if (x.second != UINT32_MAX)
          for (size_t i = x.first & (table.size() - 1);; i = (i + 1) & (table.size() - 1))
            if (table[i].second == UINT32_MAX) {
              table[i] = x;
              break;
            }
    }
    for (size_t i = h & (table.size() - 1);; i = (i + 1) & (table.size() - 1)) {
      auto& x = table[i];
      if (x.second == UINT32_MAX) {
        x = {h, uint32_t(segs_.size())};
        segs_.push_back(Segment{off, len, count});
        ++used;
        return;
      }
      const Segment& g = segs_[x.second];
      if (x.first == h && g.len == len && std::equal(text + off, text + off + len, text + g.off)) {
        segs_[x.second].count += count;
        return;
      }
    }
  };
  for (size_t w = 0; w < c_.num_words(); ++w) {
    const uint32_t b = c_.word_begin[w], n = c_.word_begin[w + 1] - 1 - b;
    uint32_t start = 0, reach = 0;
    for (uint32_t p = 0; p < n; ++p) {
      if (p > start && reach <= p) {  // nothing spans p: a cut
        add(b + start, p - start, c_.word_count[w]);
        start = p;
      }
      uint32_t r = p + 1;
      for (uint32_t e = eb[b + p]; e < eb[b + p + 1]; ++e) r = std::max<uint32_t>(r, p + el[e]);
      reach = std::max(reach, r);
    }
    if (n > start) add(b + start, n - start, c_.word_count[w]);
  }
}

void EmTrainer::kill(uint32_t j) {
  alive_[j] = 0;
  --alive_count_;
  dead_edges_ += edges_of_[j];
}

void EmTrainer::refresh() {
  min_score_ = std::numeric_limits<double>::infinity();
  max_len_ = 1;
  for (size_t j = 0; j < alive_.size(); ++j) {
    if (!alive_[j]) {
      prob_[j] = 0.0;  // edges of dead pieces not yet compacted contribute nothing
      continue;
    }
    min_score_ = std::min(min_score_, s_.score[j]);
    max_len_ = std::max<size_t>(max_len_, s_.len[j]);
    prob_[j] = std::exp(s_.score[j]);
  }
  if (alive_count_ == 0) min_score_ = 0;
  unk_score_ = min_score_ - 10.0;  // sentencepiece's unknown penalty
  unk_prob_ = std::exp(unk_score_);
}

void EmTrainer::compact() {
  std::vector<uint32_t>& eb = s_.edge_begin;
  std::vector<uint32_t>& ep = s_.edge_piece;
  uint32_t w = 0, b = eb[0];
  for (size_t p = 0; p + 1 < eb.size(); ++p) {
    const uint32_t e = eb[p + 1];
    eb[p] = w;
    for (uint32_t k = b; k < e; ++k)
      if (alive_[ep[k]]) {
        elen_[w] = elen_[k];
        ep[w++] = ep[k];
      }
    b = e;
  }
  eb.back() = w;
  ep.resize(w);
  ep.shrink_to_fit();
  elen_.resize(w);
  elen_.shrink_to_fit();
  std::fill(edges_of_.begin(), edges_of_.end(), 0);
  for (uint32_t j : ep) ++edges_of_[j];
  dead_edges_ = 0;
}

void EmTrainer::maybe_compact() {
  if (dead_edges_ * 8 > s_.edge_piece.size()) compact();
}

void EmTrainer::e_step(std::vector<int64_t>& expected) const {
  const size_t W = segs_.size(), S = s_.pos.size(), D = max_len_;
  const int T = resolve_threads(threads_, W);
  std::vector<std::vector<int64_t>> acc(size_t(T), std::vector<int64_t>(S, 0));
  for (int t = 0; t < T; ++t) scratch(size_t(t));
  // Per-edge probabilities (0 for dead pieces not yet compacted), so the passes read edges as streams.
  const uint32_t* ep = s_.edge_piece.data();
  ew_.resize(s_.edge_piece.size());
  for (size_t e = 0; e < ew_.size(); ++e) ew_[e] = prob_[ep[e]];
  const CharModel cm{c_.num_required, alive_.data(), prob_.data(), unk_prob_};
  auto lattice = [&](uint32_t b, uint32_t n) {
    return WordLattice{n, c_.text.data() + b, s_.edge_begin.data() + b, ep, elen_.data(), ew_.data()};
  };
  parallel_for(W, T, [&](int tw, size_t wi) {
    const Segment& g = segs_[wi];
    word_expect(lattice(g.off, g.len), cm, double(g.count), D, *scratch_[size_t(tw)], acc[size_t(tw)].data());
  });
  expected.assign(S, 0);
  for (const auto& a : acc)
    for (size_t j = 0; j < S; ++j) expected[j] += a[j];
}

void EmTrainer::m_step(const std::vector<int64_t>& expected) {
  double sum = 0;
  for (size_t j = 0; j < alive_.size(); ++j) {
    if (!alive_[j]) continue;
    const double f = double(expected[j]) / kFix;
    if (f < 0.5) {  // sentencepiece's threshold: pieces expected less than half a time go
      kill(uint32_t(j));
      continue;
    }
    sum += f;
  }
  // Bayesian EM (a Dirichlet-process prior): score = psi(count) - psi(total), a sparsity-favouring log-probability.
  const double ds = digamma(sum);
  for (size_t j = 0; j < alive_.size(); ++j)
    if (alive_[j]) s_.score[j] = digamma(double(expected[j]) / kFix) - ds;
  refresh();
}

void EmTrainer::prune(size_t desired) {
  const size_t S = s_.pos.size();
  const uint32_t K = c_.num_required;
  const uint32_t* ep = s_.edge_piece.data();
  const uint16_t* len = s_.len.data();
  const double* score = s_.score.data();
  ew_.resize(s_.edge_piece.size());
  for (size_t e = 0; e < ew_.size(); ++e) ew_[e] = alive_[ep[e]] ? score[ep[e]] : kNegInf;
  const CharModel cm{K, alive_.data(), score, unk_score_};
  auto lattice = [&](uint32_t b, uint32_t n) {
    return WordLattice{n, c_.text.data() + b, s_.edge_begin.data() + b, ep, elen_.data(), ew_.data()};
  };
  // 1. Each multi-character piece's best segmentation without itself.
  const int T = resolve_threads(threads_, S);
  for (int t = 0; t < T; ++t) scratch(size_t(t)).alt.clear();
  std::vector<Scratch*> scr(static_cast<size_t>(T));
  for (int t = 0; t < T; ++t) scr[size_t(t)] = scratch_[size_t(t)].get();
  std::vector<uint8_t> removable(S, 0);
  std::vector<uint16_t> alt_thread(S, 0), alt_n(S, 0);
  std::vector<uint32_t> alt_off(S, 0);
  parallel_for(S, T, [&](int tw, size_t j) {
    if (!alive_[j] || len[j] < 2) return;
    Scratch& z = *scr[size_t(tw)];
    word_viterbi(lattice(s_.pos[j], len[j]), cm, uint32_t(j), z);
    if (z.best[len[j]] > score[j]) {
      removable[j] = 1;  // its own best segmentation splits it: nothing is lost without it
      return;
    }
    alt_thread[j] = uint16_t(tw);
    alt_off[j] = uint32_t(z.alt.size());
    for (uint32_t i = len[j]; i > 0; i = z.back_pos[i]) z.alt.push_back(z.back_id[i]);
    alt_n[j] = uint16_t(z.alt.size() - alt_off[j]);
  });

  // 2. Viterbi frequencies over the corpus (integers: exact, thread-independent sums).
  const size_t W = segs_.size();
  const int TW = resolve_threads(threads_, W);
  std::vector<std::vector<int64_t>> fr(size_t(TW), std::vector<int64_t>(S, 0));
  std::vector<Scratch> wscr(static_cast<size_t>(TW));  // not the per-thread pool: its .alt is still in use
  parallel_for(W, TW, [&](int tw, size_t wi) {
    Scratch& z = wscr[size_t(tw)];
    const uint32_t b = segs_[wi].off, n = segs_[wi].len;
    word_viterbi(lattice(b, n), cm, kUnkNode, z);
    const int64_t cnt = int64_t(segs_[wi].count);
    for (uint32_t i = n; i > 0; i = z.back_pos[i])
      if (z.back_id[i] != kUnkNode) fr[size_t(tw)][z.back_id[i]] += cnt;
  });
  std::vector<double> freq(S, 0.0);
  for (size_t j = 0; j < S; ++j) {
    int64_t f = 0;
    for (const auto& x : fr) f += x[j];
    freq[j] = double(f);
  }
  double sum = 0;
  for (size_t j = 0; j < S; ++j)
    if (alive_[j]) sum += freq[j];
  const double logsum = std::log(sum), vsum = double(c_.total_words);

  // 3. Loss of removing each piece; keep the characters in use and the costliest pieces.
  std::vector<uint8_t> keep(S, 0);
  size_t kept = 0;
  std::vector<std::pair<double, uint32_t>> cand;
  for (size_t j = 0; j < S; ++j) {
    if (!alive_[j] || freq[j] == 0 || removable[j]) continue;
    if (len[j] < 2) {
      keep[j] = 1;
      ++kept;
      continue;
    }
    const uint32_t* alt = scr[alt_thread[j]]->alt.data() + alt_off[j];
    const double fj = freq[j], n_alt = double(alt_n[j]);
    const double logprob_sp = std::log(fj) - logsum;
    const double logsum_alt = std::log(sum + fj * (n_alt - 1));  // fj moves onto each alternative piece
    double logprob_alt = 0;
    for (uint32_t k = 0; k < alt_n[j]; ++k)
      logprob_alt += std::log((alt[k] == kUnkNode ? 0.0 : freq[alt[k]]) + fj) - logsum_alt;
    cand.emplace_back((fj / vsum) * (logprob_sp - logprob_alt), uint32_t(j));
  }
  std::sort(cand.begin(), cand.end(), [](const auto& a, const auto& b) {
    return a.first != b.first ? a.first > b.first : a.second < b.second;
  });
  const size_t target = std::max(desired, size_t(o_.shrinking_factor * double(alive_count_)));
  for (const auto& x : cand) {
    if (kept >= target) break;
    keep[x.second] = 1;
    ++kept;
  }
  for (size_t j = 0; j < S; ++j)
    if (alive_[j] && !keep[j]) kill(uint32_t(j));
  refresh();
}

void EmTrainer::run(size_t desired, const UnigramProgress& progress, UnigramTrainStats& stats) {
  std::vector<int64_t> expected;
  size_t round = 0;
  auto estimate = [&] {
    size_t r = round + 1;
    for (double a = double(alive_count_); a > double(desired); a *= o_.shrinking_factor) ++r;
    return r;
  };
  while (true) {
    for (int it = 0; it < std::max(1, o_.num_sub_iterations); ++it) {
      maybe_compact();
      e_step(expected);
      m_step(expected);
      ++stats.em_steps;
    }
    ++round;
    if (progress) progress(1, round, estimate());
    if (alive_count_ <= desired) break;
    prune(desired);
    ++stats.prune_rounds;
  }
}

std::string EmTrainer::piece_string(uint32_t id) const {
  std::string s;
  for (uint32_t k = 0; k < s_.len[id]; ++k) unicode::append_utf8(s, c_.cp[c_.text[s_.pos[id] + k]]);
  return s;
}

std::vector<TrainedPiece> EmTrainer::finalize(size_t target) const {
  std::vector<std::pair<double, std::string>> out;
  const uint32_t K = c_.num_required;
  // Every required character, even one EM dropped (it then ranks below everything, rarer characters lower).
  size_t missing = 0;
  for (uint32_t j = 0; j < K; ++j) {
    const double sc = alive_[j] ? s_.score[j] : min_score_ - 1e-4 * double(++missing);
    out.emplace_back(sc, piece_string(j));
  }
  std::vector<std::pair<double, std::string>> rest;
  for (uint32_t j = K; j < alive_.size(); ++j)
    if (alive_[j]) rest.emplace_back(s_.score[j], piece_string(j));
  auto order = [](const auto& a, const auto& b) { return a.first != b.first ? a.first > b.first : a.second < b.second; };
  std::sort(rest.begin(), rest.end(), order);
  for (auto& r : rest) {
    if (out.size() >= target) break;
    out.push_back(std::move(r));
  }
  std::sort(out.begin(), out.end(), order);
  std::vector<TrainedPiece> res;
  res.reserve(out.size());
  for (auto& x : out) res.push_back(TrainedPiece{std::move(x.second), static_cast<float>(x.first)});
  return res;
}

}  // namespace unigram
}  // namespace fastlm
