// The reference's BPE model over characters (pipeline/models.h). Per thread, a bounded cache maps pieces to their
// tokens (pieces repeat: words of a text), keyed by the model's serial so models never see each other's entries.
#include <algorithm>
#include <atomic>
#include <cstdio>
#include <tuple>
#include <unordered_map>

#include "core/error.h"
#include "core/hash.h"
#include "core/pipeline/models.h"
#include "core/pipeline/normstr.h"

namespace fastlm {
namespace pipeline {

namespace {

constexpr uint32_t kNone = 0xFFFFFFFFu;
std::atomic<uint64_t> g_serial{1};

class HfBpe : public Model {
 public:
  HfBpe(std::vector<std::pair<std::string, uint32_t>> vocab, const std::vector<std::pair<std::string, std::string>>& merges,
        BpeOptions o)
      : o_(std::move(o)), serial_(g_serial.fetch_add(1)) {
    size_t bound = 0;
    for (auto& [t, id] : vocab) bound = std::max<size_t>(bound, size_t(id) + 1);
    tokens_.assign(bound, std::string());
    has_.assign(bound, 0);
    ids_.reserve(vocab.size() + 1);
    for (auto& [t, id] : vocab) {
      // a token listed twice keeps its last id, as a JSON object does
      uint32_t old = find(t);
      if (old != kNone) {
        if (old == id) continue;
        throw ValueError("model.vocab lists the token '" + t + "' twice");
      }
      if (!has_[id]) ++size_;
      tokens_[id] = t;
      has_[id] = 1;
      ids_.insert(tokens_[id], id, [this](uint32_t i) -> std::string_view { return tokens_[i]; });
    }
    if (o_.has_unk && find(o_.unk_token) == kNone)
      throw ValueError("model.unk_token '" + o_.unk_token + "' is not in model.vocab");
    unk_id_ = o_.has_unk ? find(o_.unk_token) : kNone;
    const size_t plen = o_.continuing_subword_prefix.size();
    merges_.reserve(merges.size() + 1);
    std::vector<std::tuple<uint32_t, uint32_t, uint32_t, uint32_t>> table;
    table.reserve(merges.size());
    for (size_t r = 0; r < merges.size(); ++r) {
      const auto& [a, b] = merges[r];
      uint32_t ia = find(a), ib = find(b);
      if (ia == kNone) throw ValueError("merge #" + std::to_string(r + 1) + ": '" + a + "' is not in model.vocab");
      if (ib == kNone) throw ValueError("merge #" + std::to_string(r + 1) + ": '" + b + "' is not in model.vocab");
      std::string merged = a + (b.size() >= plen ? b.substr(plen) : std::string());
      uint32_t im = find(merged);
      if (im == kNone)
        throw ValueError("merge #" + std::to_string(r + 1) + ": the merged token '" + merged + "' is not in model.vocab");
      table.emplace_back(ia, ib, uint32_t(r), im);
    }
    // a later duplicate of a pair overrides the earlier one (the reference collects the list into a map)
    for (size_t k = table.size(); k-- > 0;) {
      auto [ia, ib, r, im] = table[k];
      merges_.insert(ia, ib, PairMap::Value{r, im});
    }
    for (int b = 0; b < 256; ++b) {
      char name[8];
      std::snprintf(name, sizeof(name), "<0x%02X>", b);
      byte_ids_[b] = find(name);
    }
  }

  std::string type() const override { return "BPE"; }

  void tokenize(std::string_view piece, std::vector<ModelToken>& out) const override {
    Cache& c = cache();
    auto it = c.map.find(std::string(piece));
    if (it != c.map.end()) {
      out.insert(out.end(), it->second.begin(), it->second.end());
      return;
    }
    size_t before = out.size();
    encode(piece, out);
    if (piece.size() < 256) {
      if (c.map.size() > 20000) c.map.clear();
      c.map.emplace(std::string(piece), std::vector<ModelToken>(out.begin() + ptrdiff_t(before), out.end()));
    }
  }

  bool token(uint32_t id, std::string& out) const override {
    if (id >= has_.size() || !has_[id]) return false;
    out += tokens_[id];
    return true;
  }
  uint32_t token_to_id(std::string_view t) const override { return find(t); }
  size_t id_bound() const override { return tokens_.size(); }
  size_t vocab_size() const override { return size_; }

