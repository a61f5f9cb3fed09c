#include "core/bpe/trainer.h"

#include <algorithm>
#include <cstring>

#include "core/error.h"
#include "core/bpe/trainer_queue.h"
#include "core/hash.h"

namespace fastlm {
namespace bpe {

namespace {

constexpr uint32_t kNone = 0xFFFFFFFFu;  // no pair (word end, or a pair longer than max_token_length)
constexpr uint32_t kEnd = 0xFFFFFFFFu;   // sym of the sentinel position between two words
constexpr uint32_t kDead = 0xFFFFFFFEu;  // sym of a position swallowed by the token on its left

// Unsigned lexicographic comparison of byte strings (std::string compares char, which may be signed).
int cmp_bytes(const std::string& a, const std::string& b) {
  size_t n = std::min(a.size(), b.size());
  int c = n ? std::memcmp(a.data(), b.data(), n) : 0;
  if (c) return c;
  return a.size() < b.size() ? -1 : a.size() > b.size() ? 1 : 0;
}

// Prefetch distance of the merge loop, in occurrences.
constexpr uint64_t kAhead = 8;

class Merger {
 public:
  Merger(const PieceCounter& counts, const BpeTrainerOptions& opts) : opts_(opts) {
    load_words(counts);
    // A new token kills at least one position, so there are at most 256 + positions tokens: a huge vocab_size
    // on a small corpus reserves no more than that.
    cap_ = std::max<size_t>(256, std::min<size_t>(opts.vocab_size, 256 + pos_.size()));
    tokens_.reserve(cap_);
    tlen_.reserve(cap_);
    ids_.reserve(cap_ + 16);
    for (unsigned c = 0; c < 256; ++c) add_token(std::string(1, char(c)));
    step_slot_.assign(2 * cap_, StepSlot{0, 0});
    count_initial_pairs();
  }

  BpeTrainResult run(const TrainProgress& progress) {
    BpeTrainResult res;
    size_t target = std::min(opts_.vocab_size, cap_);
    size_t every = std::max<size_t>(1, target / 200);
    size_t last_report = 0;
    while (tokens_.size() < target) {
      PairEntry e;
      if (!queue_.pop(e)) break;
      int64_t now = count_[e.pair];
      if (e.count != now) {  // stale: the pair lost occurrences since this entry was pushed
        if (now > 0 && uint64_t(now) >= opts_.min_frequency) queue_.push(PairEntry{now, e.key, e.pair});
        continue;
      }
      if (uint64_t(now) < opts_.min_frequency) break;  // the freshest maximum is below the threshold
      uint32_t a = left_[e.pair], b = right_[e.pair];
      std::string bytes = tokens_[a] + tokens_[b];
      uint32_t id = find_token(bytes);
      bool fresh = id == kNoId;
      if (fresh) {
        id = add_token(std::move(bytes));
      } else if (!indexed_) {
        build_pair_index();
      }
      res.merges.push_back(BpeMerge{a, b, id, uint64_t(now)});
      apply(e.pair, id, fresh);
      if (progress && tokens_.size() - last_report >= every) {
        last_report = tokens_.size();
        progress(tokens_.size(), target);
      }
    }
    if (progress) progress(tokens_.size(), target);
    std::vector<std::pair<std::string, uint32_t>> vocab;
    vocab.reserve(tokens_.size());
    for (size_t i = 0; i < tokens_.size(); ++i) vocab.emplace_back(std::move(tokens_[i]), uint32_t(i));
    release();
    res.model = std::make_shared<BpeModel>(std::move(vocab), nullptr, true);
    return res;
  }

