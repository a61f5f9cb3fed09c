#include "core/bpe/encoder.h"

namespace fastlm {
namespace bpe {

void BpeEncoder::encode(std::string_view text, size_t base, bool with_offsets, Encoding& out) const {
  const BpeModel& m = *model_;
  BpeScratch* sc = &thread_scratch(m.serial());
  if (!with_offsets) {
    out.ids.reserve(out.ids.size() + text.size() / 3);
    pretokenize(kind_, text, [&](size_t a, size_t b) { m.encode_piece(text.substr(a, b - a), out.ids, sc); });
    return;
  }
  pretokenize(kind_, text, [&](size_t a, size_t b) {
    size_t first = out.ids.size();
    m.encode_piece(text.substr(a, b - a), out.ids, sc);
    size_t pos = base + a;
    for (size_t i = first; i < out.ids.size(); ++i) {
      size_t len = m.token_bytes(out.ids[i]).size();
      out.starts.push_back(uint32_t(pos));
      pos += len;
      out.ends.push_back(uint32_t(pos));
    }
  });
}

size_t BpeEncoder::decode(const uint32_t* ids, size_t n, bool, std::string& out) const {
  const BpeModel& m = *model_;
  for (size_t i = 0; i < n; ++i) {
    if (!m.has_id(ids[i])) return i;
    out += m.token_bytes(ids[i]);
  }
  return n;
}

bool BpeEncoder::token_bytes(uint32_t id, std::string& out) const {
  if (!model_->has_id(id)) return false;
  out += model_->token_bytes(id);
  return true;
}

}  // namespace bpe
}  // namespace fastlm
