#include "core/pipeline/decoders.h"

#include "core/pipeline/normstr.h"
#include "core/pipeline/pretokenizers.h"
#include "core/unicode.h"

namespace fastlm {
namespace pipeline {

namespace {

class ByteLevelDec : public Decoder {
 public:
  void decode_chain(std::vector<std::string>& tokens) const override {
    std::string all;
    std::string bytes;
    for (const std::string& t : tokens) {
      bytes.clear();
      bool ok = true;
      for (size_t i = 0; i < t.size() && ok;) {
        int len;
        uint32_t cp = char_at(t, i, len);
        int b = cp == unicode::kInvalid ? -1 : byte_level_byte(cp);
        if (b < 0)
          ok = false;
        else
          bytes.push_back(char(b));
        i += size_t(len);
      }
      all += ok ? bytes : t;
    }
    tokens.assign(1, std::move(all));
  }
};

class WordPieceDec : public Decoder {
 public:
  WordPieceDec(std::string prefix, bool cleanup) : prefix_(std::move(prefix)), cleanup_(cleanup) {}
  void decode_chain(std::vector<std::string>& tokens) const override {
    for (size_t i = 0; i < tokens.size(); ++i) {
      std::string& t = tokens[i];
      if (i != 0) {
        if (t.compare(0, prefix_.size(), prefix_) == 0)
          t.erase(0, prefix_.size());  // the reference replaces the first occurrence, which is this one
        else
          t.insert(0, " ");
      }
      if (cleanup_) clean(t);
    }
  }

 private:
  static void replace_all(std::string& s, std::string_view from, std::string_view to) {
    size_t at = s.find(from);
    if (at == std::string::npos) return;
    std::string r;
    size_t pos = 0;
    while (at != std::string::npos) {
      r.append(s, pos, at - pos);
      r.append(to.data(), to.size());
      pos = at + from.size();
      at = s.find(from, pos);
    }
    r.append(s, pos, std::string::npos);
    s.swap(r);
  }
  static void clean(std::string& t) {
    static const char* const kFrom[] = {" .", " ?", " !", " ,", " ' ", " n't", " 'm", " do not", " 's", " 've", " 're"};
    static const char* const kTo[] = {".", "?", "!", ",", "'", "n't", "'m", " don't", "'s", "'ve", "'re"};
    for (size_t k = 0; k < sizeof(kFrom) / sizeof(kFrom[0]); ++k) replace_all(t, kFrom[k], kTo[k]);
  }
  std::string prefix_;
  bool cleanup_;
};

class MetaspaceDec : public Decoder {
 public:
  MetaspaceDec(uint32_t r, bool prepend) : r_(r), prepend_(prepend) {}
  void decode_chain(std::vector<std::string>& tokens) const override {
    std::string rep;
    unicode::append_utf8(rep, r_);
    for (size_t i = 0; i < tokens.size(); ++i) {
      std::string& t = tokens[i];
      if (t.find(rep) == std::string::npos) continue;
      std::string o;
      for (size_t k = 0; k < t.size();) {
        if (t.compare(k, rep.size(), rep) == 0) {
          if (!(i == 0 && prepend_)) o.push_back(' ');
          k += rep.size();
        } else {
          o.push_back(t[k++]);
        }
      }
      t.swap(o);
    }
  }

 private:
  uint32_t r_;
  bool prepend_;
};

class ByteFallbackDec : public Decoder {
 public:
  void decode_chain(std::vector<std::string>& tokens) const override {
    std::vector<std::string> out;
    out.reserve(tokens.size());
    std::string run;
    bool in_run = false;
    for (std::string& t : tokens) {
      int b = byte_token(t);
      if (b >= 0) {
        run.push_back(char(b));
        in_run = true;
        continue;
      }
      if (in_run) {
        out.push_back(std::move(run));
        run.clear();
        in_run = false;
      }
      out.push_back(std::move(t));
    }
    if (in_run) out.push_back(std::move(run));
    tokens.swap(out);
  }

