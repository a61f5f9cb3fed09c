#include "core/pipeline/normalizers.h"

#include <algorithm>

#include "core/error.h"
#include "core/pipeline/uprops.h"
#include "core/unicode.h"

namespace fastlm {
namespace pipeline {

void apply_changes(const NormStr& in, const Changes& t, NormStr& out) {
  Rewriter w(in, out);
  for (const auto& [cp, change] : t) {
    if (cp == unicode::kInvalid) {
      if (!w.done()) w.keep();
      continue;
    }
    if (change > 0 || w.done()) {
      w.insert(cp);
      continue;
    }
    int len;
    uint32_t old = w.peek(len);
    if (old == cp)
      w.keep();
    else
      w.replace(cp);
    for (int k = 0; k < -change && !w.done(); ++k) w.skip();
  }
  // The reference's transform ends the string where the list ends; trailing old characters not consumed are
  // dropped. (Lists built here always account for every old character.)
}

namespace {

bool all_ascii(const std::string& s) {
  for (unsigned char c : s)
    if (c >= 0x80) return false;
  return true;
}

// ------------------------------------------------------------------------------------------------ NFx
class UnicodeNf : public Normalizer {
 public:
  explicit UnicodeNf(NfForm f)
      : compat_(f == NfForm::kNFKC || f == NfForm::kNFKD), compose_(f == NfForm::kNFC || f == NfForm::kNFKC) {}

  void apply(const NormStr& in, NormStr& out) const override {
    if (all_ascii(in.s)) {  // ASCII is invariant under every form
      out = in;
      return;
    }
    // 1. decompose: each old character -> its full decomposition, first char change 0, the others inserted
    Changes d;
    d.reserve(in.s.size() + 8);
    const uint32_t* pool = decomposition_pool();
    for (size_t i = 0; i < in.s.size();) {
      int len;
      uint32_t cp = char_at(in.s, i, len);
      i += size_t(len);
      if (cp == unicode::kInvalid) {
        d.emplace_back(cp, 0);
        continue;
      }
      const UProps& u = uprops(cp);
      uint8_t n = compat_ ? u.nfkd_len : u.nfd_len;
      if (n == 0) {
        d.emplace_back(cp, 0);
        continue;
      }
      const uint32_t* m = pool + (compat_ ? u.nfkd_off : u.nfd_off);
      for (uint8_t k = 0; k < n; ++k) d.emplace_back(m[k], k ? 1 : 0);
    }
    // 2. canonical ordering: stable sort of every run of non-starters by combining class (changes travel along)
    for (size_t a = 0; a < d.size();) {
      if (d[a].first == unicode::kInvalid || uprops(d[a].first).ccc == 0) {
        ++a;
        continue;
      }
      size_t b = a;
      while (b < d.size() && d[b].first != unicode::kInvalid && uprops(d[b].first).ccc != 0) ++b;
      if (b - a > 1)
        std::stable_sort(d.begin() + ptrdiff_t(a), d.begin() + ptrdiff_t(b),
                         [](const auto& x, const auto& y) { return uprops(x.first).ccc < uprops(y.first).ccc; });
      a = b;
    }
    if (!compose_) {
      apply_changes(in, d, out);
      return;
    }
    // 3. canonical composition: a character joins the last starter unless blocked; the composite's change is
    //    the sum of both minus one (one old character fewer)
    Changes c;
    c.reserve(d.size());
    long starter = -1;
    int last_ccc = -1;  // combining class of the last character kept after the starter (-1: none)
    for (const auto& e : d) {
      uint32_t cp = e.first;
      int k = cp == unicode::kInvalid ? 0 : uprops(cp).ccc;
      if (starter >= 0 && cp != unicode::kInvalid && (last_ccc == -1 || (last_ccc != 0 && last_ccc < k))) {
        uint32_t comp = compose_pair(c[size_t(starter)].first, cp);
        if (comp) {
          c[size_t(starter)].first = comp;
          c[size_t(starter)].second += e.second - 1;
          continue;
        }
      }
      if (k == 0) {
        starter = cp == unicode::kInvalid ? -1 : long(c.size());
        last_ccc = -1;
      } else {
        last_ccc = k;
      }
      c.push_back(e);
    }
    apply_changes(in, c, out);
  }

