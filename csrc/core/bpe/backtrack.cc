#include "core/bpe/backtrack.h"

#include "core/bpe/model.h"

namespace fastlm {
namespace bpe {

namespace {
constexpr uint32_t kNone = TokenTrie::kNone;
}

// The memo (per-thread, direct-mapped): ids < 2^26 (BpeModel's limit), so a << 32 | b << 1 | 1 is a nonzero tag;
// bit 63 holds the answer. The probe is inline in encode(), with the table fetched once per piece; only a miss
// calls here. Rejected: the probe behind a call per pair (~20 of the ~50 instructions a pair took on o200k).
bool Backtracker::compatible_miss(uint32_t a, uint32_t b, uint64_t& slot, uint64_t tag) const {
  bool ok = compatible(a, b);
  slot = tag | (uint64_t(ok) << 63);
  return ok;
}

void Backtracker::size_filter(size_t pairs) {
  size_t words = 64;
  while (words * 64 < pairs * 8) words *= 2;  // >= 8 bits per pair: ~5% false positives with 2 bits per key
  filter_.assign(words, 0);
  filter_shift_ = 64;
  for (size_t w = words; w > 1; w >>= 1) --filter_shift_;
}

void Backtracker::init_tables(const Source& src) {
  // The trie over every token (structure only; matchable bits are set as tokens are classified), single bytes
  // matchable from the start.
  std::vector<std::pair<std::string_view, uint32_t>> all;
  for (size_t id = 0; id < src.id_bound; ++id)
    if (src.present(uint32_t(id))) all.emplace_back(src.bytes(uint32_t(id)), uint32_t(id));
  trie_.build(all);
  split_.assign(src.id_bound, Split{kNone, kNone});
  order_.assign(src.id_bound, 0);
  len_.assign(src.id_bound, 0);
  matchable_.assign(src.id_bound, 0);
  node_.assign(src.id_bound, kNone);
  for (auto& e : all) {
    uint32_t id = e.second;
    node_[id] = trie_.node_of(reinterpret_cast<const unsigned char*>(e.first.data()), e.first.size());
    split_[id] = Split{id, id};
    len_[id] = uint32_t(e.first.size());
    if (e.first.size() == 1) {
      matchable_[id] = 1;
      trie_.set_matchable(node_[id]);
    }
  }
}

void Backtracker::set_split(uint32_t id, uint32_t a, uint32_t b, uint32_t order) {
  split_[id] = Split{a, b};
  order_[id] = order;
  canon_.insert(a, b, PairMap::Value{order, id});
  add_filter(a, b);
  matchable_[id] = 1;
  trie_.set_matchable(node_[id]);
}

bool Backtracker::build_ranks(const Source& src) {
  init_tables(src);
  size_filter(src.id_bound);
  canon_.reserve(src.id_bound);
  uint32_t max_single = 0, min_multi = kNone;
  for (size_t i = 0; i < src.id_bound; ++i) {
    if (node_[i] == kNone) continue;
    if (len_[i] == 1) max_single = std::max(max_single, uint32_t(i));
    else min_multi = std::min(min_multi, uint32_t(i));
  }
  rank_is_id_ = min_multi == kNone || max_single < min_multi;
  leaf_bound_ = max_single + 1;
  std::vector<std::pair<uint32_t, uint32_t>> prefixes;  // (node, depth)
  for (size_t i = 0; i < src.id_bound; ++i) {
    uint32_t id = uint32_t(i);
    if (node_[id] == kNone || len_[id] == 1) continue;
    std::string_view t = src.bytes(id);
    const auto* p = reinterpret_cast<const unsigned char*>(t.data());
    // Candidate splits (a, rest) with a a matchable proper prefix, longest first; matchable tokens so far all
    // have a lower rank. At most one candidate is compatible (BPE of the token's bytes is deterministic).
    prefixes.clear();
    trie_.for_each_prefix(p, t.size() - 1, [&](uint32_t nd, size_t depth) {
      if (trie_.matchable(nd)) prefixes.emplace_back(nd, uint32_t(depth));
    });
    for (size_t k = prefixes.size(); k-- > 0;) {
      uint32_t a = trie_.id_at(prefixes[k].first);
      uint32_t d = prefixes[k].second;
      uint32_t nb = trie_.node_of(p + d, t.size() - d);
      if (nb == kNone || !trie_.matchable(nb)) continue;
      uint32_t b = trie_.id_at(nb);
      if (!compatible_t<false>(a, b)) continue;
      set_split(id, a, b, id + 1);
      break;
    }
  }
  return finish(src);
}

bool Backtracker::build_merges(const Source& src, const std::vector<std::array<uint32_t, 3>>& merges) {
  init_tables(src);
  size_filter(merges.size());
  canon_.reserve(merges.size());
  rank_is_id_ = false;
  for (size_t k = 0; k < merges.size(); ++k) {
    uint32_t a = merges[k][0], b = merges[k][1], m = merges[k][2];
    // The first compatible merge forming m is the one BPE uses on m's own bytes; parts must already be formed
    // (rank-monotone), otherwise m stays unmatchable here and the post-check decides.
    if (matchable_[m] || !matchable_[a] || !matchable_[b]) continue;
    if (!compatible_t<false>(a, b)) continue;
    set_split(m, a, b, uint32_t(k + 1));
  }
  return finish(src);
}

bool Backtracker::finish(const Source& src) {
  // Post-check: a token left unmatchable must not be the BPE of its own bytes (else the vocabulary is not
  // rank-monotone and these tables are not exact).
  std::vector<uint32_t> ids;
  for (size_t i = 0; i < src.id_bound; ++i) {
    uint32_t id = uint32_t(i);
    if (node_[id] == kNone || matchable_[id]) continue;
    ids.clear();
    src.reference(src.bytes(id), ids);
    if (ids.size() == 1 && ids[0] == id) return false;
  }
  next_prefix_.assign(src.id_bound, Prefix{kNone, 0});
  for (size_t i = 0; i < src.id_bound; ++i) {
    uint32_t id = uint32_t(i);
    if (!matchable_[id] || len_[id] == 1) continue;
    std::string_view t = src.bytes(id);
    trie_.for_each_prefix(reinterpret_cast<const unsigned char*>(t.data()), t.size() - 1, [&](uint32_t nd, size_t d) {
      if (trie_.matchable(nd)) next_prefix_[id] = Prefix{trie_.id_at(nd), uint32_t(d)};
    });
  }
  std::vector<uint32_t>().swap(node_);
  if (rank_is_id_) std::vector<uint32_t>().swap(order_);
  trie_.build_char_table();
  return true;
}

uint32_t* Backtracker::encode(const unsigned char* p, size_t n, bool whole_piece, uint32_t* dst,
                              BpeScratch* sc) const {
  uint32_t whole, len;
  uint32_t t = trie_.longest(p, n, len, whole);
  if (whole != kNone && (whole_piece || matchable_[whole])) {
    *dst = whole;
    return dst + 1;
  }
  // alive: bit i set while position i may still start the rest of the encoding (n + 1 positions).
  uint64_t local = ~0ULL;
  uint64_t* alive = &local;
  std::vector<uint64_t> own;
  if (n >= 64) {
    std::vector<uint64_t>& v = sc ? sc->alive : own;
    v.assign((n >> 6) + 1, ~0ULL);
    alive = v.data();
  }
  uint64_t* memo = nullptr;
  if (sc) {
    if (!sc->compat) sc->compat.reset(new uint64_t[BpeScratch::kCompatSlots]());
    memo = sc->compat.get();
  }
  auto compatible_memo = [&](uint32_t a, uint32_t b) {
    if (!memo) return compatible(a, b);
    uint64_t tag = (uint64_t(a) << 32) | (uint64_t(b) << 1) | 1u;
    uint64_t& slot = memo[(tag * 0x9E3779B97F4A7C15ULL) >> (64 - BpeScratch::kCompatBits)];
    if ((slot & ~(1ULL << 63)) == tag) return bool(slot >> 63);
    return compatible_miss(a, b, slot, tag);
  };
  uint32_t* const first = dst;  // dst is the stack of tokens taken so far
  size_t pos = 0;
  for (;;) {
    size_t end = pos + len;
    if (((alive[end >> 6] >> (end & 63)) & 1) && (dst == first || compatible_memo(dst[-1], t))) {
      *dst++ = t;
      pos = end;
      if (pos == n) return dst;
      t = trie_.longest(p + pos, n - pos, len, whole);
      continue;
    }
    Prefix s = next_prefix_[t];
    if (s.id != kNone) {
      t = s.id;
      len = s.len;
      continue;
    }
    alive[pos >> 6] &= ~(1ULL << (pos & 63));  // nothing fits after the current prefix: pos is a dead end
    if (dst == first) break;                   // cannot happen for a consistent table
    t = *--dst;
    len = len_[t];
    pos -= len;
  }
  return nullptr;
}

}  // namespace bpe
}  // namespace fastlm
