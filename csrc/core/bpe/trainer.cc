#include "core/bpe/trainer.h"

#include <algorithm>
#include <cstring>

#include "core/error.h"
#include "core/hash.h"

namespace fastlm {
namespace bpe {

namespace {

constexpr uint32_t kNone = 0xFFFFFFFFu;
constexpr uint32_t kDead = 0xFFFFFFFEu;

// Unsigned lexicographic comparison of byte strings (std::string compares char, which may be signed).
int cmp_bytes(const std::string& a, const std::string& b) {
  size_t n = std::min(a.size(), b.size());
  int c = n ? std::memcmp(a.data(), b.data(), n) : 0;
  if (c) return c;
  return a.size() < b.size() ? -1 : a.size() > b.size() ? 1 : 0;
}

class Merger {
 public:
  Merger(const PieceCounter& counts, const BpeTrainerOptions& opts) : opts_(opts) {
    tokens_.reserve(std::max<size_t>(opts.vocab_size, 256));
    ids_.reserve(std::max<size_t>(opts.vocab_size, 256) + 16);
    for (unsigned c = 0; c < 256; ++c) add_token(std::string(1, char(c)));
    load_words(counts);
    count_initial_pairs();
  }

  BpeTrainResult run(const TrainProgress& progress) {
    BpeTrainResult res;
    size_t target = opts_.vocab_size;
    size_t every = std::max<size_t>(1, target / 200);
    size_t last_report = 0;
    while (tokens_.size() < target && !heap_.empty()) {
      std::pop_heap(heap_.begin(), heap_.end(), worse_);
      Entry e = heap_.back();
      heap_.pop_back();
      int64_t now = count_[e.pair];
      if (e.count != now) {  // stale: the pair lost occurrences since this entry was pushed
        if (now > 0 && uint64_t(now) >= opts_.min_frequency) push(e.pair);
        continue;
      }
      if (uint64_t(now) < opts_.min_frequency) break;  // the freshest maximum is below the threshold
      uint32_t a = left_[e.pair], b = right_[e.pair];
      std::string bytes = tokens_[a] + tokens_[b];
      uint32_t id = find_token(bytes);
      if (id == kNoId) id = add_token(std::move(bytes));
      res.merges.push_back(BpeMerge{a, b, id, uint64_t(now)});
      apply(e.pair, id);
      if (progress && tokens_.size() - last_report >= every) {
        last_report = tokens_.size();
        progress(tokens_.size(), target);
      }
    }
    if (progress) progress(tokens_.size(), target);
    std::vector<std::pair<std::string, uint32_t>> vocab;
    vocab.reserve(tokens_.size());
    for (size_t i = 0; i < tokens_.size(); ++i) vocab.emplace_back(std::move(tokens_[i]), uint32_t(i));
    res.model = std::make_shared<BpeModel>(std::move(vocab), nullptr, true);
    return res;
  }

 private:
  struct Entry {
    int64_t count;
    uint32_t pair;
  };

  // Heap order: "a is worse than b" = lower count, or equal count and a's pair bytes sort after b's.
  struct Worse {
    const Merger* m;
    bool operator()(const Entry& x, const Entry& y) const {
      if (x.count != y.count) return x.count < y.count;
      int c = cmp_bytes(m->tokens_[m->left_[x.pair]], m->tokens_[m->left_[y.pair]]);
      if (c == 0) c = cmp_bytes(m->tokens_[m->right_[x.pair]], m->tokens_[m->right_[y.pair]]);
      return c > 0;
    }
  };

  uint32_t add_token(std::string bytes) {
    uint32_t id = uint32_t(tokens_.size());
    tokens_.push_back(std::move(bytes));
    if (!ids_.insert(tokens_.back(), id, [this](uint32_t i) -> std::string_view { return tokens_[i]; }))
      throw Error("internal error: duplicate token in BPE training");
    return id;
  }
  uint32_t find_token(const std::string& bytes) const {
    return ids_.find(bytes, [this](uint32_t i) -> std::string_view { return tokens_[i]; });
  }

  void load_words(const PieceCounter& counts) {
    std::vector<std::pair<std::string_view, uint64_t>> ws;
    ws.reserve(counts.size());
    size_t total = 0;
    counts.for_each([&](std::string_view s, uint64_t c) {
      if (s.size() < 2) return;  // a single byte has no pair to merge
      ws.emplace_back(s, c);
      total += s.size();
    });
    std::sort(ws.begin(), ws.end(), [](const auto& x, const auto& y) {
      size_t n = std::min(x.first.size(), y.first.size());
      int c = std::memcmp(x.first.data(), y.first.data(), n);
      return c ? c < 0 : x.first.size() < y.first.size();
    });
    if (total >= kNone) throw ValueError("the distinct pre-tokens hold more than 4 GiB of text; train on less data");
    pos_.reserve(total);
    wcount_.reserve(ws.size());
    for (const auto& w : ws) {
      uint32_t first = uint32_t(pos_.size()), wid = uint32_t(wcount_.size());
      wcount_.push_back(w.second);
      for (size_t i = 0; i < w.first.size(); ++i)
        pos_.push_back(Pos{(unsigned char)w.first[i], i ? first + uint32_t(i) - 1 : kNone,
                           i + 1 < w.first.size() ? first + uint32_t(i) + 1 : kNone, wid});
    }
  }

  bool too_long(uint32_t a, uint32_t b) const {
    return opts_.max_token_length && tokens_[a].size() + tokens_[b].size() > opts_.max_token_length;
  }

