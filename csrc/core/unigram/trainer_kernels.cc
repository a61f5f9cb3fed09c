#include "core/unigram/trainer_kernels.h"

#include <algorithm>

namespace fastlm {
namespace unigram {

namespace {
constexpr int kStep = 128;           // rescaling step (a power of two exponent)
const double kHi = std::ldexp(1.0, kStep), kLo = std::ldexp(1.0, -kStep);
}  // namespace

double digamma(double x) {
  double r = 0;
  for (; x < 6; x += 1) r -= 1 / x;
  const double f = 1 / (x * x);
  return r + std::log(x) - 0.5 / x - f * (1.0 / 12 - f * (1.0 / 120 - f * (1.0 / 252 - f * (1.0 / 240 - f / 132))));
}

namespace {
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
}  // namespace

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

}  // namespace unigram
}  // namespace fastlm
