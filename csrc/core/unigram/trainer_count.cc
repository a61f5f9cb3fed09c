#include "core/unigram/trainer_count.h"

#include <algorithm>
#include <cstring>

#include "core/error.h"
#include "core/hash.h"
#include "core/parallel.h"

namespace fastlm {
namespace unigram {

namespace {
constexpr char kWs[] = "\xe2\x96\x81";

std::vector<std::string> escaped(const std::vector<std::string>& toks) {
  std::vector<std::string> out;
  for (const auto& t : toks) {
    if (t.empty()) continue;
    std::string e;
    for (char c : t) {
      if (c == ' ')
        e += kWs;
      else
        e.push_back(c);
    }
    out.push_back(std::move(e));
  }
  std::sort(out.begin(), out.end());
  out.erase(std::unique(out.begin(), out.end()), out.end());
  return out;
}

SpNormalizerOptions with_user(SpNormalizerOptions o, const std::vector<std::string>& cut) {
  if (!o.escape_whitespaces) throw ValueError("Unigram training needs escape_whitespaces=True");
  // Cut tokens pass the normalizer verbatim (as user-defined pieces do when encoding), so they can be found after.
  for (const auto& t : cut)
    if (!t.empty()) o.user_defined.push_back(t);
  return o;
}

// Splits s at '\n' (a trailing '\r' is left to the normalizer, as sentencepiece does).
template <class F>
void for_each_line(std::string_view s, F&& f) {
  size_t pos = 0;
  while (pos < s.size()) {
    const void* nl = std::memchr(s.data() + pos, '\n', s.size() - pos);
    size_t end = nl ? size_t(static_cast<const char*>(nl) - s.data()) : s.size();
    if (end > pos) f(s.substr(pos, end - pos));
    pos = end + 1;
  }
}
}  // namespace

WordCounter::WordCounter(const UnigramTrainerOptions& opts)
    : norm_(with_user(opts.normalizer, opts.cut_tokens)),
      cut_(escaped(opts.cut_tokens)),
      split_by_whitespace_(opts.split_by_whitespace),
      max_sentences_(opts.max_sentences),
      seed_(opts.seed) {}

void WordCounter::count_line(std::string_view line, std::string& norm, bpe::PieceCounter& into) const {
  norm_.normalize(line, norm, nullptr);
  auto words = [&](std::string_view seg) {
    if (seg.empty()) return;
    if (!split_by_whitespace_) {
      into.add(seg, 1);
      return;
    }
    size_t start = 0;
    for (size_t i = 1; i + 2 < seg.size(); ++i) {  // a word starts at each U+2581 (but the first)
      if (seg[i] == kWs[0] && seg[i + 1] == kWs[1] && seg[i + 2] == kWs[2]) {
        into.add(seg.substr(start, i - start), 1);
        start = i;
        i += 2;
      }
    }
    into.add(seg.substr(start), 1);
  };
  if (cut_.size() == 0) {
    words(norm);
    return;
  }
  std::string_view n(norm);
  size_t pos = 0;
  SpecialMatch m;
  while (cut_.find(n, pos, nullptr, m)) {
    words(n.substr(pos, m.start - pos));
    pos = m.end;
  }
  words(n.substr(pos));
}

void WordCounter::count_lines(const std::vector<std::string_view>& lines, int num_threads) {
  int t = resolve_threads(num_threads, lines.size());
  if (workers_.size() < size_t(t)) workers_.resize(size_t(t));
  std::vector<std::string> scratch(static_cast<size_t>(t));
  parallel_for(lines.size(), t, [&](int w, size_t i) { count_line(lines[i], scratch[size_t(w)], workers_[size_t(w)]); });
}

void WordCounter::add_texts(const std::vector<std::string_view>& texts, int num_threads) {
  std::vector<std::string_view> lines;
  for (auto s : texts) {
    bytes_ += s.size();
    for_each_line(s, [&](std::string_view l) { lines.push_back(l); });
  }
  if (max_sentences_ == 0) {
    lines_ += lines.size();
    count_lines(lines, num_threads);
    return;
  }
  for (auto l : lines) {  // Algorithm R; line i's draw depends only on (seed, i)
    uint64_t i = lines_++;
    if (i < max_sentences_) {
      sample_.emplace_back(l);
      continue;
    }
    uint64_t j = mix64(seed_ * 0x9E3779B97F4A7C15ULL + i + 1) % (i + 1);
    if (j < max_sentences_) sample_[size_t(j)].assign(l.data(), l.size());
  }
}

bpe::PieceCounter WordCounter::take(int num_threads) {
  if (!sample_.empty()) {
    std::vector<std::string_view> v(sample_.begin(), sample_.end());
    count_lines(v, num_threads);
    std::vector<std::string>().swap(sample_);
  }
  bpe::PieceCounter out;
  if (workers_.empty()) return out;
  auto big = std::max_element(workers_.begin(), workers_.end(),
                              [](const bpe::PieceCounter& a, const bpe::PieceCounter& b) { return a.size() < b.size(); });
  out = std::move(*big);
  for (auto& w : workers_) {
    if (&w == &*big) continue;
    out.add_all(w);
    w.clear();
  }
  workers_.clear();
  return out;
}

}  // namespace unigram
}  // namespace fastlm
