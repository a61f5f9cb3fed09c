#include "core/normalize.h"

#include "core/unicode.h"

namespace fastlm {
namespace norm {

#include "core/unicode_norm_tables.inc"

const NormRecord& record(uint32_t cp) { return kNormRecords[kNormStage2[size_t(kNormStage1[cp >> 8]) * 256 + (cp & 255)]]; }

const uint32_t* pool() { return kNormPool; }

void bert_normalize(std::string_view text, const BertNormOptions& o, std::string& out, std::vector<uint32_t>& starts,
                    std::vector<uint32_t>& ends) {
  out.clear();
  starts.clear();
  ends.clear();
  const auto* p0 = reinterpret_cast<const unsigned char*>(text.data());
  const auto* end = p0 + text.size();
  auto emit = [&](uint32_t cp, uint32_t s, uint32_t e) {
    size_t before = out.size();
    unicode::append_utf8(out, cp);
    starts.insert(starts.end(), out.size() - before, s);
    ends.insert(ends.end(), out.size() - before, e);
  };
  for (const unsigned char* p = p0; p < end;) {
    uint32_t cp;
    int len = unicode::decode(p, end, cp);
    uint32_t s = uint32_t(p - p0), e = s + uint32_t(len);
    p += len;
    if (cp == unicode::kInvalid) {
      out.push_back(char(p[-1]));
      starts.push_back(s);
      ends.push_back(e);
      continue;
    }
    const NormRecord& r = record(cp);
    if (o.clean_text) {
      uint8_t c = r.flags & kCleanMask;
      if (c == kDrop) continue;
      if (c == kSpace) {
        // a mapped space is a plain space; no other step changes it
        emit(' ', s, e);
        continue;
      }
    }
    bool cjk = o.handle_chinese_chars && (r.flags & kCjk);
    if (cjk) emit(' ', s, e);
    const uint32_t* m;
    int n = map_char(r, o.strip_accents, o.lowercase, &cp, &m);
    for (int i = 0; i < n; ++i) emit(m[i], s, e);
    if (cjk) emit(' ', s, e);
  }
}

}  // namespace norm
}  // namespace fastlm