 private:
  // Words: one record per byte of each distinct pre-token, a sentinel (sym = kEnd) between words. A merged
  // token lives at its leftmost position, the others become kDead. prev = the previous live position (or the
  // sentinel), pair = the pair that starts here (sym, next live sym; kNone if none or untracked), cnt = the
  // word's count, copied into each of its positions (a per-word count array cost a second cache miss per
  // occurrence; counts >= 2^31 are an index into big_ with the top bit set).
  // One 16-byte record per position (array of structs): a merge touches a position and its neighbours together.
  static constexpr uint32_t kBigCount = 0x80000000u;
  struct Pos {
    uint32_t sym;
    uint32_t prev;
    uint32_t pair;
    uint32_t cnt;
  };
  // Queue order: "a is worse than b" = lower count, or equal count and a's pair bytes sort after b's. Late in
  // training most comparisons are ties between small counts; the key settles nearly all of them without
  // reading the tokens' bytes (comparing the byte strings cost ~25% of a 32K-vocab run in cache misses).
  struct Worse {
    const Merger* m;
    bool operator()(const PairEntry& x, const PairEntry& y) const {
      if (x.count != y.count) return x.count < y.count;
      if (x.key != y.key) return x.key > y.key;
      int c = cmp_bytes(m->tokens_[m->left_[x.pair]], m->tokens_[m->left_[y.pair]]);
      if (c == 0) c = cmp_bytes(m->tokens_[m->right_[x.pair]], m->tokens_[m->right_[y.pair]]);
      return c > 0;
    }
  };

  // The tie-break order (left bytes, right bytes) as one sequence of 9-bit symbols: byte + 1 for each byte of
  // left, 0, byte + 1 for each byte of right, then 0s; the first 7 symbols packed big-endian. Comparing keys is
  // comparing these sequences' prefixes: the 0 after left makes a shorter left sort first, as tuple order does,
  // and the padding does the same for right. Equal keys fall back to the bytes.
  uint64_t tie_key(uint32_t p) const {
    const std::string& l = tokens_[left_[p]];
    const std::string& r = tokens_[right_[p]];
    uint64_t k = 0;
    int n = 0;
    for (size_t i = 0; i < l.size() && n < 7; ++i, ++n) k = (k << 9) | (uint64_t((unsigned char)l[i]) + 1);
    if (n < 7) {
      k <<= 9;
      ++n;
    }
    for (size_t i = 0; i < r.size() && n < 7; ++i, ++n) k = (k << 9) | (uint64_t((unsigned char)r[i]) + 1);
    return k << (9 * (7 - n));
  }

  uint32_t add_token(std::string bytes) {
    uint32_t id = uint32_t(tokens_.size());
    tlen_.push_back(uint32_t(bytes.size()));
    tokens_.push_back(std::move(bytes));
    if (!ids_.insert(tokens_.back(), id, [this](uint32_t i) -> std::string_view { return tokens_[i]; }))
      throw Error("internal error: duplicate token in BPE training");
    return id;
  }
  uint32_t find_token(const std::string& bytes) const {
    return ids_.find(bytes, [this](uint32_t i) -> std::string_view { return tokens_[i]; });
  }
  bool too_long(uint32_t a, uint32_t b) const {
    return opts_.max_token_length && size_t(tlen_[a]) + tlen_[b] > opts_.max_token_length;
  }

  // Lays the distinct pre-tokens out as one array of positions: [S w0 bytes S w1 bytes S ... S], S = sentinel.
  // No sort: every count is a sum over words and ties are broken by bytes, so the merges do not depend on the
  // order the counter hands the words out in (sorting 45K words by bytes cost 15% of an 8K-vocab run).
  void load_words(const PieceCounter& counts) {
    size_t total = 1;
    uint64_t occurrences = 0;  // bytes x counts: bounds every pair count, which must fit in an int64
    constexpr uint64_t kMaxOccurrences = uint64_t(1) << 62;
    counts.for_each([&](std::string_view s, uint64_t c) {
      if (s.size() < 2 || !c) return;  // a single byte has no pair to merge
      total += s.size() + 1;
      if (c > (kMaxOccurrences - occurrences) / s.size())
        throw ValueError("pre-token counts are too large: their total exceeds 2^62");
      occurrences += c * s.size();
    });
    if (total >= kDead) throw ValueError("the distinct pre-tokens hold more than 4 GiB of text; train on less data");
    pos_.resize(total);
    pos_[0] = Pos{kEnd, kNone, kNone, 0};
    uint32_t g = 1;
    counts.for_each([&](std::string_view s, uint64_t c) {
      if (s.size() < 2 || !c) return;
      uint32_t cnt = uint32_t(c);
      if (c >= kBigCount) {  // rare: a pre-token seen 2^31 times or more keeps its count in big_
        cnt = kBigCount | uint32_t(big_.size());
        big_.push_back(c);
      }
      for (size_t i = 0; i < s.size(); ++i, ++g) pos_[g] = Pos{(unsigned char)s[i], g - 1, kNone, cnt};
      pos_[g++] = Pos{kEnd, kNone, kNone, 0};
    });
  }
  int64_t count_at(const Pos& p) const {
    return (p.cnt & kBigCount) ? int64_t(big_[p.cnt & ~kBigCount]) : int64_t(p.cnt);
  }

