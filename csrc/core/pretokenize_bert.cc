#include "core/pretokenize_bert.h"

#include "core/normalize.h"
#include "core/unicode.h"

namespace fastlm {

BertClass bert_class(uint32_t cp) {
  if (cp == unicode::kInvalid) return BertClass::kWord;
  uint8_t f = norm::record(cp).flags;
  if (f & norm::kWhitespace) return BertClass::kSpace;
  if (f & norm::kPunct) return BertClass::kPunct;
  return BertClass::kWord;
}

void bert_pretokenize(std::string_view text, std::vector<std::pair<uint32_t, uint32_t>>& words) {
  const auto* p0 = reinterpret_cast<const unsigned char*>(text.data());
  const auto* end = p0 + text.size();
  uint32_t start = 0;
  bool open = false;
  for (const unsigned char* p = p0; p < end;) {
    uint32_t cp;
    int len = unicode::decode(p, end, cp);
    uint32_t s = uint32_t(p - p0);
    p += len;
    BertClass c = bert_class(cp);
    if (c == BertClass::kWord) {
      if (!open) start = s, open = true;
      continue;
    }
    if (open) words.emplace_back(start, s), open = false;
    if (c == BertClass::kPunct) words.emplace_back(s, s + uint32_t(len));
  }
  if (open) words.emplace_back(start, uint32_t(text.size()));
}

}  // namespace fastlm
