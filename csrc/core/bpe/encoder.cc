#include "core/bpe/encoder.h"

#include <algorithm>

namespace fastlm {
namespace bpe {

namespace {

using NextFn = size_t (*)(const unsigned char*, size_t, size_t);
size_t whole_text(const unsigned char*, size_t n, size_t) { return n; }

// The encode loop for one scanner. Next is a template argument, so the scanner's inline ASCII fast path and the
// piece cache probe are compiled into one loop body (a call per piece through pretokenize()'s callback cost
// ~25 instructions of register saves per piece on English).
// Ids are written through a pointer into a small per-thread block (16 KiB, L1-resident) and appended to out.ids
// block by block. Rejected: push_back per id (~15% on cached English), and writing into out.ids resized ahead
// (its fresh pages were touched twice: the zero fill, then the ids).
template <NextFn Next>
void encode_text(const BpeModel& m, const unsigned char* b, size_t n, size_t base, bool with_offsets, Encoding& out) {
  BpeScratch* sc = &thread_scratch(m.serial());
  std::vector<uint32_t>& buf = sc->out;
  if (buf.size() < BpeScratch::kOutBlock) buf.resize(BpeScratch::kOutBlock);
  // Room for ~n/3 more ids, growing geometrically (callers append many documents to one vector).
  std::vector<uint32_t>& ids = out.ids;
  if (ids.capacity() - ids.size() < n / 3 + 16) ids.reserve(std::max(2 * ids.capacity(), ids.size() + n / 3 + 16));
  uint32_t* dst = buf.data();
  uint32_t* lim = buf.data() + buf.size();
  size_t off = base;  // offsets: pieces tile the text and tokens tile the pieces
  auto flush = [&] {
    out.ids.insert(out.ids.end(), buf.data(), dst);
    if (with_offsets)
      for (const uint32_t* q = buf.data(); q < dst; ++q) {
        out.starts.push_back(uint32_t(off));
        off += m.token_bytes(*q).size();
        out.ends.push_back(uint32_t(off));
      }
    dst = buf.data();
  };
  size_t pos = 0;
  while (pos < n) {
    size_t e = Next(b, n, pos);
    size_t k = e - pos;
    if (size_t(lim - dst) < k + 2) {  // a piece of k bytes has at most k ids (+2: the cache copies 3)
      flush();
      if (buf.size() < k + 2) buf.resize(k + 2);  // a long piece; the block shrinks back below
      dst = buf.data();
      lim = buf.data() + buf.size();
    }
    dst = m.encode_piece(b + pos, k, dst, sc, pos + 16 <= n);
    pos = e;
  }
  flush();
  if (buf.size() > BpeScratch::kOutBlock) {
    buf.resize(BpeScratch::kOutBlock);
    buf.shrink_to_fit();
  }
}

}  // namespace

void BpeEncoder::encode(std::string_view text, size_t base, bool with_offsets, Encoding& out) const {
  const auto* b = reinterpret_cast<const unsigned char*>(text.data());
  size_t n = text.size();
  switch (kind_) {
    case PretokKind::kNone:
      return encode_text<whole_text>(*model_, b, n, base, with_offsets, out);
    case PretokKind::kR50K:
      return encode_text<pretok::next_r50k>(*model_, b, n, base, with_offsets, out);
    case PretokKind::kCL100K:
      return encode_text<pretok::next_cl100k>(*model_, b, n, base, with_offsets, out);
    case PretokKind::kO200K:
      return encode_text<pretok::next_o200k>(*model_, b, n, base, with_offsets, out);
  }
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
