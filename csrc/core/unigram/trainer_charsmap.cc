#include "core/unigram/trainer_charsmap.h"

#include <algorithm>
#include <cstdint>
#include <map>
#include <mutex>

#include "core/error.h"
#include "core/unicode.h"

namespace fastlm {
namespace unigram {

namespace {
#include "core/unigram/trainer_nfkc.inc"

std::string utf8(std::initializer_list<uint32_t> cps) {
  std::string s;
  for (uint32_t c : cps) unicode::append_utf8(s, c);
  return s;
}

// Hangul: conjoining jamo L V [T] and LV-syllable + T compose arithmetically (Unicode 3.12), 21,945 keys.
void add_hangul(CharsmapRules& r) {
  constexpr uint32_t S = 0xAC00, L = 0x1100, V = 0x1161, T = 0x11A7, NV = 21, NT = 28;
  for (uint32_t l = 0; l < 19; ++l)
    for (uint32_t v = 0; v < NV; ++v) {
      uint32_t lv = S + (l * NV + v) * NT;
      r.emplace_back(utf8({L + l, V + v}), utf8({lv}));
      for (uint32_t t = 1; t < NT; ++t) {
        r.emplace_back(utf8({L + l, V + v, T + t}), utf8({lv + t}));
        r.emplace_back(utf8({lv, T + t}), utf8({lv + t}));
      }
    }
}

class DartsBuilder {
 public:
  // keys sorted, unique, non-empty, NUL-free; vals[i] is the pool offset of keys[i]'s replacement.
  std::vector<uint32_t> build(const std::vector<std::string>& keys, const std::vector<uint32_t>& vals) {
    keys_ = &keys;
    vals_ = &vals;
    grow(1024);
    use(0);
    struct Item {
      uint32_t slot;
      size_t lo, hi, depth;
    };
    std::vector<Item> queue{{0, 0, keys.size(), 0}};
    std::vector<uint32_t> labels;
    std::vector<std::pair<size_t, size_t>> ranges;
    for (size_t qi = 0; qi < queue.size(); ++qi) {
      const Item it = queue[qi];
      labels.clear();
      ranges.clear();
      size_t i = it.lo;
      bool terminal = false;
      if (i < it.hi && keys[i].size() == it.depth) {  // a key ends at this node (sorted: it comes first)
        terminal = true;
        labels.push_back(0);
        ranges.emplace_back(i, i + 1);
        ++i;
      }
      while (i < it.hi) {
        uint8_t c = static_cast<uint8_t>(keys[i][it.depth]);
        size_t j = i + 1;
        while (j < it.hi && static_cast<uint8_t>(keys[j][it.depth]) == c) ++j;
        labels.push_back(c);
        ranges.emplace_back(i, j);
        i = j;
      }
      if (labels.empty()) continue;
      uint32_t base = find_base(labels);
      base_used_[base] = true;
      uint32_t offset = it.slot ^ base;
      if (offset >= (1u << 21)) throw ValueError("charsmap too large for the double array");
      units_[it.slot] |= (offset << 10) | (terminal ? (1u << 8) : 0u);
      for (size_t k = 0; k < labels.size(); ++k) {
        uint32_t s = base ^ labels[k];
        use(s);
        if (terminal && k == 0) {
          units_[s] = 0x80000000u | vals[ranges[0].first];
        } else {
          units_[s] = labels[k];
          queue.push_back({s, ranges[k].first, ranges[k].second, it.depth + 1});
        }
      }
    }
    size_t size = 0;
    for (size_t s = 0; s < used_.size(); ++s)
      if (used_[s]) size = s + 1;
    size = (size + 255) / 256 * 256;
    for (size_t s = 0; s < size; ++s)
      if (!used_[s]) units_[s] = 0x80000000u;
    units_.resize(size);
    return std::move(units_);
  }

 private:
  void grow(size_t n) {
    if (n <= units_.size()) return;
    n = (n + 255) / 256 * 256;
    const size_t old = nf_.size();
    units_.resize(n, 0);
    used_.resize(n, false);
    base_used_.resize(n, false);
    nf_.resize(n + 1);
    for (size_t i = old; i <= n; ++i) nf_[i] = static_cast<uint32_t>(i);
  }
  void use(uint32_t s) {
    used_[s] = true;
    nf_[s] = s + 1;
  }
  // The first free slot >= i (nf_ links used slots forward; path halving keeps the chains short).
  size_t next_free(size_t i) {
    grow(i + 1);
    while (nf_[i] != i) {
      nf_[i] = nf_[nf_[i]];
      i = nf_[i];
      grow(i + 1);
    }
    return i;
  }

