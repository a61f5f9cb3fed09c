#include "core/wordpiece/model.h"

#include <algorithm>
#include <deque>

#include "core/error.h"

namespace fastlm {
namespace wordpiece {

WordPieceModel::WordPieceModel(std::vector<std::pair<std::string, uint32_t>> vocab, std::string unk_token,
                               std::string prefix, size_t max_chars)
    : unk_token_(std::move(unk_token)), prefix_(std::move(prefix)), max_chars_(max_chars) {
  if (vocab.empty()) throw ValueError("the WordPiece vocabulary is empty");
  uint32_t bound = 0;
  for (auto& kv : vocab) {
    if (kv.second == kNone) throw ValueError("token id " + std::to_string(kv.second) + " is too large");
    bound = std::max(bound, kv.second + 1);
  }
  if (bound > 64u * vocab.size() + 1024)
    throw ValueError("the vocabulary ids are too sparse (max id " + std::to_string(bound - 1) + " for " +
                     std::to_string(vocab.size()) + " tokens)");
  tokens_.assign(bound, std::string());
  has_.assign(bound, 0);
  ids_.reserve(vocab.size() * 2);
  for (auto& kv : vocab) {
    ids_[kv.first] = kv.second;  // last one wins
    tokens_[kv.second] = kv.first;
    has_[kv.second] = 1;
  }
  size_ = 0;
  for (uint8_t h : has_) size_ += h;
  auto it = ids_.find(unk_token_);
  if (it == ids_.end())
    throw ValueError("the unknown token '" + unk_token_ +
                     "' is not in the WordPiece vocabulary; add it or pass the vocabulary's unknown token (unk_token=)");
  unk_id_ = it->second;
  build();
}

uint32_t WordPieceModel::find(std::string_view token) const {
  auto it = ids_.find(std::string(token));
  return it == ids_.end() ? kNone : it->second;
}

void WordPieceModel::build() {
  // 1. The trie, with a temporary map of edges (construction only).
  std::unordered_map<uint64_t, uint32_t> edges;
  std::vector<uint32_t> depth{0, 0};
  tok_.assign(2, kNone);
  auto insert = [&](uint32_t root, std::string_view s, uint32_t id) {
    uint32_t node = root;
    for (unsigned char c : s) {
      uint64_t key = (uint64_t(node) << 8) | c;
      auto e = edges.find(key);
      if (e == edges.end()) {
        uint32_t nn = uint32_t(tok_.size());
        tok_.push_back(kNone);
        depth.push_back(depth[node] + 1);
        edges.emplace(key, nn);
        node = nn;
      } else {
        node = e->second;
      }
    }
    tok_[node] = id;
  };
  for (auto& kv : ids_) {
    const std::string& t = kv.first;
    if (t.empty()) continue;
    // A word-start entry spelled with the prefix is still matched literally at a word start.
    insert(kRoot, t, kv.second);
    if (!prefix_.empty() && t.size() > prefix_.size() && t.compare(0, prefix_.size(), prefix_) == 0)
      insert(kRootCont, std::string_view(t).substr(prefix_.size()), kv.second);
  }
  if (prefix_.empty()) {
    // With no prefix, continuation entries are the word-start entries themselves.
    for (auto& kv : ids_)
      if (!kv.first.empty()) insert(kRootCont, kv.first, kv.second);
  }
  size_t nn = tok_.size();
  if (nn >= (1u << 24)) throw ValueError("the WordPiece vocabulary is too large for the matcher");
  size_t cap = 16;
  while (cap < edges.size() * 2 + 2) cap <<= 1;
  table_.assign(cap, kEmpty);
  mask_ = cap - 1;
  shift_ = 64;
  for (size_t c = cap; c > 1; c >>= 1) --shift_;
  std::vector<std::vector<std::pair<unsigned char, uint32_t>>> kids(nn);
  for (auto& e : edges) {
    uint64_t key = e.first;
    size_t i = size_t((key * 0x9E3779B97F4A7C15ULL) >> shift_);
    while (table_[i] != kEmpty) i = (i + 1) & mask_;
    table_[i] = (key << 32) | e.second;
    kids[size_t(key >> 8)].emplace_back(static_cast<unsigned char>(key & 255), e.second);
  }
  for (auto& k : kids) std::sort(k.begin(), k.end());  // deterministic order

  // 2. Whole-word table over the word-start entries.
  size_t wcap = 16;
  while (wcap < ids_.size() * 2 + 2) wcap <<= 1;
  words_.assign(wcap, WordSlot{});
  wmask_ = wcap - 1;
  for (auto& kv : ids_) {
    const std::string& t = kv.first;
    if (t.empty()) continue;
    uint64_t h = word_hash(reinterpret_cast<const unsigned char*>(t.data()), t.size());
    size_t i = size_t(h) & wmask_;
    while (words_[i].id != kNone) i = (i + 1) & wmask_;
    words_[i] = WordSlot{h, kv.second, uint32_t(t.size()), uint32_t(pool_.size())};
    pool_ += t;
  }

  // 3. Failure links and pops, breadth first (a node's link points to a shallower node).
  fail_.assign(nn, kNone);
  std::vector<std::vector<Piece>> pops(nn);
  std::deque<uint32_t> q{kRoot, kRootCont};
  while (!q.empty()) {
    uint32_t u = q.front();
    q.pop_front();
    for (auto& kc : kids[u]) {
      unsigned char c = kc.first;
      uint32_t v = kc.second;
      q.push_back(v);
      if (tok_[v] != kNone) {
        fail_[v] = kRootCont;
        pops[v] = {Piece{tok_[v], depth[v]}};
        continue;
      }
      uint32_t z = fail_[u];
      std::vector<Piece> acc = pops[u];
      while (z != kNone && child(z, c) == kNone) {
        acc.insert(acc.end(), pops[z].begin(), pops[z].end());
        z = fail_[z];
      }
      if (z != kNone) {
        fail_[v] = child(z, c);
        pops[v] = std::move(acc);
      }
    }
  }
  pop_begin_.assign(nn + 1, 0);
  for (size_t v = 0; v < nn; ++v) pop_begin_[v + 1] = pop_begin_[v] + uint32_t(pops[v].size());
  pops_.clear();
  pops_.reserve(pop_begin_[nn]);
  for (auto& p : pops) pops_.insert(pops_.end(), p.begin(), p.end());
}

bool WordPieceModel::match(const unsigned char* w, size_t n, std::vector<Piece>& out) const {
  size_t mark = out.size();
  uint32_t u = kRoot;
  size_t i = 0;
  while (i < n) {
    uint32_t v = child(u, w[i]);
    if (v != kNone) {
      u = v;
      ++i;
      continue;
    }
    uint32_t f = fail_[u];
    if (f == kNone) {
      out.resize(mark);
      return false;
    }
    uint32_t b = pop_begin_[u], e = pop_begin_[u + 1];
    if (e - b == 1)
      out.push_back(pops_[b]);
    else
      out.insert(out.end(), pops_.begin() + b, pops_.begin() + e);
    u = f;
  }
  while (u != kRootCont) {
    uint32_t f = fail_[u];
    if (f == kNone) {
      out.resize(mark);
      return false;
    }
    out.insert(out.end(), pops_.begin() + pop_begin_[u], pops_.begin() + pop_begin_[u + 1]);
    u = f;
  }
  return true;
}

}  // namespace wordpiece
}  // namespace fastlm
