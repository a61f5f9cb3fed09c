#include "core/bpe/model.h"

#include <algorithm>
#include <atomic>
#include <mutex>
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
    : serial_(g_serial.fetch_add(1)), whole_piece_lookup_(whole_piece_lookup) {
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
    std::call_once(pairs_once_, [] {});  // built
    build_backtracker(&listed);
    return;
  }
  // tiktoken rule. The merge loop's table (every split of every token) is built on first use only: with a
  // backtracking encoder nothing needs it on the encode path, and it was ~40% of the load time of o200k.
  build_backtracker(nullptr);
  if (!bt_) ensure_pairs();
}

void BpeModel::ensure_pairs() const {
  std::call_once(pairs_once_, [this] {
    // Every split of every token into two tokens is a merge, with the merged token's rank.
    pairs_.reserve(n_tokens_ * 2);
    for (size_t id = 0; id < id_bound(); ++id) {
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
    build_byte_pairs();
  });
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

void BpeModel::build_byte_pairs() const {
  byte_pairs_.assign(65536, PairMap::Value{kNoId, kNoId});
  for (uint32_t a = 0; a < 256; ++a)
    for (uint32_t b = 0; b < 256; ++b) {
      const PairMap::Value* v = pairs_.find(byte_id_[a], byte_id_[b]);
      if (v) byte_pairs_[(a << 8) | b] = *v;
    }
}

std::vector<std::tuple<uint32_t, uint32_t, uint32_t, uint32_t>> BpeModel::merge_table() const {
  ensure_pairs();
  std::vector<std::tuple<uint32_t, uint32_t, uint32_t, uint32_t>> out;
  out.reserve(pairs_.size());
  pairs_.for_each([&](uint32_t l, uint32_t r, PairMap::Value v) { out.emplace_back(l, r, v.a, v.b); });
  std::sort(out.begin(), out.end(), [](const auto& x, const auto& y) {
    return std::tie(std::get<2>(x), std::get<0>(x), std::get<1>(x)) < std::tie(std::get<2>(y), std::get<0>(y), std::get<1>(y));
  });
  return out;
}

void BpeModel::encode_piece(std::string_view piece, std::vector<uint32_t>& out, BpeScratch* scratch) const {
  if (piece.empty()) return;
  size_t k = out.size();
  out.resize(k + piece.size() + 2);
  uint32_t* end =
      encode_piece(reinterpret_cast<const unsigned char*>(piece.data()), piece.size(), out.data() + k, scratch, false);
  out.resize(size_t(end - out.data()));
}

uint32_t* BpeModel::encode_and_cache(const unsigned char* p, size_t n, uint64_t w0, uint64_t w1, uint64_t h,
                                     uint32_t* dst, BpeScratch* scratch) const {
  // The narrow sets missed (encode_piece); try the wide slot, then encode and remember the piece in the tier
  // that fits its ids.
  BpeScratch::WideSlot& ws = scratch->wide[(h >> 20) & ((size_t(1) << BpeScratch::kWideBits) - 1)];
  if (ws.w0 == w0 && ws.w1 == w1 && ws.n == n) {
    std::memcpy(dst, ws.ids, ws.nids * sizeof(uint32_t));
    return dst + ws.nids;
  }
  uint32_t* end = encode_uncached(p, n, dst, scratch);
  size_t k = size_t(end - dst);
  if (k <= BpeScratch::kMaxIds) {
    BpeScratch::Slot* set = &scratch->slots[2 * (h >> (64 - BpeScratch::kSetBits))];
    set[1] = set[0];  // the older entry moves to way 1 (evicting what was there)
    BpeScratch::Slot& s = set[0];
    s.w0 = w0;
    s.w1 = w1;
    s.n = uint8_t(n);
    s.nids = uint8_t(k);
    std::memcpy(s.ids, dst, k * sizeof(uint32_t));
  } else if (k <= BpeScratch::kWideIds) {
    ws.w0 = w0;
    ws.w1 = w1;
    ws.n = uint8_t(n);
    ws.nids = uint8_t(k);
    std::memcpy(ws.ids, dst, k * sizeof(uint32_t));
  }
  return end;
}

uint32_t* BpeModel::encode_uncached(const unsigned char* p, size_t n, uint32_t* dst, BpeScratch* scratch) const {
  if (bt_) {
    uint32_t* end = bt_->encode(p, n, whole_piece_lookup_, dst, scratch);
    if (end) return end;
  }
  if (whole_piece_lookup_) {
    uint32_t id = find(std::string_view(reinterpret_cast<const char*>(p), n));
    if (id != kNoId) {
      *dst = id;
      return dst + 1;
    }
  }
  std::vector<uint32_t> tmp;
  encode_merge(p, n, tmp, scratch);
  std::memcpy(dst, tmp.data(), tmp.size() * sizeof(uint32_t));
  return dst + tmp.size();
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
    size_t k = out.size();
    out.resize(k + n + 2);
    uint32_t* end = bt_->encode(p, n, whole_piece_lookup_, out.data() + k, nullptr);
    if (!end) throw ValueError("backtracking encoder found no encoding (inconsistent tables)");
    out.resize(size_t(end - out.data()));
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

}  // namespace bpe
}  // namespace fastlm
