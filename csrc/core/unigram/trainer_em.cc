#include "core/unigram/trainer_em.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <chrono>
#include <cstdio>
#include <cstdlib>

#include "core/parallel.h"
#include "core/unicode.h"

namespace fastlm {
namespace unigram {

namespace {
constexpr double kFix = 16777216.0;  // expected counts are summed in units of 2^-24
constexpr int kStep = 128;           // rescaling step (a power of two exponent)
const double kHi = std::ldexp(1.0, kStep), kLo = std::ldexp(1.0, -kStep);
constexpr uint32_t kUnkNode = UINT32_MAX;
constexpr double kNegInf = -std::numeric_limits<double>::infinity();

// psi(x) for x > 0: the recurrence up to 6, then the asymptotic series.
double digamma(double x) {
  double r = 0;
  for (; x < 6; x += 1) r -= 1 / x;
  const double f = 1 / (x * x);
  return r + std::log(x) - 0.5 / x - f * (1.0 / 12 - f * (1.0 / 120 - f * (1.0 / 252 - f * (1.0 / 240 - f / 132))));
}

// 2^(128 m) for the exponent differences the marginals see.
struct Pow2 {
  double t[15];
  Pow2() {
    for (int m = -7; m <= 7; ++m) t[m + 7] = std::ldexp(1.0, kStep * m);
  }
  double operator()(int e) const {
    const int m = e / kStep;
    return (m >= -7 && m <= 7) ? t[m + 7] : std::ldexp(1.0, e);
  }
};
const Pow2 pow2;

struct Scratch {
  std::vector<double> alpha, beta, pc;
  std::vector<int32_t> ea, eb;
  std::vector<uint32_t> cid, back_id, back_pos;
  std::vector<double> best;
  std::vector<uint32_t> alt;  // prune: alternatives of the pieces this thread handled
};

// One distinct word's lattice: n characters, and its edges as CSR slices of the global arrays.
struct WordLattice {
  uint32_t n;
  const uint32_t* chars;  // [n] char ids
  const uint32_t* ebeg;   // [n+1] offsets into the edge arrays
  const uint32_t* epiece;
  const uint16_t* elen;
  const double* ew;       // per edge: probability (E-step) or score (Viterbi)
};

struct CharModel {
  uint32_t K;             // char id c (1..K) is piece c - 1 when alive
  const uint8_t* alive;
  const double* value;    // per piece: probability or score
  double unk;             // the unknown node's probability or score
};

// Forward-backward over one word; adds count * marginal, in 2^-24 units, to out[piece] (see trainer_em.h).
void word_expect(const WordLattice& w, const CharModel& cm, double count, size_t D, Scratch& z, int64_t* out) {
  const uint32_t n = w.n;
  z.alpha.assign(n + 1, 0.0);
  z.beta.resize(n + 1);
  z.ea.resize(n + 1);
  z.eb.resize(n + 1);
  z.pc.resize(n);
  z.cid.resize(n);
  double* alpha = z.alpha.data();
  double* beta = z.beta.data();
  double* pc = z.pc.data();
  uint32_t* cid = z.cid.data();
  int32_t* ea = z.ea.data();
  int32_t* ebx = z.eb.data();
  const uint32_t* eb = w.ebeg;
  const uint16_t* el = w.elen;
  const double* ew = w.ew;
  bool scaled = false;
  // forward (push); also resolves each position's single-character node
  alpha[0] = 1.0;
  int32_t E = 0;
  for (uint32_t i = 0;; ++i) {
    double a = alpha[i];
    if (a < kLo || a > kHi) {
      while ((a < kLo || a > kHi) && a > 0) {
        const int k = a < kLo ? kStep : -kStep;
        const double f = std::ldexp(1.0, k);
        for (size_t q = i, qe = std::min<size_t>(n, i + D); q <= qe; ++q) alpha[q] *= f;
        E -= k;
        a = alpha[i];
      }
      scaled = true;
    }
    ea[i] = E;
    if (i == n) break;
    const uint32_t ch = w.chars[i];
    const bool ok = ch - 1 < cm.K && cm.alive[ch - 1];
    cid[i] = ok ? ch - 1 : kUnkNode;
    const double p = ok ? cm.value[ch - 1] : cm.unk;
    pc[i] = p;
    alpha[i + 1] += a * p;
    for (uint32_t e = eb[i], ee = eb[i + 1]; e < ee; ++e) alpha[i + el[e]] += a * ew[e];
  }
  // backward (pull)
  beta[n] = 1.0;
  ebx[n] = 0;
  int32_t EB = 0;
  for (uint32_t i = n; i-- > 0;) {
    double s = pc[i] * beta[i + 1];
    for (uint32_t e = eb[i], ee = eb[i + 1]; e < ee; ++e) s += ew[e] * beta[i + el[e]];
    beta[i] = s;
    ebx[i] = EB;
    if (s < kLo || s > kHi) {
      while ((s < kLo || s > kHi) && s > 0) {
        const int k = s < kLo ? kStep : -kStep;
        const double f = std::ldexp(1.0, k);
        EB -= k;
        for (size_t q = i, qe = std::min<size_t>(n, i + D); q <= qe; ++q) {
          beta[q] *= f;
          ebx[q] = EB;
        }
        s = beta[i];
      }
      scaled = true;
    }
  }
  // marginals; the exponent bookkeeping only for words that were rescaled
  const double inv_z = count * kFix / alpha[n];
  const uint32_t* ep = w.epiece;
  if (!scaled) {
    for (uint32_t i = 0; i < n; ++i) {
      const double fa = alpha[i] * inv_z;
      if (cid[i] != kUnkNode) out[cid[i]] += int64_t(fa * pc[i] * beta[i + 1] + 0.5);
      for (uint32_t e = eb[i], ee = eb[i + 1]; e < ee; ++e) out[ep[e]] += int64_t(fa * ew[e] * beta[i + el[e]] + 0.5);
    }
    return;
  }
  const int32_t ez = ea[n];
  for (uint32_t i = 0; i < n; ++i) {
    const double fa = alpha[i] * inv_z;
    const int32_t ka = ea[i] - ez;
    if (cid[i] != kUnkNode) out[cid[i]] += int64_t(fa * pc[i] * beta[i + 1] * pow2(ka + ebx[i + 1]) + 0.5);
    for (uint32_t e = eb[i], ee = eb[i + 1]; e < ee; ++e) {
      const uint32_t l = el[e];
      out[ep[e]] += int64_t(fa * ew[e] * beta[i + l] * pow2(ka + ebx[i + l]) + 0.5);
    }
  }
}

// Best segmentation of one word (max total score); `self` (a piece id) may not span the whole word. Fills
// z.best, z.back_id (piece or kUnkNode) and z.back_pos (start of the last piece ending at each position).
void word_viterbi(const WordLattice& w, const CharModel& cm, uint32_t self, Scratch& z) {
  const uint32_t n = w.n;
  z.best.assign(n + 1, kNegInf);
  z.back_id.resize(n + 1);
  z.back_pos.resize(n + 1);
  double* best = z.best.data();
  uint32_t* bid = z.back_id.data();
  uint32_t* bpos = z.back_pos.data();
  const uint32_t* eb = w.ebeg;
  const uint16_t* el = w.elen;
  const double* ew = w.ew;
  const uint32_t* ep = w.epiece;
  best[0] = 0;
  for (uint32_t i = 0; i < n; ++i) {
    const double bi = best[i];
    if (bi == kNegInf) continue;
    const uint32_t ch = w.chars[i];
    const bool ok = ch - 1 < cm.K && cm.alive[ch - 1];
    const double cs = bi + (ok ? cm.value[ch - 1] : cm.unk);
    if (cs > best[i + 1]) {
      best[i + 1] = cs;
      bid[i + 1] = ok ? ch - 1 : kUnkNode;
      bpos[i + 1] = i;
    }
    for (uint32_t e = eb[i], ee = eb[i + 1]; e < ee; ++e) {
      const uint32_t l = el[e];
      if (i + l > n || (i == 0 && ep[e] == self)) continue;
      const double v = bi + ew[e];
      if (v > best[i + l]) {
        best[i + l] = v;
        bid[i + l] = ep[e];
        bpos[i + l] = i;
      }
    }
  }
}
}  // namespace

EmTrainer::EmTrainer(const TrainCorpus& corpus, SeedSet seeds, const UnigramTrainerOptions& opts, int num_threads)
    : c_(corpus), s_(std::move(seeds)), o_(opts), threads_(num_threads) {
  alive_.assign(s_.pos.size(), 1);
  alive_count_ = s_.pos.size();
  prob_.assign(s_.pos.size(), 0.0);
  elen_.resize(s_.edge_piece.size());
  for (size_t e = 0; e < elen_.size(); ++e) elen_[e] = s_.len[s_.edge_piece[e]];
  refresh();
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
}

void EmTrainer::maybe_compact() {
  size_t dead = 0;
  for (uint32_t j : s_.edge_piece) dead += !alive_[j];
  if (dead * 8 > s_.edge_piece.size()) compact();
}

void EmTrainer::e_step(std::vector<int64_t>& expected) const {
  const size_t W = c_.num_words(), S = s_.pos.size(), D = max_len_;
  const int T = resolve_threads(threads_, W);
  std::vector<std::vector<int64_t>> acc(size_t(T), std::vector<int64_t>(S, 0));
  std::vector<Scratch> scr(static_cast<size_t>(T));
  // Per-edge probabilities (0 for dead pieces not yet compacted), so the passes read edges as streams.
  const uint32_t* ep = s_.edge_piece.data();
  ew_.resize(s_.edge_piece.size());
  for (size_t e = 0; e < ew_.size(); ++e) ew_[e] = prob_[ep[e]];
  const CharModel cm{c_.num_required, alive_.data(), prob_.data(), unk_prob_};
  auto lattice = [&](uint32_t b, uint32_t n) {
    return WordLattice{n, c_.text.data() + b, s_.edge_begin.data() + b, ep, elen_.data(), ew_.data()};
  };
  parallel_for(W, T, [&](int tw, size_t wi) {
    const uint32_t b = c_.word_begin[wi], n = c_.word_begin[wi + 1] - 1 - b;
    word_expect(lattice(b, n), cm, double(c_.word_count[wi]), D, scr[size_t(tw)], acc[size_t(tw)].data());
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
      alive_[j] = 0;
      --alive_count_;
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
  std::vector<Scratch> scr(static_cast<size_t>(T));
  std::vector<uint8_t> removable(S, 0);
  std::vector<uint16_t> alt_thread(S, 0), alt_n(S, 0);
  std::vector<uint32_t> alt_off(S, 0);
  parallel_for(S, T, [&](int tw, size_t j) {
    if (!alive_[j] || len[j] < 2) return;
    Scratch& z = scr[size_t(tw)];
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
  const size_t W = c_.num_words();
  const int TW = resolve_threads(threads_, W);
  std::vector<std::vector<int64_t>> fr(size_t(TW), std::vector<int64_t>(S, 0));
  std::vector<Scratch> wscr(static_cast<size_t>(TW));
  parallel_for(W, TW, [&](int tw, size_t wi) {
    Scratch& z = wscr[size_t(tw)];
    const uint32_t b = c_.word_begin[wi], n = c_.word_begin[wi + 1] - 1 - b;
    word_viterbi(lattice(b, n), cm, kUnkNode, z);
    const int64_t cnt = int64_t(c_.word_count[wi]);
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
    const uint32_t* alt = scr[alt_thread[j]].alt.data() + alt_off[j];
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
  for (size_t j = 0; j < S; ++j) alive_[j] = alive_[j] && keep[j];
  alive_count_ = kept;
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
  auto now_s = [] { return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count(); };
  const bool tr = std::getenv("FASTLM_UG_TRACE") != nullptr;
  while (true) {
    for (int it = 0; it < std::max(1, o_.num_sub_iterations); ++it) {
      maybe_compact();
      double a = now_s();
      e_step(expected);
      double b = now_s();
      m_step(expected);
      if (tr) std::fprintf(stderr, "[ug]   E %.3f M %.3f alive %zu edges %zu\n", b - a, now_s() - b, alive_count_, s_.edge_piece.size());
      ++stats.em_steps;
    }
    ++round;
    if (progress) progress(1, round, estimate());
    if (alive_count_ <= desired) break;
    double a = now_s();
    prune(desired);
    if (tr) std::fprintf(stderr, "[ug]   prune %.3f alive %zu\n", now_s() - a, alive_count_);
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
