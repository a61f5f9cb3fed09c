#include "core/pipeline/encoder.h"

#include <algorithm>

#include "core/error.h"
#include "core/normalize.h"
#include "core/pipeline/uprops.h"

namespace fastlm {
namespace pipeline {

namespace {

bool is_space(uint32_t cp) { return cp != unicode::kInvalid && (norm::record(cp).flags & norm::kWhitespace); }
bool is_word(uint32_t cp) { return cp != unicode::kInvalid && (uprops(cp).flags & kUWord); }

// The character that ends at byte `pos` of s (pos > 0).
uint32_t char_before(const std::string& s, size_t pos) {
  size_t b = pos - 1;
  while (b > 0 && (static_cast<unsigned char>(s[b]) & 0xC0) == 0x80 && pos - b < 4) --b;
  int len;
  uint32_t cp = char_at(s, b, len);
  return b + size_t(len) == pos ? cp : unicode::kInvalid;
}

}  // namespace

PipelineEncoder::PipelineEncoder(NormalizerPtr normalizer, PreTokenizerPtr pre_tokenizer, ModelPtr model,
                                 DecoderPtr decoder, std::vector<AddedToken> added)
    : norm_(std::move(normalizer)), pre_(std::move(pre_tokenizer)), model_(std::move(model)),
      dec_(std::move(decoder)), added_(std::move(added)) {
  if (!model_) throw ValueError("the pipeline needs a model");
  uint32_t next_special = 0;
  std::vector<std::pair<std::string, int32_t>> raw_keys, norm_keys;
  std::vector<std::string> seen_raw, seen_norm;
  id_bound_ = model_->id_bound();
  vocab_size_ = model_->vocab_size();
  for (size_t k = 0; k < added_.size(); ++k) {
    const AddedToken& t = added_[k];
    if (t.content.empty()) throw ValueError("added token " + std::to_string(t.id) + " has empty content");
    special_index_.push_back(t.special ? next_special++ : kNoAdded);
    id_bound_ = std::max<size_t>(id_bound_, size_t(t.id) + 1);
    std::string probe;
    if (!model_->token(t.id, probe)) ++vocab_size_;
    std::string key = t.content;
    if (t.normalized && norm_) {
      NormStr in, o;
      in.assign(t.content, 0);
      norm_->apply(in, o);
      key = o.s;
    }
    surface_.push_back(key);  // the reference spells a normalized added token by its normalized content
    if (key.empty()) continue;  // a token that normalizes to nothing can never match
    auto& keys = t.normalized ? norm_keys : raw_keys;
    auto& seen = t.normalized ? seen_norm : seen_raw;
    if (std::find(seen.begin(), seen.end(), key) != seen.end()) continue;  // the first of equal contents wins
    seen.push_back(key);
    keys.emplace_back(key, int32_t(k));
  }
  raw_.empty = raw_keys.empty();
  normed_.empty = norm_keys.empty();
  if (!raw_.empty) raw_.trie.build(std::move(raw_keys));
  if (!normed_.empty) normed_.trie.build(std::move(norm_keys));
  added_by_id_.assign(id_bound_, kNoAdded);
  for (size_t k = 0; k < added_.size(); ++k)
    if (added_by_id_[added_[k].id] == kNoAdded) added_by_id_[added_[k].id] = uint32_t(k);
}

void PipelineEncoder::split_added(const NormStr& src, const AddedSet& set, const uint8_t* allowed,
                                  Splits& out) const {
  const std::string& s = src.s;
  const size_t n = s.size();
  if (set.empty || n == 0) {
    out.add(src, 0, n);
    return;
  }
  size_t start_offset = 0;
  size_t i = 0;
  while (i < n) {
    // leftmost-longest enabled match at or after i
    size_t mb = 0, me = 0;
    int32_t best = -1;
    for (size_t p = i; p < n && best < 0; ++p) {
      if (!set.trie.has_first_byte(static_cast<uint8_t>(s[p]))) continue;
      set.trie.prefixes(s.data() + p, n - p, [&](size_t len, int32_t k) {
        const AddedToken& t = added_[size_t(k)];
        if (t.special) {
          uint32_t si = special_index_[size_t(k)];
          if (!allowed || !allowed[si]) return;
        }
        best = k;
        mb = p;
        me = p + len;
      });
    }
    if (best < 0) break;
    i = me;  // the matcher resumes after the match even when it is discarded below
    const AddedToken& t = added_[size_t(best)];
    if (t.single_word) {
      bool start_ok = mb == 0 || !is_word(char_before(s, mb));
      int len;
      bool stop_ok = me == n || !is_word(char_at(s, me, len));
      if (!start_ok || !stop_ok) continue;
    }
    size_t start = mb, stop = me;
    if (t.lstrip) {
      size_t ns = start;
      while (ns > 0) {
        uint32_t cp = char_before(s, ns);
        if (!is_space(cp)) break;
        size_t b = ns - 1;
        while (b > 0 && (static_cast<unsigned char>(s[b]) & 0xC0) == 0x80) --b;
        ns = b;
      }
      start = std::max(ns, start_offset);
    }
    if (t.rstrip) {
      while (stop < n) {
        int len;
        uint32_t cp = char_at(s, stop, len);
        if (!is_space(cp)) break;
        stop += size_t(len);
      }
    }
    if (start_offset < start) out.add(src, start_offset, start);
    out.add_added(src, start, stop, t.id);
    start_offset = stop;
  }
  if (start_offset < n) out.add(src, start_offset, n);
}

void PipelineEncoder::encode_impl(std::string_view text, size_t base, const uint8_t* allowed, bool with_offsets,
                                  Encoding& out) const {
  if (text.empty()) return;
  thread_local NormStr raw, seg, normed;
  thread_local Splits phase1, phase2, pieces;
  thread_local std::vector<ModelToken> toks;
  raw.assign(text, uint32_t(base));
  phase1.clear();
  split_added(raw, raw_, allowed, phase1);
  phase2.clear();
  for (const Piece& p : phase1.pieces) {
    if (p.added != kNoAdded) {
      phase2.add_added(phase1.ns, p.begin, p.end, p.added);
      continue;
    }
    seg.clear();
    seg.origin = p.origin;
    seg.append_from(phase1.ns, p.begin, p.end);
    const NormStr* src = &seg;
    if (norm_) {
      norm_->apply(seg, normed);
      src = &normed;
    }
    split_added(*src, normed_, allowed, phase2);
  }
  const Splits* fin = &phase2;
  if (pre_) {
    pre_->apply(phase2, pieces);
    fin = &pieces;
  }
  const NormStr& ns = fin->ns;
  for (const Piece& p : fin->pieces) {
    if (p.added != kNoAdded) {
      out.ids.push_back(p.added);
      if (with_offsets) {
        out.starts.push_back(p.end > p.begin ? ns.a0[p.begin] : p.origin);
        out.ends.push_back(p.end > p.begin ? ns.a1[p.end - 1] : p.origin);
      }
      continue;
    }
    if (p.end <= p.begin) continue;
    toks.clear();
    model_->tokenize(std::string_view(ns.s).substr(p.begin, p.end - p.begin), toks);
    for (const ModelToken& t : toks) {
      out.ids.push_back(t.id);
      if (with_offsets) {
        if (t.e > t.b) {
          out.starts.push_back(ns.a0[p.begin + t.b]);
          out.ends.push_back(ns.a1[p.begin + t.e - 1]);
        } else {
          uint32_t at = p.begin + t.b < p.end ? ns.a0[p.begin + t.b] : ns.a1[p.end - 1];
          out.starts.push_back(at);
          out.ends.push_back(at);
        }
      }
    }
  }
}

void PipelineEncoder::encode(std::string_view text, size_t base, bool with_offsets, Encoding& out) const {
  encode_impl(text, base, nullptr, with_offsets, out);
}

void PipelineEncoder::encode_with_specials(std::string_view text, const uint8_t* allowed, bool with_offsets,
                                           Encoding& out) const {
  encode_impl(text, 0, allowed, with_offsets, out);
}

void PipelineEncoder::normalize(std::string_view text, NormStr& out) const {
  NormStr raw;
  raw.assign(text, 0);
  if (norm_)
    norm_->apply(raw, out);
  else
    out = raw;
}

void PipelineEncoder::pre_tokenize(std::string_view text, Splits& out) const {
  NormStr normed;
  normalize(text, normed);
  Splits in;
  in.add(normed, 0, normed.s.size());
  if (pre_)
    pre_->apply(in, out);
  else
    out = in;
}

size_t PipelineEncoder::decode(const uint32_t* ids, size_t n, bool first, std::string& out) const {
  std::vector<std::string> tokens;
  tokens.reserve(n);
  for (size_t i = 0; i < n; ++i) {
    uint32_t id = ids[i];
    std::string t;
    if (id < added_by_id_.size() && added_by_id_[id] != kNoAdded)
      t = surface_[added_by_id_[id]];
    else if (!model_->token(id, t))
      return i;
    tokens.push_back(std::move(t));
  }
  if (dec_) {
    dec_->decode_chain(tokens);
    for (const auto& t : tokens) out += t;
  } else {
    for (size_t i = 0; i < tokens.size(); ++i) {
      if (i || !first) out.push_back(' ');
      out += tokens[i];
    }
  }
  return n;
}

bool PipelineEncoder::token_bytes(uint32_t id, std::string& out) const {
  if (id < added_by_id_.size() && added_by_id_[id] != kNoAdded) {
    out += surface_[added_by_id_[id]];
    return true;
  }
  return model_->token(id, out);
}

uint32_t PipelineEncoder::token_to_id(std::string_view token) const {
  for (const AddedToken& t : added_)
    if (t.content == token) return t.id;
  return model_->token_to_id(token);
}

}  // namespace pipeline
}  // namespace fastlm
