#include "core/wordpiece/trainer.h"

#include <algorithm>
#include <map>
#include <queue>

#include "core/error.h"
#include "core/normalize.h"
#include "core/parallel.h"
#include "core/pretokenize_bert.h"
#include "core/unicode.h"

namespace fastlm {
namespace wordpiece {

void WordCounter::count_one(std::string_view text, std::unordered_map<std::string, uint64_t>& into) const {
  // cut special tokens out (earliest occurrence first, longest on ties)
  size_t pos = 0;
  while (pos <= text.size()) {
    size_t best = std::string_view::npos, blen = 0;
    for (const auto& s : specials_) {
      size_t at = text.find(s, pos);
      if (at != std::string_view::npos && (at < best || (at == best && s.size() > blen))) best = at, blen = s.size();
    }
    std::string_view seg = text.substr(pos, best == std::string_view::npos ? std::string_view::npos : best - pos);
    std::string normed;
    std::vector<uint32_t> st, en;
    norm::BertNormOptions o = opts_.norm;
    if (!opts_.normalize) o = norm::BertNormOptions{false, false, false, false};
    norm::bert_normalize(seg, o, normed, st, en);
    std::vector<std::pair<uint32_t, uint32_t>> words;
    bert_pretokenize(normed, words);
    for (auto& w : words) ++into[normed.substr(w.first, w.second - w.first)];
    if (best == std::string_view::npos) break;
    pos = best + blen;
  }
}

void WordCounter::count_texts(const std::vector<std::string_view>& texts, int num_threads) {
  int t = resolve_threads(num_threads, texts.size());
  std::vector<std::unordered_map<std::string, uint64_t>> local(size_t(std::max(1, t)));
  parallel_for(texts.size(), t, [&](int w, size_t i) { count_one(texts[i], local[size_t(w)]); });
  std::lock_guard<std::mutex> g(mu_);
  for (auto& m : local)
    for (auto& kv : m) counts_[kv.first] += kv.second;
}

namespace {

struct HeapItem {
  uint64_t count;
  uint64_t pair;
};

}  // namespace

std::vector<std::string> train_wordpiece(WordCounter& counter, const WordPieceTrainerOptions& o,
                                         const TrainProgress& progress) {
  auto counts = counter.take();
  std::vector<std::pair<std::string, uint64_t>> words(counts.begin(), counts.end());
  counts.clear();
  std::sort(words.begin(), words.end());

  // alphabet
  std::map<uint32_t, uint64_t> chars;
  for (auto& w : words) {
    const auto* p = reinterpret_cast<const unsigned char*>(w.first.data());
    const auto* e = p + w.first.size();
    while (p < e) {
      uint32_t cp;
      p += unicode::decode(p, e, cp);
      chars[cp] += w.second;
    }
  }
  std::vector<std::pair<uint32_t, uint64_t>> alpha(chars.begin(), chars.end());
  if (o.limit_alphabet && alpha.size() > o.limit_alphabet) {
    std::stable_sort(alpha.begin(), alpha.end(), [](auto& a, auto& b) { return a.second > b.second; });
    alpha.resize(o.limit_alphabet);
    std::sort(alpha.begin(), alpha.end());
  }

  std::vector<std::string> vocab;
  std::unordered_map<std::string, uint32_t> ids;
  auto add = [&](const std::string& t) -> uint32_t {
    auto it = ids.find(t);
    if (it != ids.end()) return it->second;
    uint32_t id = uint32_t(vocab.size());
    vocab.push_back(t);
    ids.emplace(t, id);
    return id;
  };
  for (auto& s : o.special_tokens) add(s);
  std::unordered_map<uint32_t, uint32_t> first_id, cont_id;
  for (auto& a : alpha) {
    std::string s;
    unicode::append_utf8(s, a.first);
    first_id[a.first] = add(s);
  }
  // continuation symbols for characters seen inside words
  std::vector<std::vector<uint32_t>> syms(words.size());
  std::map<uint32_t, bool> inner;
  for (auto& w : words) {
    const auto* p = reinterpret_cast<const unsigned char*>(w.first.data());
    const auto* e = p + w.first.size();
    bool first = true;
    while (p < e) {
      uint32_t cp;
      p += unicode::decode(p, e, cp);
      if (!first && first_id.count(cp)) inner[cp] = true;
      first = false;
    }
  }
  for (auto& kv : inner) {
    std::string s = o.prefix;
    unicode::append_utf8(s, kv.first);
    cont_id[kv.first] = add(s);
  }
  for (size_t i = 0; i < words.size(); ++i) {
    const auto* p = reinterpret_cast<const unsigned char*>(words[i].first.data());
    const auto* e = p + words[i].first.size();
    bool first = true;
    while (p < e) {
      uint32_t cp;
      p += unicode::decode(p, e, cp);
      auto& tab = first ? first_id : cont_id;
      auto it = tab.find(cp);
      syms[i].push_back(it == tab.end() ? kNone : it->second);
      first = false;
    }
  }

  // pair counts and index
  auto key = [](uint32_t a, uint32_t b) { return (uint64_t(a) << 32) | b; };
  std::unordered_map<uint64_t, int64_t> pc;
  std::unordered_map<uint64_t, std::vector<uint32_t>> where;
  auto add_pairs = [&](size_t wi, int64_t sign, bool index) {
    const auto& s = syms[wi];
    int64_t c = int64_t(words[wi].second) * sign;
    for (size_t j = 0; j + 1 < s.size(); ++j) {
      if (s[j] == kNone || s[j + 1] == kNone) continue;
      uint64_t k = key(s[j], s[j + 1]);
      pc[k] += c;
      if (index) where[k].push_back(uint32_t(wi));
    }
  };
  for (size_t i = 0; i < words.size(); ++i) add_pairs(i, 1, true);

  auto less_pair = [&](uint64_t x, uint64_t y) {  // lexicographic (left, right) strings
    const std::string& xl = vocab[uint32_t(x >> 32)];
    const std::string& yl = vocab[uint32_t(y >> 32)];
    int c = xl.compare(yl);
    if (c != 0) return c < 0;
    return vocab[uint32_t(x)] < vocab[uint32_t(y)];
  };
  auto cmp = [&](const HeapItem& a, const HeapItem& b) {
    if (a.count != b.count) return a.count < b.count;
    return less_pair(b.pair, a.pair);  // smaller pair on top
  };
  std::priority_queue<HeapItem, std::vector<HeapItem>, decltype(cmp)> heap(cmp);
  for (auto& kv : pc)
    if (kv.second > 0) heap.push({uint64_t(kv.second), kv.first});

  std::vector<uint32_t> stamp(words.size(), 0);
  uint32_t round = 0;
  size_t target = o.vocab_size;
  size_t last_report = 0;
  std::vector<uint64_t> touched;
  while (vocab.size() < target && !heap.empty()) {
    HeapItem top = heap.top();
    heap.pop();
    auto it = pc.find(top.pair);
    int64_t cur = it == pc.end() ? 0 : it->second;
    if (cur <= 0) continue;
    if (uint64_t(cur) != top.count) {
      heap.push({uint64_t(cur), top.pair});
      continue;
    }
    if (uint64_t(cur) < std::max<uint64_t>(o.min_frequency, 1)) break;
    uint32_t a = uint32_t(top.pair >> 32), b = uint32_t(top.pair);
    const std::string& rb = vocab[b];
    std::string merged = vocab[a] + (rb.compare(0, o.prefix.size(), o.prefix) == 0 ? rb.substr(o.prefix.size()) : rb);
    uint32_t nid = add(merged);
    ++round;
    touched.clear();
    std::vector<uint32_t> list;
    list.swap(where[top.pair]);
    for (uint32_t wi : list) {
      if (stamp[wi] == round) continue;
      stamp[wi] = round;
      auto& s = syms[wi];
      bool found = false;
      for (size_t j = 0; j + 1 < s.size(); ++j)
        if (s[j] == a && s[j + 1] == b) {
          found = true;
          break;
        }
      if (!found) continue;
      add_pairs(wi, -1, false);
      size_t out = 0;
      for (size_t j = 0; j < s.size();) {
        if (j + 1 < s.size() && s[j] == a && s[j + 1] == b) {
          s[out++] = nid;
          j += 2;
        } else {
          s[out++] = s[j++];
        }
      }
      s.resize(out);
      for (size_t j = 0; j + 1 < s.size(); ++j) {
        if (s[j] == kNone || s[j + 1] == kNone) continue;
        uint64_t k = key(s[j], s[j + 1]);
        pc[k] += int64_t(words[wi].second);
        if (s[j] == nid || s[j + 1] == nid) {
          where[k].push_back(wi);
          touched.push_back(k);
        }
      }
    }
    pc.erase(top.pair);
    std::sort(touched.begin(), touched.end());
    touched.erase(std::unique(touched.begin(), touched.end()), touched.end());
    for (uint64_t k : touched) {
      int64_t c = pc[k];
      if (c > 0) heap.push({uint64_t(c), k});
    }
    if (progress && vocab.size() - last_report >= 200) {
      last_report = vocab.size();
      progress(vocab.size(), target);
    }
  }
  if (progress) progress(vocab.size(), target);
  return vocab;
}

}  // namespace wordpiece
}  // namespace fastlm
