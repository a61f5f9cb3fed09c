#include "core/bpe/tiktoken_file.h"

#include <algorithm>

#include "core/error.h"

namespace fastlm {
namespace bpe {

namespace {
int b64val(unsigned char c) {
  if (c >= 'A' && c <= 'Z') return c - 'A';
  if (c >= 'a' && c <= 'z') return c - 'a' + 26;
  if (c >= '0' && c <= '9') return c - '0' + 52;
  if (c == '+') return 62;
  if (c == '/') return 63;
  return -1;
}

bool b64decode(std::string_view s, std::string& out) {
  out.clear();
  if (s.empty() || s.size() % 4 != 0) return false;
  size_t pad = 0;
  if (s.back() == '=') pad = (s.size() >= 2 && s[s.size() - 2] == '=') ? 2 : 1;
  for (size_t i = 0; i < s.size(); i += 4) {
    int v[4];
    for (int k = 0; k < 4; ++k) {
      unsigned char c = static_cast<unsigned char>(s[i + k]);
      if (c == '=' && i + 4 == s.size() && k >= 4 - int(pad)) {
        v[k] = 0;
      } else {
        v[k] = b64val(c);
        if (v[k] < 0) return false;
      }
    }
    uint32_t x = (uint32_t(v[0]) << 18) | (uint32_t(v[1]) << 12) | (uint32_t(v[2]) << 6) | uint32_t(v[3]);
    out.push_back(static_cast<char>(x >> 16));
    if (!(i + 4 == s.size() && pad == 2)) out.push_back(static_cast<char>((x >> 8) & 0xFF));
    if (!(i + 4 == s.size() && pad >= 1)) out.push_back(static_cast<char>(x & 0xFF));
  }
  return true;
}

const char* kB64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

void b64encode(std::string_view s, std::string& out) {
  size_t i = 0;
  for (; i + 3 <= s.size(); i += 3) {
    uint32_t x = (uint32_t(uint8_t(s[i])) << 16) | (uint32_t(uint8_t(s[i + 1])) << 8) | uint8_t(s[i + 2]);
    out.push_back(kB64[x >> 18]);
    out.push_back(kB64[(x >> 12) & 63]);
    out.push_back(kB64[(x >> 6) & 63]);
    out.push_back(kB64[x & 63]);
  }
  size_t r = s.size() - i;
  if (r) {
    uint32_t x = uint32_t(uint8_t(s[i])) << 16;
    if (r == 2) x |= uint32_t(uint8_t(s[i + 1])) << 8;
    out.push_back(kB64[x >> 18]);
    out.push_back(kB64[(x >> 12) & 63]);
    out.push_back(r == 2 ? kB64[(x >> 6) & 63] : '=');
    out.push_back('=');
  }
}
}  // namespace

std::vector<std::pair<std::string, uint32_t>> parse_tiktoken(std::string_view data, const std::string& source) {
  std::vector<std::pair<std::string, uint32_t>> out;
  out.reserve(data.size() / 12);
  size_t pos = 0, line = 0;
  std::string tok;
  while (pos < data.size()) {
    ++line;
    size_t nl = data.find('\n', pos);
    if (nl == std::string_view::npos) nl = data.size();
    std::string_view l = data.substr(pos, nl - pos);
    pos = nl + 1;
    if (!l.empty() && l.back() == '\r') l.remove_suffix(1);
    if (l.empty()) continue;
    auto fail = [&](const std::string& why) {
      return ValueError(source + ":" + std::to_string(line) + ": " + why +
                        " (expected '<base64 token> <rank>' per line of a .tiktoken file)");
    };
    size_t sp = l.find(' ');
    if (sp == std::string_view::npos) throw fail("missing rank");
    std::string_view b = l.substr(0, sp), r = l.substr(sp + 1);
    if (!b64decode(b, tok)) throw fail("invalid base64 token");
    if (r.empty() || r.size() > 10) throw fail("invalid rank");
    uint64_t v = 0;
    for (char c : r) {
      if (c < '0' || c > '9') throw fail("invalid rank '" + std::string(r) + "'");
      v = v * 10 + uint64_t(c - '0');
    }
    if (v >= 0xFFFFFFFFull) throw fail("rank out of range");
    out.emplace_back(tok, uint32_t(v));
  }
  if (out.empty()) throw ValueError(source + ": no tokens found (empty or not a .tiktoken file)");
  return out;
}

std::string format_tiktoken(const std::vector<std::pair<std::string, uint32_t>>& ranks) {
  std::vector<const std::pair<std::string, uint32_t>*> v;
  v.reserve(ranks.size());
  for (auto& r : ranks) v.push_back(&r);
  std::sort(v.begin(), v.end(), [](auto* a, auto* b) { return a->second < b->second; });
  std::string out;
  for (auto* r : v) {
    b64encode(r->first, out);
    out.push_back(' ');
    out += std::to_string(r->second);
    out.push_back('\n');
  }
  return out;
}

}  // namespace bpe
}  // namespace fastlm
