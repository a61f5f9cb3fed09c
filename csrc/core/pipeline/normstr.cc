#include "core/pipeline/normstr.h"

namespace fastlm {
namespace pipeline {

void NormStr::assign(std::string_view text, uint32_t base) {
  s.assign(text.data(), text.size());
  a0.resize(text.size());
  a1.resize(text.size());
  origin = base;
  for (size_t i = 0; i < text.size();) {
    int len;
    char_at(text, i, len);
    for (int k = 0; k < len; ++k) {
      a0[i + size_t(k)] = base + uint32_t(i);
      a1[i + size_t(k)] = base + uint32_t(i) + uint32_t(len);
    }
    i += size_t(len);
  }
}

void NormStr::append_from(const NormStr& src, size_t b, size_t e) {
  s.append(src.s, b, e - b);
  a0.insert(a0.end(), src.a0.begin() + ptrdiff_t(b), src.a0.begin() + ptrdiff_t(e));
  a1.insert(a1.end(), src.a1.begin() + ptrdiff_t(b), src.a1.begin() + ptrdiff_t(e));
}

void NormStr::push_char(uint32_t cp, uint32_t s0, uint32_t s1) {
  size_t before = s.size();
  if (cp == unicode::kInvalid || cp > 0x10FFFF) return;
  unicode::append_utf8(s, cp);
  size_t k = s.size() - before;
  a0.insert(a0.end(), k, s0);
  a1.insert(a1.end(), k, s1);
}

}  // namespace pipeline
}  // namespace fastlm