 private:
  bool compat_, compose_;
};

// ------------------------------------------------------------------------------------------------ per character
class Lowercase : public Normalizer {
 public:
  void apply(const NormStr& in, NormStr& out) const override {
    Rewriter w(in, out);
    while (!w.done()) {
      int len;
      uint32_t cp = w.peek(len);
      if (cp < 0x80) {
        if (cp >= 'A' && cp <= 'Z')
          w.replace(cp + 32);
        else
          w.keep_bytes(1);
        continue;
      }
      if (cp == unicode::kInvalid) {
        w.keep_bytes(1);
        continue;
      }
      const uint32_t* m;
      int n = norm::map_char(norm::record(cp), false, true, &cp, &m);
      if (n == 1 && m[0] == cp)
        w.keep_bytes(size_t(len));
      else
        w.map(m, size_t(n));
    }
  }
};

class StripAccents : public Normalizer {
 public:
  void apply(const NormStr& in, NormStr& out) const override {
    Rewriter w(in, out);
    while (!w.done()) {
      int len;
      uint32_t cp = w.peek(len);
      if (cp >= 0x80 && cp != unicode::kInvalid && (uprops(cp).flags & kUStrip))
        w.skip_bytes(size_t(len));
      else
        w.keep_bytes(size_t(len));
    }
  }
};

// The reference's four steps, in order, each a rewrite of its own (core/normalize's per-character data):
// clean text (drop controls, whitespace -> ' '), CJK spacing (' ' c ' '), strip accents (NFD of the whole text,
// then drop nonspacing marks), lowercase. The NFD is the Unicode normalizer's, with canonical reordering across
// characters, which is what decides the offsets of text whose combining marks are out of canonical order. (The
// fused WordPiece encoder maps each character on its own; it agrees except on such text.)
class BertNorm : public Normalizer {
 public:
  explicit BertNorm(const norm::BertNormOptions& o) : o_(o), nfd_(NfForm::kNFD) {}
  void apply(const NormStr& in, NormStr& out) const override {
    thread_local NormStr a, b;
    const NormStr* cur = &in;
    if (o_.clean_text) {
      Rewriter w(*cur, a);
      while (!w.done()) {
        int len;
        uint32_t cp = w.peek(len);
        uint8_t k = cp == unicode::kInvalid ? norm::kKeep : (norm::record(cp).flags & norm::kCleanMask);
        if (k == norm::kDrop)
          w.skip_bytes(size_t(len));
        else if (k == norm::kSpace && cp != ' ')
          w.replace(' ');
        else
          w.keep_bytes(size_t(len));
      }
      cur = &a;
    }
    if (o_.handle_chinese_chars) {
      NormStr& dst = cur == &a ? b : a;
      Rewriter w(*cur, dst);
      while (!w.done()) {
        int len;
        uint32_t cp = w.peek(len);
        if (cp != unicode::kInvalid && (norm::record(cp).flags & norm::kCjk)) {
          w.replace(' ');
          w.insert(cp);
          w.insert(' ');
        } else {
          w.keep_bytes(size_t(len));
        }
      }
      cur = &dst;
    }
    if (o_.strip_accents) {
      NormStr& d1 = cur == &a ? b : a;
      nfd_.apply(*cur, d1);
      NormStr& d2 = &d1 == &a ? b : a;
      Rewriter w(d1, d2);
      while (!w.done()) {
        int len;
        uint32_t cp = w.peek(len);
        bool drop = false;
        if (cp >= 0x80 && cp != unicode::kInvalid) {
          const norm::NormRecord& r = norm::record(cp);
          drop = (r.flags & norm::kHasStrip) && r.n_strip == 0;  // a nonspacing mark: strip maps it to nothing
        }
        if (drop)
          w.skip_bytes(size_t(len));
        else
          w.keep_bytes(size_t(len));
      }
      cur = &d2;
    }
    if (o_.lowercase) {
      lower_.apply(*cur, out);
      return;
    }
    out = *cur;
  }

