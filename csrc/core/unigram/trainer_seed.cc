#include "core/unigram/trainer_seed.h"

#include <algorithm>
#include <cmath>
#include <string_view>

#include "core/error.h"
#include "core/unicode.h"

namespace fastlm {
namespace unigram {

namespace {
#include "core/unigram/trainer_script.inc"

constexpr uint32_t kMaxCp = 0x110000;
constexpr uint32_t kWsCp = 0x2581;
constexpr uint8_t kAny = 0xFF;  // script wildcard
enum : uint8_t { kWs = 1, kSolo = 2, kInherit = 4 };

struct CharClass {
  uint8_t script = kAny;
  uint8_t flags = 0;
};

uint8_t script_of(uint32_t cp) { return cp < kMaxCp ? kScriptStage2[kScriptStage1[cp >> 8]][cp & 0xFF] : 0; }
bool is_decimal(uint32_t cp) { return (cp >= '0' && cp <= '9') || (cp >= 0xFF10 && cp <= 0xFF19); }

std::vector<CharClass> char_classes(const TrainCorpus& c, const UnigramTrainerOptions& o) {
  std::vector<CharClass> cls(c.num_required + 2);
  for (uint32_t id = 1; id <= c.num_required; ++id) {
    const uint32_t cp = c.cp[id];
    CharClass& k = cls[id];
    if (cp == kWsCp) {
      k.flags = kWs;
      continue;
    }
    uint8_t s = script_of(cp);
    if (s == kScriptHiragana || s == kScriptKatakana || cp == 0x30FC) s = kScriptHan;
    if (s == kScriptInherited) k.flags |= kInherit;
    if (!o.split_by_unicode_script) s = kAny;
    if (is_decimal(cp)) {
      if (!o.split_by_number) s = kAny;
      if (o.split_digits) k.flags |= kSolo;
    }
    if (cp == '\t' || cp == 0) k.flags |= kSolo;
    k.script = s;
  }
  return cls;
}

// vmax[p]: length of the longest valid piece starting at text position p (0 at separators and unknowns).
std::vector<uint16_t> valid_lengths(const TrainCorpus& c, const std::vector<CharClass>& cls,
                                    const UnigramTrainerOptions& o) {
  const std::vector<uint32_t>& t = c.text;
  const size_t n = t.size(), D = o.max_piece_length;
  const uint32_t unk = c.unk();
  std::vector<uint16_t> vmax(n, 0);
  for (size_t p = 0; p < n; ++p) {
    size_t len = 0;
    uint8_t prev = kAny;
    for (size_t q = p; q < n && len < D; ++q) {
      const uint32_t ch = t[q];
      if (ch == 0 || ch == unk) break;
      const CharClass& k = cls[ch];
      if (k.flags & kWs) {
        if (o.split_by_whitespace && len > 0) break;
      } else {
        if (k.flags & kSolo) {
          if (len == 0) len = 1;
          break;
        }
        uint8_t s = (k.flags & kInherit) ? prev : k.script;
        if (s != kAny && prev != kAny && s != prev) break;
        prev = s;
      }
      ++len;
    }
    vmax[p] = static_cast<uint16_t>(len);
  }
  return vmax;
}

// Suffix array of t sorted on the first `depth` symbols (ties in position order). Prefix doubling with two
// stable counting sorts per round (Manber-Myers): ranks after the round with step h order the first 2h symbols.
std::vector<uint32_t> suffix_array(const std::vector<uint32_t>& t, uint32_t alphabet, size_t depth) {
  const size_t n = t.size();
  std::vector<uint32_t> sa(n), rank(t), tmp(n), cnt(size_t(alphabet) + 1, 0);
  for (uint32_t x : t) ++cnt[x + 1];
  for (size_t i = 1; i < cnt.size(); ++i) cnt[i] += cnt[i - 1];
  for (size_t i = 0; i < n; ++i) sa[cnt[t[i]]++] = static_cast<uint32_t>(i);
  size_t max_rank = alphabet;
  for (size_t h = 1; h < depth && n > 1; h <<= 1) {
    size_t k = 0;
    for (size_t i = n > h ? n - h : 0; i < n; ++i) tmp[k++] = static_cast<uint32_t>(i);  // no second symbol
    for (size_t j = 0; j < n; ++j)
      if (sa[j] >= h) tmp[k++] = sa[j] - static_cast<uint32_t>(h);
    cnt.assign(max_rank + 2, 0);
    for (size_t i = 0; i < n; ++i) ++cnt[rank[i] + 1];
    for (size_t i = 1; i < cnt.size(); ++i) cnt[i] += cnt[i - 1];
    for (size_t j = 0; j < n; ++j) sa[cnt[rank[tmp[j]]]++] = tmp[j];
    auto second = [&](uint32_t i) { return i + h < n ? rank[i + h] : UINT32_MAX; };
    uint32_t r = 0;
    tmp[sa[0]] = 0;
    for (size_t j = 1; j < n; ++j) {
      const uint32_t a = sa[j - 1], b = sa[j];
      if (rank[a] != rank[b] || second(a) != second(b)) ++r;
      tmp[b] = r;
    }
    rank.swap(tmp);
    max_rank = r;
    if (r + 1 == n) break;
  }
  return sa;
}

struct Cand {
  uint64_t score;
  uint64_t freq;
  uint32_t lb, rb;
  uint16_t len;
};

bool better(const Cand& a, const Cand& b) {
  if (a.score != b.score) return a.score > b.score;
  if (a.lb != b.lb) return a.lb < b.lb;  // SA order = lexicographic order of the pieces
  return a.len < b.len;
}
}  // namespace

TrainCorpus build_corpus(const bpe::PieceCounter& words, double coverage) {
  std::vector<std::pair<std::string_view, uint64_t>> ws;
  ws.reserve(words.size());
  words.for_each([&](std::string_view s, uint64_t n) { ws.emplace_back(s, n); });
  std::sort(ws.begin(), ws.end());
  TrainCorpus c;
  c.word_count.reserve(ws.size());
  c.word_begin.reserve(ws.size() + 1);
  std::vector<uint64_t> counts(kMaxCp, 0);
  for (const auto& w : ws) {
    c.word_begin.push_back(static_cast<uint32_t>(c.text.size()));
    c.word_count.push_back(w.second);
    c.total_words += w.second;
    const auto* p = reinterpret_cast<const unsigned char*>(w.first.data());
    const auto* e = p + w.first.size();
    while (p < e) {
      uint32_t cp;
      p += unicode::decode(p, e, cp);
      if (cp == unicode::kInvalid) cp = 0xFFFD;
      c.text.push_back(cp);
      counts[cp] += w.second;
    }
    c.text.push_back(UINT32_MAX);  // separator, mapped to 0 below
    if (c.text.size() >= (size_t(1) << 32) - 1) throw ValueError("the distinct words of the corpus exceed 4G characters");
  }
  c.word_begin.push_back(static_cast<uint32_t>(c.text.size()));
  // Required characters: most frequent first (ties: lower code point) until the coverage is reached. NUL can
  // never be a piece (sentencepiece's trie cannot hold it), so it is always unknown.
  std::vector<std::pair<uint64_t, uint32_t>> order;
  uint64_t all = 0;
  for (uint32_t cp = 1; cp < kMaxCp; ++cp)
    if (counts[cp]) {
      order.emplace_back(counts[cp], cp);
      all += counts[cp];
    }
  all += counts[0];
  std::sort(order.begin(), order.end(), [](const auto& a, const auto& b) {
    return a.first != b.first ? a.first > b.first : a.second < b.second;
  });
  std::vector<uint32_t> id(kMaxCp, 0);
  c.cp.push_back(0);
  c.char_count.push_back(0);
  uint64_t acc = 0;
  for (const auto& o : order) {
    if (double(acc) / double(all) >= coverage) break;
    acc += o.first;
    id[o.second] = static_cast<uint32_t>(c.cp.size());
    c.cp.push_back(o.second);
    c.char_count.push_back(o.first);
  }
  c.num_required = static_cast<uint32_t>(c.cp.size() - 1);
  c.cp.push_back(0xFFFD);
  c.char_count.push_back(all - acc);
  for (uint32_t& x : c.text) x = x == UINT32_MAX ? 0 : (id[x] ? id[x] : c.unk());
  return c;
}

SeedSet make_seeds(const TrainCorpus& c, const UnigramTrainerOptions& o) {
  const std::vector<uint32_t>& t = c.text;
  const size_t n = t.size(), D = std::max<size_t>(1, std::min<size_t>(o.max_piece_length, 65535));
  const uint32_t K = c.num_required;
  const std::vector<uint16_t> vmax = valid_lengths(c, char_classes(c, o), o);
  const std::vector<uint32_t> sa = suffix_array(t, K + 2, D);

  // lcp[k] = common prefix of sa[k-1] and sa[k], cut at D and at separators; lcp[0] = lcp[n] = 0.
  std::vector<uint16_t> lcp(n + 1, 0);
  for (size_t k = 1; k < n; ++k) {
    const uint32_t a = sa[k - 1], b = sa[k];
    size_t l = 0;
    while (l < D && a + l < n && b + l < n && t[a + l] == t[b + l] && t[a + l] != 0) ++l;
    lcp[k] = static_cast<uint16_t>(l);
  }
  // W[k] = total word count of sa[0..k) (each suffix weighs as much as its word occurs).
  std::vector<uint64_t> W(n + 1, 0);
  {
    std::vector<uint64_t> wt(n, 0);  // weight of each text position: its word's count (0 for separators)
    for (size_t w = 0; w < c.num_words(); ++w)
      std::fill(wt.begin() + c.word_begin[w], wt.begin() + c.word_begin[w + 1] - 1, c.word_count[w]);
    for (size_t k = 0; k < n; ++k) W[k + 1] = W[k] + wt[sa[k]];
  }

  auto piece_len = [&](uint32_t p, size_t depth) -> size_t {
    size_t v = std::min<size_t>(depth, vmax[p]);
    if (!o.split_by_whitespace)  // U+2581 may not end a piece longer than one character
      while (v > 1 && c.cp[t[p + v - 1]] == kWsCp) --v;
    return v;
  };
  std::vector<Cand> cands;
  auto consider = [&](uint32_t lb, uint32_t rb, size_t depth, size_t parent) {
    const size_t v = piece_len(sa[lb], depth);
    if (v < 2 || v <= parent) return;
    const uint64_t f = W[rb + 1] - W[lb];
    if (f < 2) return;
    cands.push_back(Cand{f * v, f, lb, rb, static_cast<uint16_t>(v)});
  };
  // Bottom-up traversal of the lcp-interval tree (Abouelhoda et al.): stack of (depth, left bound).
  std::vector<std::pair<uint16_t, uint32_t>> st{{0, 0}};
  for (size_t i = 1; i <= n; ++i) {
    const uint16_t cur = i < n ? lcp[i] : 0;
    uint32_t lb = static_cast<uint32_t>(i - 1);
    while (cur < st.back().first) {
      const auto top = st.back();
      st.pop_back();
      consider(top.second, static_cast<uint32_t>(i - 1), top.first, std::max(cur, st.back().first));
      lb = top.second;
    }
    if (cur > st.back().first) st.emplace_back(cur, lb);
  }
  for (size_t k = 0; k < n; ++k)  // singletons: one distinct word, frequent enough
    consider(static_cast<uint32_t>(k), static_cast<uint32_t>(k), D, std::max(lcp[k], lcp[k + 1]));
  std::vector<uint64_t>().swap(W);
  std::vector<uint16_t>().swap(lcp);

  if (cands.size() > o.seed_size) {
    std::nth_element(cands.begin(), cands.begin() + std::ptrdiff_t(o.seed_size), cands.end(), better);
    cands.resize(o.seed_size);
  }
  std::sort(cands.begin(), cands.end(), better);

  SeedSet s;
  const size_t S = K + cands.size();
  s.pos.resize(S);
  s.len.assign(S, 1);
  s.score.resize(S);
  double total = 0;
  for (uint32_t j = 0; j < K; ++j) total += double(c.char_count[j + 1]);
  for (const Cand& x : cands) total += double(x.score);
  const double logt = std::log(total);
  std::vector<uint32_t> first(K + 2, 0);
  for (size_t p = n; p-- > 0;) first[t[p]] = static_cast<uint32_t>(p);
  for (uint32_t j = 0; j < K; ++j) {
    s.pos[j] = first[j + 1];
    s.score[j] = std::log(double(c.char_count[j + 1])) - logt;
  }
  s.edge_begin.assign(n + 1, 0);
  for (size_t i = 0; i < cands.size(); ++i) {
    const Cand& x = cands[i];
    s.pos[K + i] = sa[x.lb];
    s.len[K + i] = x.len;
    s.score[K + i] = std::log(double(x.score)) - logt;
    for (uint32_t k = x.lb; k <= x.rb; ++k) ++s.edge_begin[sa[k] + 1];
  }
  for (size_t p = 0; p < n; ++p) s.edge_begin[p + 1] += s.edge_begin[p];
  s.edge_piece.resize(s.edge_begin[n]);
  std::vector<uint32_t> fill(s.edge_begin.begin(), s.edge_begin.end() - 1);
  for (size_t i = 0; i < cands.size(); ++i)
    for (uint32_t k = cands[i].lb; k <= cands[i].rb; ++k) s.edge_piece[fill[sa[k]]++] = static_cast<uint32_t>(K + i);
  return s;
}

}  // namespace unigram
}  // namespace fastlm