 private:
  struct Cache {
    uint64_t owner = 0;
    std::unordered_map<std::string, std::vector<ModelToken>> map;
  };
  Cache& cache() const {
    thread_local Cache c;
    if (c.owner != serial_) {
      c.map.clear();
      c.owner = serial_;
    }
    return c;
  }
  uint32_t find(std::string_view t) const {
    return ids_.find(t, [this](uint32_t i) -> std::string_view { return tokens_[i]; });
  }

  // A symbol of the word being merged. `len` is the byte length the reference counts for it: offsets are the
  // running sum of these lengths, so a dropped unknown character shifts the offsets after it, as there.
  struct Sym {
    uint32_t id, len;
    int prev, next;
  };

  void encode(std::string_view w, std::vector<ModelToken>& out) const {
    if (o_.ignore_merges) {
      uint32_t id = find(w);
      if (id != kNone) {
        out.push_back({id, 0, uint32_t(w.size())});
        return;
      }
    }
    thread_local std::vector<Sym> syms;
    thread_local std::string buf;
    syms.clear();
    bool unk_pending = false;
    uint32_t unk_len = 0;
    auto add = [&](uint32_t id, uint32_t len) { syms.push_back({id, len, int(syms.size()) - 1, -1}); };
    for (size_t i = 0; i < w.size();) {
      int len;
      char_at(w, i, len);
      size_t j = i + size_t(len);
      const bool first = i == 0, last = j == w.size();
      std::string_view s = w.substr(i, j - i);
      if ((!first && !o_.continuing_subword_prefix.empty()) || (last && !o_.end_of_word_suffix.empty())) {
        buf.clear();
        if (!first) buf += o_.continuing_subword_prefix;
        buf.append(s.data(), s.size());
        if (last) buf += o_.end_of_word_suffix;
        s = buf;
      }
      i = j;
      uint32_t id = find(s);
      if (id != kNone) {
        if (unk_pending) {
          add(unk_id_, unk_len);
          unk_pending = false;
        }
        add(id, uint32_t(len));
        continue;
      }
      if (o_.byte_fallback) {
        bool all = true;
        for (unsigned char c : s) all = all && byte_ids_[c] != kNone;
        if (all) {  // one piece of length 1 per byte; a pending unknown token stays pending, as in the reference
          for (unsigned char c : s) add(byte_ids_[c], 1);
          continue;
        }
      }
      if (o_.has_unk) {
        if (unk_pending && o_.fuse_unk) {
          unk_len += uint32_t(len);
        } else {
          if (unk_pending) add(unk_id_, unk_len);
          unk_pending = true;
          unk_len = uint32_t(len);
        }
      }
      // no unk token: the character is dropped
    }
    if (unk_pending) add(unk_id_, unk_len);
    for (size_t k = 0; k + 1 < syms.size(); ++k) syms[k].next = int(k + 1);
    if (syms.size() < kLongWord || !merge_by_rank(syms)) merge_all(syms);
    uint32_t pos = 0;
    for (int k = syms.empty() ? -1 : 0; k >= 0; k = syms[size_t(k)].next) {
      out.push_back({syms[size_t(k)].id, pos, pos + syms[size_t(k)].len});
      pos += syms[size_t(k)].len;
    }
  }

