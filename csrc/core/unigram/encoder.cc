#include "core/unigram/encoder.h"

#include <cstring>

#include "core/error.h"

namespace fastlm {
namespace unigram {

namespace {
constexpr char kSpace[] = "\xe2\x96\x81";

SpNormalizerOptions with_user(SpNormalizerOptions o, const PieceTable& t) {
  o.user_defined = t.user_defined();
  return o;
}
}  // namespace

SpEncoder::SpEncoder(std::vector<sp::Piece> pieces, bool byte_fallback, SpEncoderOptions opts)
    : opts_(std::move(opts)),
      table_(std::make_shared<PieceTable>(std::move(pieces), byte_fallback)),
      norm_(with_user(opts_.normalizer, *table_)) {
  if (opts_.bpe)
    bpe_ = std::make_unique<SpBpeModel>(table_);
  else
    uni_ = std::make_unique<UnigramModel>(table_);
}

std::shared_ptr<SpEncoder> SpEncoder::from_proto(const sp::ModelProto& m) {
  namespace tr = sp::trainer;
  namespace nr = sp::normalizer;
  const auto& ts = m.trainer_spec;
  int64_t type = ts.get_int(tr::kModelType, tr::kUnigram);
  if (type < 1 || type > 4) type = tr::kUnigram;  // proto2: an unknown enum value leaves the default
  if (type != tr::kUnigram && type != tr::kBpe)
    throw ValueError(std::string("SentencePiece model_type ") + (type == tr::kWord ? "WORD" : "CHAR") +
                     " is not supported (UNIGRAM and BPE are)");
  SpEncoderOptions o;
  o.bpe = type == tr::kBpe;
  o.unk_surface = ts.get_string(tr::kUnkSurface, o.unk_surface);
  const auto& ns = m.normalizer_spec;
  o.normalizer.precompiled_charsmap = ns.get_string(nr::kPrecompiledCharsmap, "");
  o.normalizer.add_dummy_prefix = ns.get_bool(nr::kAddDummyPrefix, true);
  o.normalizer.remove_extra_whitespaces = ns.get_bool(nr::kRemoveExtraWhitespaces, true);
  o.normalizer.escape_whitespaces = ns.get_bool(nr::kEscapeWhitespaces, true);
  o.normalizer.treat_whitespace_as_suffix = ts.get_bool(tr::kTreatWhitespaceAsSuffix, false);
  return std::make_shared<SpEncoder>(m.pieces, ts.get_bool(tr::kByteFallback, false), std::move(o));
}

void SpEncoder::finish(std::string_view norm, const std::vector<uint32_t>* n2o, const std::vector<Tok>& toks,
                       size_t base, Encoding& out) const {
  const PieceTable& t = *table_;
  const uint32_t unk = t.unk_id();
  const bool bf = t.byte_fallback();
  const bool offs = n2o != nullptr;
  bool prev_unk = false;
  size_t from = 0;
  if (!offs) {  // ids only: copy until the first unknown piece, which needs the rules below
    const size_t n0 = out.ids.size();
    out.ids.resize(n0 + toks.size());
    uint32_t* w = out.ids.data() + n0;
    while (from < toks.size() && toks[from].id != unk) *w++ = toks[from++].id;
    out.ids.resize(size_t(w - out.ids.data()));
  }
  for (size_t q = from; q < toks.size(); ++q) {
    const Tok& k = toks[q];
    const bool is_unk = k.id == unk;
    uint32_t b = 0, e = 0;
    if (offs) {
      b = uint32_t(base + (*n2o)[k.begin]);
      e = uint32_t(base + (*n2o)[k.end]);
    }
    if (is_unk && bf) {
      for (uint32_t i = k.begin; i < k.end; ++i) {
        out.ids.push_back(t.byte_id(uint8_t(norm[i])));
        if (offs) {
          out.starts.push_back(b);
          out.ends.push_back(e);
        }
      }
      continue;  // sentencepiece leaves its unknown-run state untouched here
    }
    if (is_unk && prev_unk) {  // merge a run of unknowns into one token
      if (offs) out.ends.back() = e;
      continue;
    }
    out.ids.push_back(k.id);
    if (offs) {
      out.starts.push_back(b);
      out.ends.push_back(e);
    }
    prev_unk = is_unk;
  }
}

void SpEncoder::encode(std::string_view text, size_t base, bool with_offsets, Encoding& out) const {
  thread_local SpNormBuffer norm;
  thread_local std::vector<Tok> toks;
  norm_.normalize(text, norm, with_offsets);
  toks.clear();
  if (bpe_)
    bpe_->encode(norm.view(), toks);
  else if (with_offsets)
    uni_->encode(norm.view(), toks);
  else {
    uni_->encode_ids(norm.view(), out.ids);  // the output rules applied on the way
    return;
  }
  finish(norm.view(), with_offsets ? &norm.n2o : nullptr, toks, base, out);
}

void SpEncoder::encode_sample(std::string_view text, int nbest_size, float alpha, std::mt19937& rng,
                              bool with_offsets, Encoding& out) const {
  std::string norm;
  std::vector<uint32_t> n2o;
  std::vector<Tok> toks;
  norm_.normalize(text, norm, with_offsets ? &n2o : nullptr);
  if (bpe_)
    bpe_->encode(norm, toks);
  else
    uni_->sample(norm, nbest_size, alpha, rng, toks);
  finish(norm, with_offsets ? &n2o : nullptr, toks, 0, out);
}

std::vector<std::pair<std::vector<uint32_t>, float>> SpEncoder::nbest(std::string_view text, int n) const {
  std::string norm;
  norm_.normalize(text, norm, nullptr);
  std::vector<std::pair<std::vector<uint32_t>, float>> res;
  if (bpe_) {
    std::vector<Tok> toks;
    bpe_->encode(norm, toks);
    Encoding e;
    finish(norm, nullptr, toks, 0, e);
    res.emplace_back(std::move(e.ids), 0.0f);
    return res;
  }
  for (auto& p : uni_->nbest(norm, n)) {
    Encoding e;
    finish(norm, nullptr, p.first, 0, e);
    res.emplace_back(std::move(e.ids), p.second);
  }
  return res;
}

size_t SpEncoder::decode(const uint32_t* ids, size_t n, bool first, std::string& out) const {
  const PieceTable& t = *table_;
  const auto& no = opts_.normalizer;
  const bool strip_first = no.add_dummy_prefix || no.remove_extra_whitespaces;
  bool bos_ws = first;
  for (size_t i = 0; i < n; ++i) {
    uint32_t id = ids[i];
    if (id >= t.size()) return i;
    const sp::Piece& p = t.piece(id);
    switch (p.type) {
      case sp::kControl: continue;  // <s>, </s> print nothing
      case sp::kUnknown:
        out += opts_.unk_surface;
        bos_ws = false;
        continue;
      case sp::kByte: {
        int b = parse_byte_piece(p.piece);
        out.push_back(char(b));
        bos_ws = false;
        continue;
      }
      default: break;
    }
    std::string_view w = p.piece;
    if (bos_ws && strip_first && w.size() >= 3 && std::memcmp(w.data(), kSpace, 3) == 0) w.remove_prefix(3);
    for (size_t j = 0; j < w.size();) {
      if (j + 3 <= w.size() && std::memcmp(w.data() + j, kSpace, 3) == 0) {
        out.push_back(' ');
        j += 3;
      } else {
        out.push_back(w[j++]);
      }
    }
    // With remove_extra_whitespaces, sentencepiece strips all leading whitespace: it stays at "beginning of
    // text" until a piece prints something, so after a lone leading "▁" piece (text that starts with U+2581)
    // the next piece's "▁" is stripped too. Without it (Llama 2), only the first piece's.
    if (!w.empty() || !no.remove_extra_whitespaces) bos_ws = false;
  }
  return n;
}

bool SpEncoder::token_bytes(uint32_t id, std::string& out) const {
  if (id >= table_->size()) return false;
  out = table_->piece(id).piece;
  return true;
}

uint32_t SpEncoder::token_to_id(std::string_view token) const {
  int32_t id = table_->find(token);
  return id < 0 ? kNoToken : uint32_t(id);
}

}  // namespace unigram
}  // namespace fastlm
