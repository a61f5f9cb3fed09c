#include "core/bpe/model.h"

#include <algorithm>
#include <atomic>
#include <cstring>
#include <queue>
#include <tuple>

#include "core/error.h"

namespace fastlm {
namespace bpe {

namespace {
std::atomic<uint64_t> g_serial{1};
thread_local BpeScratch t_scratch;
}  // namespace

BpeScratch& thread_scratch(uint64_t serial) {
  if (t_scratch.owner != serial) t_scratch.reset(serial);
  return t_scratch;
}

namespace {
std::string hex_byte(unsigned c) {
  static const char* d = "0123456789abcdef";
  std::string s = "0x";
  s.push_back(d[c >> 4]);
  s.push_back(d[c & 15]);
  return s;
}
std::string printable(std::string_view s) {
  std::string out;
  for (unsigned char c : s) {
    if (c >= 0x20 && c < 0x7f && c != '\\') out.push_back(static_cast<char>(c));
    else out += "\\x" + hex_byte(c).substr(2);
  }
  return out;
}
}  // namespace

BpeModel::BpeModel(std::vector<std::pair<std::string, uint32_t>> vocab,
                   const std::vector<std::pair<std::string, std::string>>* merges, bool whole_piece_lookup)
    : whole_piece_lookup_(whole_piece_lookup), serial_(g_serial.fetch_add(1)) {
  if (vocab.empty()) throw ValueError("BPE vocabulary is empty");
  uint32_t max_id = 0;
  for (auto& kv : vocab) {
    if (kv.second == kNoId) throw ValueError("token id 4294967295 is reserved");
    if (kv.first.empty()) throw ValueError("BPE vocabulary contains an empty token (id " + std::to_string(kv.second) + ")");
    max_id = std::max(max_id, kv.second);
  }
  if (max_id > 64u * 1024u * 1024u) throw ValueError("token id " + std::to_string(max_id) + " is too large (max 67108864)");
  std::vector<const std::string*> by_id(size_t(max_id) + 1, nullptr);
  for (auto& kv : vocab) {
    if (by_id[kv.second])
      throw ValueError("duplicate token id " + std::to_string(kv.second) + " for '" + printable(kv.first) + "' and '" +
                       printable(*by_id[kv.second]) + "'");
    by_id[kv.second] = &kv.first;
  }
  offsets_.assign(size_t(max_id) + 2, 0);
  present_.assign(size_t(max_id) + 1, 0);
  size_t total = 0;
  for (auto* s : by_id) total += s ? s->size() : 0;
  arena_.reserve(total);
  for (size_t id = 0; id <= max_id; ++id) {
    offsets_[id] = arena_.size();
    if (by_id[id]) {
      arena_ += *by_id[id];
      present_[id] = 1;
    }
  }
  offsets_[size_t(max_id) + 1] = arena_.size();
  n_tokens_ = vocab.size();
  map_.reserve(n_tokens_);
  auto get = [this](uint32_t id) { return token_bytes(id); };
  for (size_t id = 0; id <= max_id; ++id) {
    if (!present_[id]) continue;
    if (!map_.insert(token_bytes(uint32_t(id)), uint32_t(id), get))
      throw ValueError("duplicate token bytes '" + printable(token_bytes(uint32_t(id))) + "' (ids " +
                       std::to_string(find(token_bytes(uint32_t(id)))) + " and " + std::to_string(id) + ")");
  }
  for (unsigned c = 0; c < 256; ++c) {
    char ch = static_cast<char>(c);
    byte_id_[c] = find(std::string_view(&ch, 1));
    if (byte_id_[c] == kNoId)
      throw ValueError("byte-level BPE vocabulary has no token for the single byte " + hex_byte(c) +
                       "; all 256 bytes are required");
  }
  if (merges && !merges->empty()) {
    uses_merges_ = true;
    pairs_.reserve(merges->size());
    uint32_t prio = 0;
    std::string buf;
    std::vector<std::array<uint32_t, 3>> listed;  // (left, right, merged) in priority order, first occurrences
    listed.reserve(merges->size());
    for (const auto& m : *merges) {
      uint32_t l = find(m.first), r = find(m.second);
      if (l == kNoId || r == kNoId)
        throw ValueError("merge #" + std::to_string(prio + 1) + " ('" + printable(m.first) + "' '" + printable(m.second) +
                         "') uses a token that is not in the vocabulary");
      buf = m.first + m.second;
      uint32_t merged = find(buf);
      if (merged == kNoId)
        throw ValueError("merge #" + std::to_string(prio + 1) + " ('" + printable(m.first) + "' '" + printable(m.second) +
                         "') produces '" + printable(buf) + "', which is not in the vocabulary");
      if (pairs_.insert(l, r, PairMap::Value{prio, merged}))  // first occurrence wins, as in HF
        listed.push_back({l, r, merged});
      ++prio;
    }
    build_byte_pairs();
    build_backtracker(&listed);
    return;
  } else {
    // tiktoken rule: every split of every token into two tokens is a merge, with the merged token's rank.
    pairs_.reserve(n_tokens_ * 2);
    for (size_t id = 0; id <= max_id; ++id) {
      if (!present_[id]) continue;
      std::string_view t = token_bytes(uint32_t(id));
      for (size_t k = 1; k < t.size(); ++k) {
        uint32_t l = find(t.substr(0, k));
        if (l == kNoId) continue;
        uint32_t r = find(t.substr(k));
        if (r == kNoId) continue;
        pairs_.insert(l, r, PairMap::Value{uint32_t(id), uint32_t(id)});
      }
    }
  }
  build_byte_pairs();
  build_backtracker(nullptr);
}

void BpeModel::build_backtracker(const std::vector<std::array<uint32_t, 3>>* merges) {
  Backtracker::Source src;
  src.id_bound = id_bound();
  src.present = [this](uint32_t id) { return present_[id] != 0; };
  src.bytes = [this](uint32_t id) { return token_bytes(id); };
  src.reference = [this](std::string_view b, std::vector<uint32_t>& out) {
    encode_merge(reinterpret_cast<const unsigned char*>(b.data()), b.size(), out, nullptr);
  };
  auto bt = std::make_unique<Backtracker>();
  bool ok = merges ? bt->build_merges(src, *merges) : bt->build_ranks(src);
  if (ok) bt_ = std::move(bt);
}

void BpeModel::build_byte_pairs() {
  byte_pairs_.assign(65536, PairMap::Value{kNoId, kNoId});
  for (uint32_t a = 0; a < 256; ++a)
    for (uint32_t b = 0; b < 256; ++b) {
      const PairMap::Value* v = pairs_.find(byte_id_[a], byte_id_[b]);
      if (v) byte_pairs_[(a << 8) | b] = *v;
    }
}

std::vector<std::tuple<uint32_t, uint32_t, uint32_t, uint32_t>> BpeModel::merge_table() const {
  std::vector<std::tuple<uint32_t, uint32_t, uint32_t, uint32_t>> out;
  out.reserve(pairs_.size());
  pairs_.for_each([&](uint32_t l, uint32_t r, PairMap::Value v) { out.emplace_back(l, r, v.a, v.b); });
  std::sort(out.begin(), out.end(), [](const auto& x, const auto& y) {
    return std::tie(std::get<2>(x), std::get<0>(x), std::get<1>(x)) < std::tie(std::get<2>(y), std::get<0>(y), std::get<1>(y));
  });
  return out;
}

void BpeModel::encode_piece(std::string_view piece, std::vector<uint32_t>& out, BpeScratch* scratch) const {
  const auto* p = reinterpret_cast<const unsigned char*>(piece.data());
  size_t n = piece.size();
  if (n == 0) return;
  if (n == 1) {
    out.push_back(byte_id_[p[0]]);
    return;
  }
  if (scratch && n <= BpeScratch::kMaxKey) {
    uint64_t h = hash_bytes(p, n);
    uint32_t tag = uint32_t(h >> 32) | 1;
    BpeScratch::Slot* set = &scratch->slots[2 * (h & (BpeScratch::kSets - 1))];
    for (int w = 0; w < 2; ++w) {
      BpeScratch::Slot& s = set[w];
      if (s.tag == tag && s.klen == n && std::memcmp(s.key, p, n) == 0) {
        out.insert(out.end(), s.ids, s.ids + s.nids);
        return;
      }
    }
    size_t first = out.size();
    encode_uncached(p, n, out, scratch);
    size_t k = out.size() - first;
    if (k <= BpeScratch::kMaxIds) {
      set[1] = set[0];  // the older entry moves to way 1 (evicting what was there)
      BpeScratch::Slot& s = set[0];
      s.tag = tag;
      s.klen = uint8_t(n);
      s.nids = uint8_t(k);
      std::memcpy(s.key, p, n);
      std::memcpy(s.ids, out.data() + first, k * sizeof(uint32_t));
    }
    return;
  }
  encode_uncached(p, n, out, scratch);
}

void BpeModel::encode_uncached(const unsigned char* p, size_t n, std::vector<uint32_t>& out, BpeScratch* scratch) const {
  if (bt_ && bt_->encode(p, n, whole_piece_lookup_, out, scratch)) return;
  if (whole_piece_lookup_) {
    uint32_t id = find(std::string_view(reinterpret_cast<const char*>(p), n));
    if (id != kNoId) {
      out.push_back(id);
      return;
    }
  }
  encode_merge(p, n, out, scratch);
}

void BpeModel::encode_piece_with(Method method, std::string_view piece, std::vector<uint32_t>& out) const {
  const auto* p = reinterpret_cast<const unsigned char*>(piece.data());
  size_t n = piece.size();
  if (n == 0) return;
  if (n == 1) {
    out.push_back(byte_id_[p[0]]);
    return;
  }
  if (method == Method::kAuto) return encode_piece(piece, out, &thread_scratch(serial_));
  if (method == Method::kBacktrack) {
    if (!bt_) throw ValueError("this BPE model has no backtracking encoder (its merges are not rank-monotone)");
    if (!bt_->encode(p, n, whole_piece_lookup_, out, nullptr))
      throw ValueError("backtracking encoder found no encoding (inconsistent tables)");
    return;
  }
  if (whole_piece_lookup_) {
    uint32_t id = find(piece);
    if (id != kNoId) {
      out.push_back(id);
      return;
    }
  }
  encode_merge(p, n, out, nullptr);
}

void BpeModel::encode_merge(const unsigned char* p, size_t n, std::vector<uint32_t>& out, BpeScratch* scratch) const {
  if (n == 1) {
    out.push_back(byte_id_[p[0]]);
    return;
  }
  if (n <= kSmallPiece) {
    encode_small(p, n, out, scratch);
  } else if (n >= kLongPiece && scratch) {
    size_t first = out.size();
    if (!encode_long(p, n, out, *scratch)) {
      out.resize(first);
      encode_heap(p, n, out, scratch);
    }
  } else {
    encode_heap(p, n, out, scratch);
  }
}

void BpeModel::encode_small(const unsigned char* p, size_t n, std::vector<uint32_t>& out, BpeScratch* scratch) const {
  // parts: ids[0..m); pri[i]/mid[i] describe merging parts i and i+1.
  uint32_t ids[kSmallPiece], pri[kSmallPiece], mid[kSmallPiece];
  size_t m = n;
  for (size_t i = 0; i < n; ++i) ids[i] = byte_id_[p[i]];
  auto set_pair = [&](size_t i) { pri[i] = lookup(scratch, ids[i], ids[i + 1], mid[i]); };
  for (size_t i = 0; i + 1 < m; ++i) {
    const PairMap::Value* v = byte_pair(p[i], p[i + 1]);
    pri[i] = v ? v->a : kNoId;
    mid[i] = v ? v->b : kNoId;
  }
  while (m > 1) {
    // Leftmost minimum, branch-free (cmov): the comparison outcome is data-dependent and mispredicts often.
    size_t best = 0;
    uint32_t bp = pri[0];
    for (size_t i = 1; i + 1 < m; ++i) {
      uint32_t v = pri[i];
      bool lt = v < bp;
      bp = lt ? v : bp;
      best = lt ? i : best;
    }
    if (bp == kNoId) break;
    ids[best] = mid[best];
    // erase part best+1
    size_t tail = m - best - 2;
    std::memmove(ids + best + 1, ids + best + 2, tail * sizeof(uint32_t));
    std::memmove(pri + best + 1, pri + best + 2, tail * sizeof(uint32_t));
    std::memmove(mid + best + 1, mid + best + 2, tail * sizeof(uint32_t));
    --m;
    if (best + 1 < m) set_pair(best);
    if (best > 0) set_pair(best - 1);
  }
  out.insert(out.end(), ids, ids + m);
}

void BpeModel::init_parts(const unsigned char* p, size_t n, BpeScratch& sc) const {
  // One part per byte, linked both ways; rank/merged describe each part's pair with its right neighbour.
  sc.ids.resize(n);
  sc.next.resize(n);
  sc.prev.resize(n);
  sc.rank.resize(n);
  sc.merged.resize(n);
  for (size_t i = 0; i < n; ++i) {
    sc.ids[i] = byte_id_[p[i]];
    sc.next[i] = uint32_t(i + 1);
    sc.prev[i] = i ? uint32_t(i - 1) : kNoId;
  }
  sc.next[n - 1] = kNoId;
  sc.rank[n - 1] = kNoId;
  for (size_t i = 0; i + 1 < n; ++i) {
    const PairMap::Value* v = byte_pair(p[i], p[i + 1]);
    sc.rank[i] = v ? v->a : kNoId;
    sc.merged[i] = v ? v->b : kNoId;
  }
}

void BpeModel::encode_heap(const unsigned char* p, size_t n, std::vector<uint32_t>& out, BpeScratch* scratch) const {
  // Nodes are byte positions; a merged part lives at its leftmost position. rank[i] is the current priority of
  // the pair (i, next[i]) (kNoId: none). Heap entries are packed (priority << 32 | position) so the heap compares
  // one u64 (ties -> leftmost); an entry is stale when rank[pos] no longer equals its priority (lazy deletion).
  // A stale entry whose priority happens to equal the current one denotes the same merge at the same place, so
  // taking it is exact. (16-byte entries carrying both ids were ~1.6x slower: twice the memory per sift.)
  BpeScratch local;
  BpeScratch& sc = scratch ? *scratch : local;
  init_parts(p, n, sc);
  uint32_t* ids = sc.ids.data();
  uint32_t* next = sc.next.data();
  uint32_t* prev = sc.prev.data();
  uint32_t* rank = sc.rank.data();
  uint32_t* mid = sc.merged.data();
  std::vector<uint64_t>& heap = sc.heap;
  heap.clear();
  for (size_t i = 0; i + 1 < n; ++i)
    if (rank[i] != kNoId) heap.push_back((uint64_t(rank[i]) << 32) | i);
  auto cmp = std::greater<uint64_t>();
  std::make_heap(heap.begin(), heap.end(), cmp);
  auto update = [&](uint32_t i) {
    uint32_t j = next[i];
    rank[i] = j == kNoId ? kNoId : lookup(scratch, ids[i], ids[j], mid[i]);
    if (rank[i] != kNoId) {
      heap.push_back((uint64_t(rank[i]) << 32) | i);
      std::push_heap(heap.begin(), heap.end(), cmp);
    }
  };
  while (!heap.empty()) {
    std::pop_heap(heap.begin(), heap.end(), cmp);
    uint64_t e = heap.back();
    heap.pop_back();
    uint32_t i = uint32_t(e);
    if (rank[i] != uint32_t(e >> 32)) continue;  // stale
    uint32_t j = next[i];
    ids[i] = mid[i];
    uint32_t k = next[j];
    next[i] = k;
    if (k != kNoId) prev[k] = i;
    rank[j] = kNoId;
    if (prev[i] != kNoId) update(prev[i]);
    update(i);
  }
  for (uint32_t i = 0; i != kNoId; i = next[i]) out.push_back(ids[i]);
}

bool BpeModel::encode_long(const unsigned char* p, size_t n, std::vector<uint32_t>& out, BpeScratch& sc) const {
  // Long pieces (1 MB of one character, of spaces, ...): merges are applied rank by rank. Every pair of rank r is
  // appended to rank r's bucket; a heap holds each distinct rank once. Popping rank r, its positions are sorted
  // and merged left to right, which is exactly the leftmost-lowest order of the heap algorithm PROVIDED every pair
  // created by a merge of rank r has a rank above r. That holds for trained vocabularies in practice; when it
  // does not, this returns false and the caller reruns the piece with encode_heap (exact in all cases).
  // Repetitive input has few distinct ranks, so the work is a few sorts of nearly sorted arrays instead of
  // ~n heap operations on an n-entry heap (measured ~5x faster on 1 MB of one character).
  if (sc.bucket_of_rank.size() < id_bound()) sc.bucket_of_rank.assign(id_bound(), kNoId);
  init_parts(p, n, sc);
  uint32_t* ids = sc.ids.data();
  uint32_t* next = sc.next.data();
  uint32_t* prev = sc.prev.data();
  uint32_t* rank = sc.rank.data();
  uint32_t* mid = sc.merged.data();
  sc.bucket_rank.clear();
  sc.bucket_head.clear();
  sc.entry_pos.clear();
  sc.entry_next.clear();
  std::vector<uint64_t>& heap = sc.heap;  // distinct ranks (as u64 for the shared buffer)
  heap.clear();
  auto cmp = std::greater<uint64_t>();
  auto add = [&](uint32_t r, uint32_t pos) {
    uint32_t b = sc.bucket_of_rank[r];
    if (b == kNoId) {
      b = uint32_t(sc.bucket_rank.size());
      sc.bucket_of_rank[r] = b;
      sc.bucket_rank.push_back(r);
      sc.bucket_head.push_back(kNoId);
      heap.push_back(r);
      std::push_heap(heap.begin(), heap.end(), cmp);
    }
    sc.entry_pos.push_back(pos);
    sc.entry_next.push_back(sc.bucket_head[b]);
    sc.bucket_head[b] = uint32_t(sc.entry_pos.size() - 1);
  };
  for (size_t i = 0; i + 1 < n; ++i)
    if (rank[i] != kNoId) add(rank[i], uint32_t(i));
  bool ok = true;
  while (ok && !heap.empty()) {
    std::pop_heap(heap.begin(), heap.end(), cmp);
    uint32_t r = uint32_t(heap.back());
    heap.pop_back();
    uint32_t b = sc.bucket_of_rank[r];
    std::vector<uint32_t>& g = sc.gather;
    g.clear();
    for (uint32_t e = sc.bucket_head[b]; e != kNoId; e = sc.entry_next[e]) g.push_back(sc.entry_pos[e]);
    sc.bucket_head[b] = kNoId;
    std::reverse(g.begin(), g.end());  // appended mostly left to right
    if (!std::is_sorted(g.begin(), g.end())) std::sort(g.begin(), g.end());
    for (uint32_t i : g) {
      if (rank[i] != r) continue;  // stale
      uint32_t j = next[i];
      ids[i] = mid[i];
      uint32_t k = next[j];
      next[i] = k;
      if (k != kNoId) prev[k] = i;
      rank[j] = kNoId;
      for (uint32_t q : {prev[i], i}) {
        if (q == kNoId) continue;
        uint32_t nq = next[q];
        rank[q] = nq == kNoId ? kNoId : lookup(&sc, ids[q], ids[nq], mid[q]);
        if (rank[q] == kNoId) continue;
        if (rank[q] <= r) {
          ok = false;  // a merge created a pair that outranks it: not rank-monotone here
          break;
        }
        add(rank[q], q);
      }
      if (!ok) break;
    }
  }
  for (uint32_t r : sc.bucket_rank) sc.bucket_of_rank[r] = kNoId;
  if (!ok) return false;
  for (uint32_t i = 0; i != kNoId; i = next[i]) out.push_back(ids[i]);
  return true;
}

}  // namespace bpe
}  // namespace fastlm