  uint32_t pair_of(uint32_t a, uint32_t b) {
    const PairMap::Value* v = pairs_.find(a, b);
    if (v) return v->a;
    uint32_t idx = uint32_t(count_.size());
    pairs_.insert(a, b, PairMap::Value{idx, 0});
    count_.push_back(0);
    left_.push_back(a);
    right_.push_back(b);
    where_.emplace_back();
    stamp_.push_back(0);
    unsorted_.push_back(0);
    return idx;
  }

  void count_initial_pairs() {
    for (uint32_t g = 0; g < pos_.size(); ++g) {
      uint32_t h = pos_[g].next;
      if (h == kNone || too_long(pos_[g].sym, pos_[h].sym)) continue;
      uint32_t p = pair_of(pos_[g].sym, pos_[h].sym);
      count_[p] += int64_t(wcount_[pos_[g].word]);
      where_[p].push_back(g);
    }
    heap_.reserve(count_.size() * 2);
    for (uint32_t p = 0; p < count_.size(); ++p)
      if (uint64_t(count_[p]) >= opts_.min_frequency) heap_.push_back(Entry{count_[p], p});
    std::make_heap(heap_.begin(), heap_.end(), worse_);
  }

  void push(uint32_t p) {
    heap_.push_back(Entry{count_[p], p});
    std::push_heap(heap_.begin(), heap_.end(), worse_);
  }

  void dec(uint32_t a, uint32_t b, uint64_t c) {
    const PairMap::Value* v = pairs_.find(a, b);
    if (v) count_[v->a] -= int64_t(c);  // absent = never tracked (too long)
  }
  // The pair (a, b) gained c occurrences at position g (its left token).
  void inc(uint32_t a, uint32_t b, uint64_t c, uint32_t g) {
    if (too_long(a, b)) return;
    uint32_t p = pair_of(a, b);
    count_[p] += int64_t(c);
    std::vector<uint32_t>& wl = where_[p];
    if (!wl.empty() && wl.back() >= g) unsorted_[p] = 1;
    wl.push_back(g);
    if (stamp_[p] != step_) {
      stamp_[p] = step_;
      touched_.push_back(p);
    }
  }

  // Merges every occurrence of pair p = (a, b) into token m, left to right within each word (so "a a a" with
  // (a, a) gives "aa a"). Occurrences are checked against the current symbols: an entry is stale when either
  // side has since been merged into something else (symbols only ever grow, so a position that no longer holds
  // a can never hold it again).
  void apply(uint32_t p, uint32_t m) {
    ++step_;
    touched_.clear();
    uint32_t a = left_[p], b = right_[p];
    std::vector<uint32_t> occ;
    occ.swap(where_[p]);
    if (unsorted_[p]) {
      std::sort(occ.begin(), occ.end());
      occ.erase(std::unique(occ.begin(), occ.end()), occ.end());
      unsorted_[p] = 0;
    }
    for (uint32_t g : occ) {
      Pos& pg = pos_[g];
      if (pg.sym != a) continue;
      uint32_t h = pg.next;
      if (h == kNone) continue;
      Pos& ph = pos_[h];
      if (ph.sym != b) continue;
      uint64_t c = wcount_[pg.word];
      uint32_t pv = pg.prev, nx = ph.next;
      if (pv != kNone) {
        uint32_t s_pv = pos_[pv].sym;
        dec(s_pv, a, c);
        inc(s_pv, m, c, pv);
      }
      if (nx != kNone) {
        Pos& pn = pos_[nx];
        dec(b, pn.sym, c);
        inc(m, pn.sym, c, g);
        pn.prev = g;
      }
      pg.sym = m;
      ph.sym = kDead;
      pg.next = nx;
    }
    count_[p] = 0;
    for (uint32_t q : touched_)
      if (count_[q] > 0 && uint64_t(count_[q]) >= opts_.min_frequency) push(q);
  }

  BpeTrainerOptions opts_;
  std::vector<std::string> tokens_;  // id -> bytes
  StringIdMap ids_;                  // bytes -> id (capacity for vocab_size tokens: never grows past it)
  // Words, as doubly linked lists over one array of positions (one per byte of each distinct pre-token; a
  // merged token lives at its leftmost position, the others become kDead): sym = token id, prev/next = the
  // neighbouring live positions in the same word (kNone at the ends), word -> the word's count.
  // One 16-byte record per position (array of structs): a merge step touches sym/prev/next/word of a position
  // and its neighbour together, so they share a cache line (separate arrays cost ~4 misses per occurrence).
  struct Pos {
    uint32_t sym;
    uint32_t prev;
    uint32_t next;
    uint32_t word;
  };
  std::vector<Pos> pos_;
  std::vector<uint64_t> wcount_;
  // pairs: index -> count, left/right ids, words that contain it (may list a word twice or stale words)
  PairMap pairs_;
  std::vector<int64_t> count_;
  std::vector<uint32_t> left_, right_;
  std::vector<std::vector<uint32_t>> where_;  // pair -> positions of its left token (may hold stale entries)
  std::vector<uint8_t> unsorted_;            // where_ list is out of position order (merges that reuse a token)
  std::vector<uint32_t> stamp_;  // last merge step that pushed the pair to touched_
  std::vector<uint32_t> touched_;
  uint32_t step_ = 0;
  std::vector<Entry> heap_;
  Worse worse_{this};
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
