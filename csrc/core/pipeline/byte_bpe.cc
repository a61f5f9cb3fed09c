// Byte-level BPE as a pipeline model: the pieces of a ByteLevel pre-tokenizer are spelled in the printable byte
// alphabet; this model maps them back to bytes and runs the byte-level merge engine (core/bpe/model: piece
// cache, pair cache, linear-logarithmic long pieces), which gives the reference's BPE result for a byte-level
// vocabulary with its merge list. Offsets come back in the alphabet's spelling (1 or 2 bytes per original byte).
// A piece with a character outside the alphabet (another pre-tokenizer ran after ByteLevel) goes to the general
// character-level BPE built from the same file.
#include "core/bpe/model.h"
#include "core/pipeline/models.h"
#include "core/pipeline/normstr.h"
#include "core/pipeline/pretokenizers.h"
#include "core/unicode.h"

namespace fastlm {
namespace pipeline {

namespace {

class ByteLevelBpe : public Model {
 public:
  ByteLevelBpe(std::shared_ptr<const bpe::BpeModel> m, ModelPtr fallback) : m_(std::move(m)), fb_(std::move(fallback)) {}
  std::string type() const override { return "BPE"; }

  void tokenize(std::string_view piece, std::vector<ModelToken>& out) const override {
    thread_local std::string raw;
    thread_local std::vector<uint32_t> at, ids;
    raw.clear();
    at.clear();
    for (size_t i = 0; i < piece.size();) {
      int len;
      uint32_t cp = char_at(piece, i, len);
      int b = cp == unicode::kInvalid ? -1 : byte_level_byte(cp);
      if (b < 0) {
        fb_->tokenize(piece, out);
        return;
      }
      at.push_back(uint32_t(i));
      raw.push_back(char(b));
      i += size_t(len);
    }
    at.push_back(uint32_t(piece.size()));
    ids.clear();
    m_->encode_piece(raw, ids, &bpe::thread_scratch(m_->serial()));
    size_t pos = 0;
    for (uint32_t id : ids) {
      size_t len = m_->token_bytes(id).size();
      out.push_back({id, at[pos], at[pos + len]});
      pos += len;
    }
  }
  bool token(uint32_t id, std::string& out) const override {
    if (!m_->has_id(id)) return false;
    for (unsigned char c : m_->token_bytes(id)) unicode::append_utf8(out, byte_level_char(c));
    return true;
  }
  uint32_t token_to_id(std::string_view t) const override { return fb_->token_to_id(t); }
  size_t id_bound() const override { return fb_->id_bound(); }
  size_t vocab_size() const override { return fb_->vocab_size(); }

 private:
  std::shared_ptr<const bpe::BpeModel> m_;
  ModelPtr fb_;
};

}  // namespace

ModelPtr make_byte_level_bpe(std::shared_ptr<const bpe::BpeModel> model, ModelPtr fallback) {
  return std::make_shared<ByteLevelBpe>(std::move(model), std::move(fallback));
}

}  // namespace pipeline
}  // namespace fastlm