 private:
  static int hex(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
  }
  // "<0xNN>" -> NN (either letter case, as the reference parses it), else -1
  static int byte_token(const std::string& t) {
    if (t.size() != 6 || t.compare(0, 3, "<0x") != 0 || t[5] != '>') return -1;
    int h = hex(t[3]), l = hex(t[4]);
    return h < 0 || l < 0 ? -1 : h * 16 + l;
  }
};

class FuseDec : public Decoder {
 public:
  void decode_chain(std::vector<std::string>& tokens) const override {
    std::string all;
    for (const auto& t : tokens) all += t;
    tokens.assign(1, std::move(all));
  }
};

class StripDec : public Decoder {
 public:
  StripDec(uint32_t c, size_t start, size_t stop) : c_(c), start_(start), stop_(stop) {}
  void decode_chain(std::vector<std::string>& tokens) const override {
    for (std::string& t : tokens) {
      // byte offset of every character start (invalid bytes of byte-fallback output are one-byte characters)
      std::vector<uint32_t> cps;
      std::vector<size_t> at;
      for (size_t i = 0; i < t.size();) {
        int len;
        at.push_back(i);
        cps.push_back(char_at(t, i, len));
        i += size_t(len);
      }
      at.push_back(t.size());
      size_t b = 0;
      while (b < start_ && b < cps.size() && cps[b] == c_) ++b;
      size_t e = cps.size();
      for (size_t k = 0; k < stop_ && e > b && cps[e - 1] == c_; ++k) --e;
      if (b != 0 || e != cps.size()) t = t.substr(at[b], at[e] - at[b]);
    }
  }

 private:
  uint32_t c_;
  size_t start_, stop_;
};

class ReplaceDec : public Decoder {
 public:
  ReplaceDec(Regex re, std::string content) : re_(std::move(re)), content_(std::move(content)) {}
  void decode_chain(std::vector<std::string>& tokens) const override {
    std::vector<std::pair<uint32_t, uint32_t>> m;
    for (std::string& t : tokens) {
      m.clear();
      re_.find_all(t, m);
      if (m.empty()) continue;
      std::string o;
      size_t pos = 0;
      for (auto [b, e] : m) {
        o.append(t, pos, b - pos);
        o += content_;
        pos = e;
      }
      o.append(t, pos, std::string::npos);
      t.swap(o);
    }
  }

 private:
  Regex re_;
  std::string content_;
};

class SequenceDec : public Decoder {
 public:
  explicit SequenceDec(std::vector<DecoderPtr> items) : items_(std::move(items)) {}
  void decode_chain(std::vector<std::string>& tokens) const override {
    for (const auto& d : items_) d->decode_chain(tokens);
  }

 private:
  std::vector<DecoderPtr> items_;
};

}  // namespace

DecoderPtr make_byte_level_decoder() { return std::make_shared<ByteLevelDec>(); }
DecoderPtr make_wordpiece_decoder(std::string prefix, bool cleanup) {
  return std::make_shared<WordPieceDec>(std::move(prefix), cleanup);
}
DecoderPtr make_metaspace_decoder(uint32_t replacement, bool prepend) {
  return std::make_shared<MetaspaceDec>(replacement, prepend);
}
DecoderPtr make_byte_fallback_decoder() { return std::make_shared<ByteFallbackDec>(); }
DecoderPtr make_fuse_decoder() { return std::make_shared<FuseDec>(); }
DecoderPtr make_strip_decoder(uint32_t content, size_t start, size_t stop) {
  return std::make_shared<StripDec>(content, start, stop);
}
DecoderPtr make_replace_decoder(Regex pattern, std::string content) {
  return std::make_shared<ReplaceDec>(std::move(pattern), std::move(content));
}
DecoderPtr make_decoder_sequence(std::vector<DecoderPtr> items) {
  return std::make_shared<SequenceDec>(std::move(items));
}

}  // namespace pipeline
}  // namespace fastlm
