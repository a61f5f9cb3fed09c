#include "core/wordpiece/encoder.h"

#include "core/unicode.h"

namespace fastlm {
namespace wordpiece {

namespace {
enum : uint8_t { kWordCh = 0, kBreak = 1, kPunctCh = 2, kDropCh = 3 };

// Per-thread word buffers, reused across calls (encode runs on many threads at once).
struct WordBuf {
  std::string bytes;               // normalized bytes of the current word
  std::vector<uint32_t> src_start;  // per normalized byte: original byte range of its character
  std::vector<uint32_t> src_end;
  std::vector<Piece> pieces;
  size_t chars = 0;
};
// Not inlined on purpose: when the compiler sees that the buffer is thread-local it recomputes its address
// (a __tls_get_addr call in a shared library) at every use inside the loop; an opaque call returns it once.
#if defined(__GNUC__)
__attribute__((noinline))
#endif
WordBuf& thread_buf() {
  thread_local WordBuf b;
  return b;
}
}  // namespace

WordPieceEncoder::WordPieceEncoder(std::shared_ptr<const WordPieceModel> model, WordPieceOptions opts)
    : model_(std::move(model)), opts_(std::move(opts)) {
  for (uint32_t c = 0; c < 128; ++c) {
    const norm::NormRecord& r = norm::record(c);
    uint8_t cls = kWordCh;
    char b = char(c);
    if (opts_.normalize && opts_.norm.clean_text && (r.flags & norm::kCleanMask) == norm::kDrop) {
      cls = kDropCh;
    } else if (opts_.normalize && opts_.norm.clean_text && (r.flags & norm::kCleanMask) == norm::kSpace) {
      cls = kBreak;
    } else {
      if (opts_.normalize && opts_.norm.lowercase && c >= 'A' && c <= 'Z') b = char(c + 32);
      if (r.flags & norm::kWhitespace)
        cls = kBreak;
      else if (opts_.pretokenize && (r.flags & norm::kPunct))
        cls = kPunctCh;
    }
    ascii_class_[c] = cls;
    ascii_byte_[c] = b;
  }
}

void WordPieceEncoder::encode(std::string_view text, size_t base, bool with_offsets, Encoding& out) const {
  WordBuf& wb = thread_buf();
  wb.bytes.clear();
  wb.src_start.clear();
  wb.src_end.clear();
  wb.chars = 0;
  const WordPieceModel& m = *model_;
  const size_t max_chars = m.max_input_chars_per_word();
  const bool nz = opts_.normalize;
  const bool clean = nz && opts_.norm.clean_text;
  const bool cjk_on = nz && opts_.norm.handle_chinese_chars;
  const bool strip = nz && opts_.norm.strip_accents;
  const bool lower = nz && opts_.norm.lowercase;
  const bool pretok = opts_.pretokenize;

  auto flush = [&]() {
    size_t n = wb.bytes.size();
    if (n == 0) return;
    const auto* w = reinterpret_cast<const unsigned char*>(wb.bytes.data());
    bool ok = false;
    wb.pieces.clear();
    if (wb.chars <= max_chars) {
      uint32_t id = m.whole_word(w, n);
      if (id != kNone) {
        wb.pieces.push_back(Piece{id, uint32_t(n)});
        ok = true;
      } else {
        ok = m.match(w, n, wb.pieces);
      }
    }
    if (!ok) {
      out.ids.push_back(m.unk_id());
      if (with_offsets) {
        out.starts.push_back(uint32_t(base + wb.src_start[0]));
        out.ends.push_back(uint32_t(base + wb.src_end[n - 1]));
      }
    } else if (!with_offsets) {
      for (const Piece& p : wb.pieces) out.ids.push_back(p.id);
    } else {
      size_t pos = 0;
      for (const Piece& p : wb.pieces) {
        out.ids.push_back(p.id);
        out.starts.push_back(uint32_t(base + wb.src_start[pos]));
        out.ends.push_back(uint32_t(base + wb.src_end[pos + p.len - 1]));
        pos += p.len;
      }
    }
    wb.bytes.clear();
    wb.src_start.clear();
    wb.src_end.clear();
    wb.chars = 0;
  };
  // Appends one normalized character (its UTF-8 bytes) that came from original bytes [s, e).
  auto add_char = [&](uint32_t cp, uint32_t s, uint32_t e) {
    const norm::NormRecord& r = norm::record(cp);
    if (r.flags & norm::kWhitespace) {
      flush();
      return;
    }
    bool punct = pretok && (r.flags & norm::kPunct);
    if (punct) flush();
    size_t before = wb.bytes.size();
    unicode::append_utf8(wb.bytes, cp);
    size_t k = wb.bytes.size() - before;
    wb.src_start.insert(wb.src_start.end(), k, s);
    wb.src_end.insert(wb.src_end.end(), k, e);
    ++wb.chars;
    if (punct) flush();
  };

  const auto* p0 = reinterpret_cast<const unsigned char*>(text.data());
  const auto* end = p0 + text.size();
  const unsigned char* p = p0;
  while (p < end) {
    unsigned char c = *p;
    if (c < 0x80) {
      uint32_t s = uint32_t(p - p0);
      ++p;
      switch (ascii_class_[c]) {
        case kWordCh:
          wb.bytes.push_back(ascii_byte_[c]);
          wb.src_start.push_back(s);
          wb.src_end.push_back(s + 1);
          ++wb.chars;
          break;
        case kBreak:
          flush();
          break;
        case kPunctCh:
          flush();
          wb.bytes.push_back(ascii_byte_[c]);
          wb.src_start.push_back(s);
          wb.src_end.push_back(s + 1);
          wb.chars = 1;
          flush();
          break;
        default:
          break;
      }
      continue;
    }
    uint32_t cp;
    int len = unicode::decode(p, end, cp);
    uint32_t s = uint32_t(p - p0), e = s + uint32_t(len);
    p += len;
    if (cp == unicode::kInvalid) {  // bytes input only: an undecodable byte is an ordinary word byte
      wb.bytes.push_back(char(c));
      wb.src_start.push_back(s);
      wb.src_end.push_back(e);
      ++wb.chars;
      continue;
    }
    const norm::NormRecord& r = norm::record(cp);
    if (clean) {
      uint8_t k = r.flags & norm::kCleanMask;
      if (k == norm::kDrop) continue;
      if (k == norm::kSpace) {
        flush();
        continue;
      }
    }
    bool cjk = cjk_on && (r.flags & norm::kCjk);
    if (cjk) flush();
    const uint32_t* mapped;
    int n = nz ? norm::map_char(r, strip, lower, &cp, &mapped) : (mapped = &cp, 1);
    if (n == 1 && mapped == &cp && !(r.flags & (norm::kWhitespace | norm::kPunct))) {
      // unchanged ordinary character: copy its bytes
      wb.bytes.append(reinterpret_cast<const char*>(p - len), size_t(len));
      wb.src_start.insert(wb.src_start.end(), size_t(len), s);
      wb.src_end.insert(wb.src_end.end(), size_t(len), e);
      ++wb.chars;
    } else {
      for (int i = 0; i < n; ++i) add_char(mapped[i], s, e);
    }
    if (cjk) flush();
  }
  flush();
}

size_t WordPieceEncoder::decode(const uint32_t* ids, size_t n, bool first, std::string& out) const {
  const WordPieceModel& m = *model_;
  const std::string& pre = opts_.decoder_prefix;
  std::string tok;
  for (size_t i = 0; i < n; ++i) {
    if (!m.has_id(ids[i])) return i;
    const std::string& t = m.token(ids[i]);
    bool lead = first && i == 0;
    if (!opts_.wordpiece_decoder) {
      if (!lead) out.push_back(' ');
      out += t;
      continue;
    }
    // The reference decodes token by token: strip the prefix or prepend a space (not on the first token), then
    // clean up spaces before punctuation and contractions within that token's text.
    if (lead)
      tok = t;
    else if (!pre.empty() && t.compare(0, pre.size(), pre) == 0)
      tok = t.substr(pre.size());
    else
      tok = " " + t;
    if (opts_.decoder_cleanup) {
      static const char* const kFrom[] = {" .", " ?", " !", " ,", " ' ", " n't", " 'm", " do not", " 's", " 've", " 're"};
      static const char* const kTo[] = {".", "?", "!", ",", "'", "n't", "'m", " don't", "'s", "'ve", "'re"};
      for (size_t k = 0; k < sizeof(kFrom) / sizeof(kFrom[0]); ++k) {
        std::string_view from(kFrom[k]);
        size_t at = tok.find(from);
        if (at == std::string::npos) continue;
        std::string r;
        size_t pos = 0;
        while (at != std::string::npos) {
          r.append(tok, pos, at - pos);
          r += kTo[k];
          pos = at + from.size();
          at = tok.find(from, pos);
        }
        r.append(tok, pos, std::string::npos);
        tok.swap(r);
      }
    }
    out += tok;
  }
  return n;
}

bool WordPieceEncoder::token_bytes(uint32_t id, std::string& out) const {
  if (!model_->has_id(id)) return false;
  out += model_->token(id);
  return true;
}

}  // namespace wordpiece
}  // namespace fastlm