 private:
  norm::BertNormOptions o_;
  UnicodeNf nfd_;
  Lowercase lower_;
};

// ------------------------------------------------------------------------------------------------ rewrites
class Replace : public Normalizer {
 public:
  Replace(Regex re, std::string content) : re_(std::move(re)) {
    for (size_t i = 0; i < content.size();) {
      int len;
      cps_.push_back(char_at(content, i, len));
      i += size_t(len);
    }
  }
  void apply(const NormStr& in, NormStr& out) const override {
    thread_local std::vector<std::pair<uint32_t, uint32_t>> m;
    m.clear();
    re_.find_all(in.s, m);
    Rewriter w(in, out);
    for (auto [b, e] : m) {
      if (b > w.pos()) w.keep_bytes(b - w.pos());
      w.skip_bytes(e - b);
      for (uint32_t cp : cps_) w.insert(cp);  // all take the range of the match's last byte
    }
    w.finish();
  }

 private:
  Regex re_;
  std::vector<uint32_t> cps_;
};

class Prepend : public Normalizer {
 public:
  explicit Prepend(std::string s) {
    for (size_t i = 0; i < s.size();) {
      int len;
      cps_.push_back(char_at(s, i, len));
      i += size_t(len);
    }
  }
  void apply(const NormStr& in, NormStr& out) const override {
    if (in.empty() || cps_.empty()) {
      out = in;
      return;
    }
    Rewriter w(in, out);
    int len;
    uint32_t first = w.peek(len);
    if (first == unicode::kInvalid) {  // bytes input: the prefix takes the byte's range
      for (uint32_t cp : cps_) out.push_char(cp, in.a0[0], in.a1[0]);
      w.finish();
      return;
    }
    // the reference: the prefix's first character replaces the old first character, the rest of the prefix and
    // the old first character are inserted after it (all with its range)
    w.replace(cps_[0]);
    for (size_t k = 1; k < cps_.size(); ++k) w.insert(cps_[k]);
    w.insert(first);
    w.finish();
  }

 private:
  std::vector<uint32_t> cps_;
};

class Strip : public Normalizer {
 public:
  Strip(bool left, bool right) : left_(left), right_(right) {}
  void apply(const NormStr& in, NormStr& out) const override {
    size_t b = 0, e = in.s.size();
    if (left_) {
      while (b < e) {
        int len;
        uint32_t cp = char_at(in.s, b, len);
        if (cp == unicode::kInvalid || !(norm::record(cp).flags & norm::kWhitespace)) break;
        b += size_t(len);
      }
    }
    if (right_) {
      while (e > b) {
        size_t p = e - 1;
        while (p > b && (static_cast<unsigned char>(in.s[p]) & 0xC0) == 0x80) --p;
        int len;
        uint32_t cp = char_at(in.s, p, len);
        if (p + size_t(len) != e || cp == unicode::kInvalid || !(norm::record(cp).flags & norm::kWhitespace)) break;
        e = p;
      }
    }
    out.clear();
    out.origin = in.origin;
    out.append_from(in, b, e);
  }

 private:
  bool left_, right_;
};

class Sequence : public Normalizer {
 public:
  explicit Sequence(std::vector<NormalizerPtr> items) : items_(std::move(items)) {}
  void apply(const NormStr& in, NormStr& out) const override {
    if (items_.empty()) {
      out = in;
      return;
    }
    thread_local NormStr tmp;
    NormStr local = in;  // the steps alternate between two buffers
    for (size_t k = 0; k < items_.size(); ++k) {
      items_[k]->apply(local, tmp);
      std::swap(local, tmp);
    }
    out = std::move(local);
  }

 private:
  std::vector<NormalizerPtr> items_;
};

}  // namespace

NormalizerPtr make_unicode_normalizer(NfForm form) { return std::make_shared<UnicodeNf>(form); }
NormalizerPtr make_lowercase() { return std::make_shared<Lowercase>(); }
NormalizerPtr make_strip_accents() { return std::make_shared<StripAccents>(); }
NormalizerPtr make_bert_normalizer(const norm::BertNormOptions& o) { return std::make_shared<BertNorm>(o); }
NormalizerPtr make_replace(Regex pattern, std::string content) {
  return std::make_shared<Replace>(std::move(pattern), std::move(content));
}
NormalizerPtr make_prepend(std::string prepend) { return std::make_shared<Prepend>(std::move(prepend)); }
NormalizerPtr make_strip(bool left, bool right) { return std::make_shared<Strip>(left, right); }
NormalizerPtr make_sequence(std::vector<NormalizerPtr> items) { return std::make_shared<Sequence>(std::move(items)); }

}  // namespace pipeline
}  // namespace fastlm
