// The per-word dynamic programs of the Unigram trainer: forward-backward (expected piece counts) and Viterbi.
// Shapes: a word (or segment) of n characters; its edges are CSR slices of the trainer's global edge arrays
// (trainer_em.h). Both are flat passes over arrays, no lattice objects; the numerics are described in trainer_em.h.
#pragma once
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <vector>

namespace fastlm {
namespace unigram {

constexpr double kFix = 16777216.0;  // expected counts are summed in units of 2^-24
constexpr uint32_t kUnkNode = UINT32_MAX;
constexpr double kNegInf = -std::numeric_limits<double>::infinity();

// psi(x) for x > 0: the recurrence up to 6, then the asymptotic series.
double digamma(double x);

// Per-thread buffers, kept warm across steps (they only grow).
struct Scratch {
  std::vector<double> alpha, beta, pc;
  std::vector<int32_t> ea, eb;
  std::vector<uint32_t> cid, back_id, back_pos;
  std::vector<double> best;
  std::vector<uint32_t> alt;  // prune: alternatives of the pieces this thread handled
};

// One word's lattice: n characters, and its edges as CSR slices of the global arrays.
struct WordLattice {
  uint32_t n;
  const uint32_t* chars;  // [n] char ids
  const uint32_t* ebeg;   // [n+1] offsets into the edge arrays
  const uint32_t* epiece;
  const uint16_t* elen;
  const double* ew;       // per edge: probability (E-step) or score (Viterbi)
};

// The single-character node of each position.
struct CharModel {
  uint32_t K;             // char id c (1..K) is piece c - 1 when alive
  const uint8_t* alive;
  const double* value;    // per piece: probability or score
  double unk;             // the unknown node's probability or score
};

// Forward-backward over one word; adds count * marginal, in 2^-24 units, to out[piece]. D = longest piece.
void word_expect(const WordLattice& w, const CharModel& cm, double count, size_t D, Scratch& z, int64_t* out);

// Best segmentation of one word (max total score); `self` (a piece id) may not span the whole word. Fills
// z.best, z.back_id (piece or kUnkNode) and z.back_pos (start of the last piece ending at each position).
void word_viterbi(const WordLattice& w, const CharModel& cm, uint32_t self, Scratch& z);

}  // namespace unigram
}  // namespace fastlm
