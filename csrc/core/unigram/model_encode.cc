// Unigram best segmentation: the forward DP of model.h.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>

#include "core/unigram/model.h"

namespace fastlm {
namespace unigram {

namespace {
inline size_t one_char_len(uint8_t c) { return size_t("\1\1\1\1\1\1\1\1\1\1\1\1\2\2\3\4"[c >> 4]); }

constexpr float kRebaseBound = 1e5f;

struct Best {
  float score;
  int32_t start;  // -1: not reached yet
  uint32_t id;
};

// b takes the candidate if b is unset or cand > b.score (ties keep the earlier start, as sentencepiece). (Forcing
// this branch-free with bit masks was tried: more instructions, and slower.) kExact: unset cells are tested by
// their start; otherwise they hold the 0xFE fill's score, below every candidate, and `>` alone decides (one load
// and branch less per match).
template <bool kExact>
inline void update(Best& b, float cand, uint32_t from, uint32_t id) {
  const bool better = (kExact && b.start < 0) | (cand > b.score);
  b.score = better ? cand : b.score;
  b.start = better ? int32_t(from) : b.start;
  b.id = better ? id : b.id;
}

// Cells are cleared with memset: byte 0xFE makes start negative and score -1.69e38 (a finite float far below any
// candidate of a model whose scores are >= kLowestScore: path scores at a start stay within +-1e5 by rebasing).
// Byte 0xFF (score NaN) is the fill of the exact path, whose update tests start.
}  // namespace

namespace {
thread_local std::vector<Best> best;  // the DP state of this thread's last forward pass

// The DP over s. The unknown candidate at a start is offered unless the one-character piece matched. With
// kExact a flag set on that match says so. Otherwise the flag is read off the cell after the walk: if the
// piece matched, the cell either holds it (start == this start) or an earlier start whose score is >= piece + here
// >= unknown + here (every piece score is >= the unknown's, checked at load, and adding `here` keeps the order in
// float), so the unknown candidate cannot take the cell and may be offered anyway. That drops a compare, a set and
// an or from every match. (The cell test alone sent 57% of xlnet's starts into the unknown update, the cell
// holding an earlier start's piece: an ASCII byte that is a piece by itself settles it first.) A NaN score (or a
// user-defined one below the unknown's) breaks the bound: a NaN candidate does not take a reached cell, and an
// unknown one might; such models (and those with scores below kLowestScore) take the exact path.
template <bool kExact>
void run_forward(std::string_view s, const sp::DoubleArrayTrie& dp_, size_t max_len_, float unk_score,
                 uint32_t unk, const bool* ascii_piece) {
  const size_t n = s.size();
  if (best.size() < n + 1) best.resize(n + 1);
  Best* bp = best.data();
  // Positions are cleared ahead of the walks in blocks (a walk from `start` ends at most max_len_ bytes on), not
  // by one pass over the whole array: on long lines that memset cost as much as the DP's trie walks.
  bp[0].score = 0.0f;
  bp[0].start = -1;
  size_t cleared = 0;   // bp[0, cleared] are initialized
  size_t clear_at = 0;  // the first start whose walks could pass `cleared`
  const char* d = s.data();
  const unsigned char* p = reinterpret_cast<const unsigned char*>(d);
  // (Caching a word's dictionary matches by its bytes, as the BPE encoder caches merges, was tried: the cache
  // probe missed the L1/L2 caches more often than the trie walks it replaced, and it ran ~30% slower. Caching a
  // word's whole segmentation was tried too: words are independent when no piece has U+2581 after another
  // character, and a result computed from path score 0 is exact from score S when the smallest candidate gap
  // exceeds the float rounding the two bases can add. It cut instructions by ~9% on the bench corpora but ran
  // 6-22% slower in CPU time (xlnet, botchan, kyoto): 16% of words missed a 16K-word cache, and every miss paid
  // the DP plus the probe. A direct-mapped 4096 x 64-byte memo (key and path inline, one load a probe, the margin
  // tracked only on misses) was 10-40% slower again: 30% misses, each a tracked DP.
  // Also tried on the walk itself, each slower than this loop or no faster (tools/bench_sp, same input): scores
  // stored beside the trie cells (no second load per match); a branch-free first 1-4 steps with selects and an
  // escape to a dead block; two starts walked in lockstep, branch-free, with their matches buffered and applied in
  // order (the select chain lengthened every step more than the overlap saved); trie blocks placed by weight
  // instead of depth-first; a direct jump over the three bytes of U+2581. An Aho-Corasick pass over the text
  // (failure and output links on this trie) found the same matches 3-9% slower than the walks. The walk is
  // bound by its chain of dependent loads, about 4 steps a start.)
  // sentencepiece rebases every reached position from `start` up to the furthest end written so far. That end is
  // below start + max_len_ (walks from earlier starts end there at most, unknown candidates at `start`), and
  // cleared positions not reached yet have start == -1, so the window [start, min(cleared, start + max_len_)]
  // with the reached test is the same set, and the walk keeps no furthest-end register (one spill less per start).

  // The path score at a character start, after clearing ahead and sentencepiece's rebasing.
  auto enter = [&](size_t start) -> float {
    if (start >= clear_at) {
      const size_t to = std::min(n, std::max(start + max_len_, cleared + 256));
      std::memset(static_cast<void*>(bp + cleared + 1), kExact ? 0xFF : 0xFE, (to - cleared) * sizeof(Best));
      cleared = to;
      clear_at = cleared >= n ? SIZE_MAX : cleared + 1 - std::min(cleared + 1, max_len_);
    }
    const float here = bp[start].score;
    if (std::fabs(here) > kRebaseBound) {  // false for NaN, as sentencepiece's two comparisons
      const size_t to = std::min(cleared, start + max_len_);
      for (size_t c = start; c <= to; ++c)
        if (c == start || bp[c].start >= 0) bp[c].score -= here;
      return 0.0f;
    }
    return here;
  };
  // The walk is written out here (not trie.h's callback) so the per-match work stays small: the target cell
  // advances with the walk, and the single-character test is settled once per start.
  // An empty dictionary walks nowhere: a root whose children are all empty cells.
  static const sp::DoubleArrayTrie::Unit kNoChildren[257] = {};
  const sp::DoubleArrayTrie::Unit* u = dp_.units() ? dp_.units() : kNoChildren;
  const float* pay = dp_.payloads();
  for (size_t start = 0; start < n;) {
    const float here = enter(start);
    const size_t mblen = std::min(one_char_len(p[start]), n - start);
    Best* const single_at = bp + start + mblen;
    bool single = false;
    uint32_t bl = u[0].bl;
    Best* tgt = bp + start;
    for (size_t i = start; i < n; ++i) {
      const uint32_t c = p[i];
      const sp::DoubleArrayTrie::Unit& x = u[(bl >> 9) + c];
      ++tgt;
      if ((x.bl & 0x1FF) != (0x100 | c)) break;
      bl = x.bl;
      if (x.value < 0) continue;
      update<kExact>(*tgt, pay[x.value] + here, uint32_t(start), uint32_t(x.value));
      if (kExact) single |= tgt == single_at;
    }
    if (!kExact) single = ascii_piece[p[start]] || single_at->start == int32_t(start);
    if (!single) {
      update<kExact>(*single_at, unk_score + here, uint32_t(start), unk);
    }
    start += mblen;
  }
}
}  // namespace

void UnigramModel::forward(std::string_view s) const {
  const float unk_score = t_->min_score() - kUnkPenalty;
  if (exact_)
    run_forward<true>(s, dp_, max_len_, unk_score, t_->unk_id(), ascii_piece_);
  else
    run_forward<false>(s, dp_, max_len_, unk_score, t_->unk_id(), ascii_piece_);
}

// Backtrace of the last forward pass over n bytes, in one pass: a segmentation has at most one token per
// character, so write from the end of an n-slot block and move the filled tail down.
void UnigramModel::backtrace(size_t n, std::vector<Tok>& out) const {
  const Best* bp = best.data();
  const size_t first = out.size();
  out.resize(first + n);
  Tok* const base = out.data() + first;
  Tok* o = base + n;
  for (size_t end = n; end > 0;) {
    const Best& b = bp[end];
    *--o = Tok(uint32_t(b.start), uint32_t(end), b.id);
    end = size_t(b.start);
  }
  const size_t count = size_t(base + n - o);
  std::memmove(static_cast<void*>(base), o, count * sizeof(Tok));
  out.resize(first + count);
}

void UnigramModel::encode(std::string_view s, std::vector<Tok>& out) const {
  if (s.empty()) return;
  forward(s);
  backtrace(s.size(), out);
}

void UnigramModel::encode_ids(std::string_view s, std::vector<uint32_t>& ids) const {
  const size_t n = s.size();
  if (n == 0) return;
  forward(s);
  const Best* bp = best.data();
  const uint32_t unk = t_->unk_id();
  const bool bf = t_->byte_fallback();
  const size_t first = ids.size();
  ids.resize(first + n);  // at most one id per byte (a byte-fallback piece covers one, every other piece >= 1)
  uint32_t* const base = ids.data() + first;
  uint32_t* o = base + n;
  // Right to left, with sentencepiece's output rules (SpEncoder::finish): an unknown piece becomes its bytes'
  // <0xNN> ids with byte fallback; without, a run of unknown pieces becomes one unknown id.
  bool right_unk = false;  // the id written last (the next one to the right) is an unknown run's
  for (size_t end = n; end > 0;) {
    const Best& b = bp[end];
    const size_t from = size_t(b.start);
    if (b.id != unk) {
      *--o = b.id;
      right_unk = false;
    } else if (bf) {
      for (size_t i = end; i > from;) *--o = t_->byte_id(uint8_t(s[--i]));
    } else {
      if (!right_unk) *--o = unk;  // otherwise it joins the run on its right, whose one id is written
      right_unk = true;
    }
    end = from;
  }
  const size_t count = size_t(base + n - o);
  std::memmove(base, o, count * sizeof(uint32_t));
  ids.resize(first + count);
}

}  // namespace unigram
}  // namespace fastlm