  // Long words (a megabyte of one character, of spaces, ...): merges applied rank by rank. Each pair is filed
  // under its rank; a heap holds every distinct rank once. Popping rank r, its positions are sorted and merged
  // left to right, which is exactly the heap's (rank, position) order PROVIDED every pair a merge of rank r
  // creates has a rank above r; trained vocabularies satisfy that in practice, and when one does not, this gives
  // up (false, syms untouched) and merge_all runs. Repetitive text has few distinct ranks, so the work is a few
  // sorts of nearly sorted arrays instead of ~n operations on an n-entry heap.
  static constexpr size_t kLongWord = 512;
  bool merge_by_rank(std::vector<Sym>& syms) const {
    thread_local std::vector<Sym> work;
    thread_local std::vector<uint32_t> rank, merged;
    thread_local std::unordered_map<uint32_t, std::vector<uint32_t>> buckets;
    thread_local std::vector<uint32_t> ranks;  // min-heap of distinct pending ranks
    work = syms;
    const size_t n = work.size();
    rank.assign(n, kNone);
    merged.assign(n, kNone);
    for (auto& b : buckets) b.second.clear();
    ranks.clear();
    auto cmp = std::greater<uint32_t>();
    auto file = [&](int l) {
      int r = work[size_t(l)].next;
      rank[size_t(l)] = kNone;
      if (r < 0) return;
      const PairMap::Value* v = merges_.find(work[size_t(l)].id, work[size_t(r)].id);
      if (!v) return;
      rank[size_t(l)] = v->a;
      merged[size_t(l)] = v->b;
      auto& b = buckets[v->a];
      if (b.empty()) {
        ranks.push_back(v->a);
        std::push_heap(ranks.begin(), ranks.end(), cmp);
      }
      b.push_back(uint32_t(l));
    };
    for (size_t k = 0; k + 1 < n; ++k) file(int(k));
    std::vector<uint32_t> todo;
    while (!ranks.empty()) {
      std::pop_heap(ranks.begin(), ranks.end(), cmp);
      const uint32_t r = ranks.back();
      ranks.pop_back();
      todo.swap(buckets[r]);
      buckets[r].clear();
      std::sort(todo.begin(), todo.end());
      for (uint32_t p : todo) {
        Sym& l = work[p];
        if (rank[p] != r || l.len == 0 || l.next < 0) continue;  // stale: the pair changed since it was filed
        Sym& rs = work[size_t(l.next)];
        l.id = merged[p];
        l.len += rs.len;
        rs.len = 0;
        rank[size_t(l.next)] = kNone;
        l.next = rs.next;
        if (l.next >= 0) work[size_t(l.next)].prev = int(p);
        if (l.prev >= 0) {
          file(l.prev);
          if (rank[size_t(l.prev)] != kNone && rank[size_t(l.prev)] <= r) return false;
        }
        file(int(p));
        if (rank[p] != kNone && rank[p] <= r) return false;
      }
      todo.clear();
    }
    syms.swap(work);
    return true;
  }

  void merge_all(std::vector<Sym>& syms) const {
    if (syms.size() < 2) return;
    struct Cand {
      uint32_t rank, pos, merged;
      bool operator<(const Cand& o) const { return rank != o.rank ? rank > o.rank : pos > o.pos; }  // min-heap
    };
    thread_local std::vector<Cand> heap;
    heap.clear();
    auto consider = [&](int l) {
      int r = syms[size_t(l)].next;
      if (r < 0) return;
      const PairMap::Value* v = merges_.find(syms[size_t(l)].id, syms[size_t(r)].id);
      if (v) {
        heap.push_back({v->a, uint32_t(l), v->b});
        std::push_heap(heap.begin(), heap.end());
      }
    };
    for (size_t k = 0; k + 1 < syms.size(); ++k) consider(int(k));
    while (!heap.empty()) {
      std::pop_heap(heap.begin(), heap.end());
      Cand c = heap.back();
      heap.pop_back();
      Sym& l = syms[c.pos];
      if (l.len == 0 || l.next < 0) continue;  // removed, or last
      Sym& r = syms[size_t(l.next)];
      const PairMap::Value* v = merges_.find(l.id, r.id);
      if (!v || v->b != c.merged) continue;  // stale entry
      l.id = c.merged;
      l.len += r.len;
      r.len = 0;
      l.next = r.next;
      if (l.next >= 0) syms[size_t(l.next)].prev = int(c.pos);
      if (l.prev >= 0) consider(l.prev);
      consider(int(c.pos));
    }
  }

  BpeOptions o_;
  uint64_t serial_;
  std::vector<std::string> tokens_;
  std::vector<uint8_t> has_;
  StringIdMap ids_;
  size_t size_ = 0;
  uint32_t unk_id_ = kNone;
  PairMap merges_;
  uint32_t byte_ids_[256];
};

}  // namespace

ModelPtr make_bpe(std::vector<std::pair<std::string, uint32_t>> vocab,
                  const std::vector<std::pair<std::string, std::string>>& merges, BpeOptions opts) {
  return std::make_shared<HfBpe>(std::move(vocab), merges, std::move(opts));
}

}  // namespace pipeline
}  // namespace fastlm