  uint32_t new_pair(uint32_t a, uint32_t b) {
    uint32_t idx = uint32_t(count_.size());
    count_.push_back(0);
    left_.push_back(a);
    right_.push_back(b);
    seg_begin_.push_back(0);
    seg_len_.push_back(0);
    if (indexed_) pairs_.insert(a, b, PairMap::Value{idx, 0});
    return idx;
  }

  // Initial pairs are pairs of bytes: a 64K direct table (no hashing). Their position lists are built in CSR
  // form by a counting pass, so they come out sorted by position and need no per-pair allocation.
  void count_initial_pairs() {
    std::vector<uint32_t> table(65536, kNone), n;
    for (uint32_t g = 1; g + 1 < pos_.size(); ++g) {
      uint32_t a = pos_[g].sym, b = pos_[g + 1].sym;
      if (a == kEnd || b == kEnd || too_long(a, b)) continue;
      uint32_t& q = table[(a << 8) | b];
      if (q == kNone) {
        q = new_pair(a, b);
        n.push_back(0);
      }
      pos_[g].pair = q;
      count_[q] += count_at(pos_[g]);
      ++n[q];
    }
    uint64_t off = 0;
    for (uint32_t q = 0; q < count_.size(); ++q) {
      seg_begin_[q] = off;
      off += n[q];
    }
    // Each merged occurrence appends at most 2 entries and each merge kills a position, so this capacity is never
    // exceeded without re-created tokens; untouched capacity costs address space only, not memory.
    arena_.reserve(off + 2 * pos_.size());
    arena_.resize(off);
    for (uint32_t g = 1; g < pos_.size(); ++g) {
      uint32_t q = pos_[g].pair;
      if (q != kNone) arena_[seg_begin_[q] + seg_len_[q]++] = g;
    }
    queue_.reserve(count_.size());
    for (uint32_t q = 0; q < count_.size(); ++q)
      if (uint64_t(count_[q]) >= opts_.min_frequency) queue_.add(PairEntry{count_[q], tie_key(q), q});
  }

  // The (left, right) -> pair index map, needed only when a merge re-creates an existing token (then pairs with
  // that token may already exist). Built on first need and kept up to date from then on.
  void build_pair_index() {
    indexed_ = true;
    pairs_.reserve(count_.size() + 1024);
    for (uint32_t q = 0; q < count_.size(); ++q) pairs_.insert(left_[q], right_[q], PairMap::Value{q, 0});
  }

  // The pair (a, b), one of them the merged token m, that gains occurrences in this step: looked up in a
  // per-step slot indexed by the other token (left neighbours x -> slot x, right neighbours y -> slot cap + y),
  // so the inner loop never hashes. Returns the pair's index in touched_.
  uint32_t step_pair(uint32_t a, uint32_t b, uint32_t m, bool fresh) {
    StepSlot& s = a == m ? step_slot_[cap_ + b] : step_slot_[a];
    if (s.stamp == step_) return s.local;
    uint32_t q = kNone;
    if (!fresh) {  // m existed before: the pair may too
      const PairMap::Value* v = pairs_.find(a, b);
      if (v) q = v->a;
    }
    if (q == kNone) q = new_pair(a, b);
    s.stamp = step_;
    s.local = uint32_t(touched_.size());
    touched_.push_back(q);
    return s.local;
  }