  // The first base b (>= 256, so no child can land on the root slot) whose slots b ^ label are all free. Only
  // the last kWindow slots below the highest used one are searched: holes further back stay unused (a few
  // percent of the array) instead of being rescanned for every node, which made the build quadratic.
  uint32_t find_base(const std::vector<uint32_t>& labels) {
    constexpr size_t kWindow = 2048;
    if (high_ > kWindow) first_free_ = std::max(first_free_, high_ - kWindow);
    for (size_t f = next_free(first_free_);; f = next_free(f + 1)) {
      grow(f + 512);
      uint32_t b = static_cast<uint32_t>(f) ^ labels[0];
      if (b < 256 || base_used_[b]) continue;
      bool ok = true;
      for (uint32_t l : labels)
        if (used_[b ^ l]) {
          ok = false;
          break;
        }
      if (ok) {
        for (uint32_t l : labels) high_ = std::max<size_t>(high_, b ^ l);
        return b;
      }
    }
  }

  const std::vector<std::string>* keys_ = nullptr;
  const std::vector<uint32_t>* vals_ = nullptr;
  std::vector<uint32_t> units_;
  std::vector<bool> used_, base_used_;
  std::vector<uint32_t> nf_;
  size_t first_free_ = 1, high_ = 0;
};
}  // namespace

CharsmapRules builtin_rules(const std::string& name) {
  if (name != "nfkc" && name != "nmt_nfkc")
    throw ValueError("unknown normalization rule '" + name + "'; choose nmt_nfkc, nfkc or identity");
  CharsmapRules r;
  const size_t n = sizeof(kNfkcRules) / sizeof(kNfkcRules[0]);
  for (size_t i = 0; i < n;) {
    uint32_t kl = kNfkcRules[i] >> 8, vl = kNfkcRules[i] & 0xFF;
    std::string k, v;
    for (uint32_t j = 0; j < kl; ++j) unicode::append_utf8(k, kNfkcRules[i + 1 + j]);
    for (uint32_t j = 0; j < vl; ++j) unicode::append_utf8(v, kNfkcRules[i + 1 + kl + j]);
    r.emplace_back(std::move(k), std::move(v));
    i += 1 + kl + vl;
  }
  add_hangul(r);
  if (name == "nmt_nfkc") {
    // The NMT rules take precedence over NFKC (build_charsmap keeps the first of duplicate keys).
    CharsmapRules nmt;
    for (uint32_t c = 1; c < 0x20; ++c)
      nmt.emplace_back(utf8({c}), (c == 0x09 || c == 0x0A || c == 0x0C || c == 0x0D) ? " " : "");
    for (uint32_t c : {0x7Fu, 0x8Fu, 0x9Fu}) nmt.emplace_back(utf8({c}), "");
    for (uint32_t c : {0x1680u, 0x200Bu, 0x200Cu, 0x200Du, 0x200Eu, 0x200Fu, 0x2028u, 0x2029u, 0x2581u, 0xFEFFu,
                       0xFFFDu})
      nmt.emplace_back(utf8({c}), " ");
    r.insert(r.begin(), nmt.begin(), nmt.end());
  }
  return r;
}

std::string build_charsmap(CharsmapRules rules) {
  for (auto& kv : rules)
    if (kv.first.empty() || kv.first.find('\0') != std::string::npos)
      throw ValueError("charsmap keys must be non-empty and contain no NUL byte");
  std::stable_sort(rules.begin(), rules.end(), [](const auto& a, const auto& b) { return a.first < b.first; });
  std::vector<std::string> keys;
  std::vector<uint32_t> vals;
  std::string pool;
  std::map<std::string, uint32_t> pooled;
  for (size_t i = 0; i < rules.size(); ++i) {
    if (i > 0 && rules[i].first == rules[i - 1].first) continue;
    const std::string& v = rules[i].second;
    if (v.find('\0') != std::string::npos) throw ValueError("charsmap replacements must contain no NUL byte");
    auto it = pooled.find(v);
    if (it == pooled.end()) {
      it = pooled.emplace(v, static_cast<uint32_t>(pool.size())).first;
      pool += v;
      pool.push_back('\0');
    }
    keys.push_back(rules[i].first);
    vals.push_back(it->second);
  }
  std::vector<uint32_t> units = DartsBuilder().build(keys, vals);
  std::string blob;
  const uint32_t trie_bytes = static_cast<uint32_t>(units.size() * 4);
  blob.reserve(4 + trie_bytes + pool.size());
  auto put32 = [&blob](uint32_t x) {
    for (int k = 0; k < 4; ++k) blob.push_back(static_cast<char>((x >> (8 * k)) & 0xFF));
  };
  put32(trie_bytes);
  for (uint32_t u : units) put32(u);
  blob += pool;
  return blob;
}

const std::string& builtin_charsmap(const std::string& name) {
  static std::mutex mu;
  static std::map<std::string, std::string> cache;
  std::lock_guard<std::mutex> g(mu);
  auto it = cache.find(name);
  if (it != cache.end()) return it->second;
  std::string blob = name == "identity" ? std::string() : build_charsmap(builtin_rules(name));
  return cache.emplace(name, std::move(blob)).first->second;
}

}  // namespace unigram
}  // namespace fastlm