  // The pair starting at position i (record r) was `old` (kNone: untracked) and is now (a, b), one of them the
  // merged token m: moves c occurrences from old to (a, b) and lists position i for (a, b).
  void repoint(Pos& r, uint32_t i, uint32_t old, uint32_t a, uint32_t b, uint32_t m, int64_t c, bool fresh) {
    if (old != kNone) count_[old] -= c;
    r.pair = kNone;
    if (too_long(a, b)) return;
    uint32_t l = step_pair(a, b, m, fresh);
    uint32_t q = touched_[l];
    count_[q] += c;
    r.pair = q;
    step_occ_.push_back(StepOcc{l, i});
  }

  // Merges every occurrence of pair p = (a, b) into token m, left to right within each word (so "a a a" with
  // (a, a) gives "aa a"). An occurrence is current iff its position still starts pair p: symbols only grow, so
  // a position that stopped starting (a, b) never starts it again, and duplicate or stale entries are skipped.
  // The next live position after g is g + len(sym[g]): a token covers its bytes' positions, and words are
  // separated by sentinels, so no `next` link is stored (16-byte positions).
  void apply(uint32_t p, uint32_t m, bool fresh) {
    ++step_;
    touched_.clear();
    step_occ_.clear();
    uint32_t a = left_[p], b = right_[p];
    uint32_t la = tlen_[a], lb = tlen_[b];
    const uint64_t begin = seg_begin_[p], end = begin + seg_len_[p];
    const uint32_t* occ = arena_.data();
    for (uint64_t k = begin; k < end; ++k) {
      // The positions are scattered over pos_ (tens of MB): fetch occurrences ahead so the misses overlap. At
      // 2*kAhead: the position and its right neighbours (their offsets are known); at kAhead, once the position
      // is in cache: its left neighbour.
      if (k + 2 * kAhead < end) {
        uint32_t f = occ[k + 2 * kAhead];
        __builtin_prefetch(&pos_[f]);
        __builtin_prefetch(&pos_[f + la + lb]);
      }
      if (k + kAhead < end) __builtin_prefetch(&pos_[pos_[occ[k + kAhead]].prev]);
      uint32_t g = occ[k];
      Pos& pg = pos_[g];
      if (pg.pair != p) continue;
      uint32_t h = g + la, nx = h + lb;
      Pos& ph = pos_[h];
      Pos& pn = pos_[nx];
      int64_t c = count_at(pg);
      uint32_t pv = pg.prev;
      Pos& pp = pos_[pv];
      if (pp.sym != kEnd) repoint(pp, pv, pp.pair, pp.sym, m, m, c, fresh);  // (x, a) -> (x, m)
      pg.sym = m;
      pg.pair = kNone;
      if (pn.sym != kEnd) {  // (b, y) -> (m, y)
        pn.prev = g;
        repoint(pg, g, ph.pair, m, pn.sym, m, c, fresh);
      }
      ph.sym = kDead;
      ph.pair = kNone;
    }
    count_[p] = 0;
    garbage_ += seg_len_[p];
    seg_len_[p] = 0;
    store_step_occurrences();
    for (uint32_t q : touched_)
      if (count_[q] > 0 && uint64_t(count_[q]) >= opts_.min_frequency)
        queue_.push(PairEntry{count_[q], tie_key(q), q});
  }

  // Appends this step's new occurrences to the arena, one contiguous run per touched pair (a counting sort by
  // pair; within a pair they stay in position order, as the step visits positions left to right). A pair that
  // already had a list (only when m is a re-created token) gets one merged, sorted, deduplicated run instead.
  void store_step_occurrences() {
    size_t n = touched_.size();
    if (n == 0) return;
    step_count_.assign(n + 1, 0);
    for (const StepOcc& o : step_occ_) ++step_count_[o.local + 1];
    if (arena_.size() + 2 * step_occ_.size() > arena_.capacity() && garbage_ * 2 > arena_.size()) compact();
    uint64_t base = arena_.size();
    for (size_t l = 0; l < n; ++l) step_count_[l + 1] += step_count_[l];
    arena_.resize(base + step_occ_.size());
    for (const StepOcc& o : step_occ_) arena_[base + step_count_[o.local]++] = o.pos;
    // step_count_[l] is now the end of run l
    for (size_t l = 0; l < n; ++l) {
      uint32_t q = touched_[l];
      uint64_t b = base + (l ? step_count_[l - 1] : 0), e = base + step_count_[l];
      if (seg_len_[q] == 0) {
        seg_begin_[q] = b;
        seg_len_[q] = uint32_t(e - b);
        continue;
      }
      std::vector<uint32_t> merged(arena_.begin() + int64_t(seg_begin_[q]),
                                   arena_.begin() + int64_t(seg_begin_[q] + seg_len_[q]));
      merged.insert(merged.end(), arena_.begin() + int64_t(b), arena_.begin() + int64_t(e));
      std::sort(merged.begin(), merged.end());
      merged.erase(std::unique(merged.begin(), merged.end()), merged.end());
      garbage_ += seg_len_[q] + (e - b);
      seg_begin_[q] = arena_.size();
      seg_len_[q] = uint32_t(merged.size());
      arena_.insert(arena_.end(), merged.begin(), merged.end());
    }
  }

  // Drops the lists of merged pairs and of pairs with no occurrence left (their entries are all stale), when the
  // arena is full and more than half of it is garbage (only re-created tokens get there).
  void compact() {
    std::vector<uint32_t> out;
    out.reserve(arena_.capacity());
    for (uint32_t q = 0; q < count_.size(); ++q) {
      if (count_[q] <= 0) {
        seg_len_[q] = 0;
        continue;
      }
      uint64_t b = seg_begin_[q];
      seg_begin_[q] = out.size();
      out.insert(out.end(), arena_.begin() + int64_t(b), arena_.begin() + int64_t(b + seg_len_[q]));
    }
    arena_.swap(out);
    garbage_ = 0;
  }

  void release() {
    std::vector<Pos>().swap(pos_);
    std::vector<uint32_t>().swap(arena_);
    queue_.release();
  }

  BpeTrainerOptions opts_;
  size_t cap_ = 0;                   // most tokens there can be (token ids index step_slot_)
  std::vector<std::string> tokens_;  // id -> bytes
  std::vector<uint32_t> tlen_;       // id -> byte length
  StringIdMap ids_;                  // bytes -> id (capacity for vocab_size tokens: never grows past it)

  std::vector<Pos> pos_;
  std::vector<uint64_t> big_;

  // Pairs, by index: count, left/right ids, and a run [seg_begin_, +seg_len_) of arena_ listing the positions
  // where the pair starts (may hold stale entries). (One std::vector per pair was rejected: reallocating ~170K
  // small vectors was 15% of a run and its malloc churn more.)
  std::vector<int64_t> count_;
  std::vector<uint32_t> left_, right_;
  std::vector<uint64_t> seg_begin_;
  std::vector<uint32_t> seg_len_;
  std::vector<uint32_t> arena_;
  uint64_t garbage_ = 0;  // arena entries in no pair's run
  PairMap pairs_;
  bool indexed_ = false;

  // Per-step scratch.
  struct StepSlot {
    uint32_t stamp;
    uint32_t local;
  };
  struct StepOcc {
    uint32_t local;  // index in touched_
    uint32_t pos;
  };
  std::vector<StepSlot> step_slot_;  // 2 * capacity: (x, m) at x, (m, y) at capacity + y
  std::vector<uint32_t> touched_;    // pairs that gained occurrences this step, in first-seen order
  std::vector<StepOcc> step_occ_;
  std::vector<uint64_t> step_count_;
  uint32_t step_ = 0;

  PairQueue<Worse> queue_{Worse{this}};
};

}  // namespace

BpeTrainResult train_bpe(const PieceCounter& words, const BpeTrainerOptions& opts, const TrainProgress& progress) {
  if (opts.vocab_size < 256)
    throw ValueError("vocab_size must be at least 256 (one token per byte), got " + std::to_string(opts.vocab_size));
  if (opts.vocab_size > 64u * 1024u * 1024u) throw ValueError("vocab_size is too large (max 67108864)");
  Merger m(words, opts);
  return m.run(progress);
}

}  // namespace bpe
}  // namespace fastlm
