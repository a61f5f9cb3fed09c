// WordPiece encoder: BERT normalizer + BERT pre-tokenizer + WordPiece model fused in one pass over the text.
//
// The text is read once. Each character is classified and mapped through the normalizer's per-character record
// (clean / CJK / strip / lower, core/normalize.h); ordinary characters append their normalized bytes to the
// current word together with the original byte range they came from; whitespace ends the word; punctuation and
// CJK ideographs end it and form words of their own. A finished word goes to the linear-time matcher. ASCII takes a
// 128-entry table instead of the record lookup. Offsets are byte ranges of the ORIGINAL text.
// (Rejected: materializing the normalized string and a word list first, as the reference does: three passes and
// two allocations per text for the same result.)
#pragma once
#include <memory>
#include <string>

#include "core/normalize.h"
#include "core/tokenizer.h"
#include "core/wordpiece/model.h"

namespace fastlm {
namespace wordpiece {

struct WordPieceOptions {
  bool normalize = true;  // apply the BERT normalizer (false: no normalizer at all)
  norm::BertNormOptions norm;
  bool pretokenize = true;     // BERT pre-tokenizer (false: the whole text is one word, after whitespace split)
  std::string decoder_prefix = "##";
  bool decoder_cleanup = true;
  bool wordpiece_decoder = true;  // false: tokens joined with single spaces
};

class WordPieceEncoder : public Encoder {
 public:
  WordPieceEncoder(std::shared_ptr<const WordPieceModel> model, WordPieceOptions opts);

  std::string type() const override { return "WordPiece"; }
  void encode(std::string_view text, size_t base, bool with_offsets, Encoding& out) const override;
  size_t decode(const uint32_t* ids, size_t n, bool first, std::string& out) const override;
  bool token_bytes(uint32_t id, std::string& out) const override;
  uint32_t token_to_id(std::string_view token) const override {
    uint32_t id = model_->find(token);
    return id == kNone ? kNoToken : id;
  }
  size_t id_bound() const override { return model_->id_bound(); }
  size_t vocab_size() const override { return model_->size(); }

  const WordPieceModel& model() const { return *model_; }
  std::shared_ptr<const WordPieceModel> model_ptr() const { return model_; }
  const WordPieceOptions& options() const { return opts_; }

 private:
  std::shared_ptr<const WordPieceModel> model_;
  WordPieceOptions opts_;
  // ASCII fast path: class (0 word, 1 break, 2 punct, 3 drop) and the normalized byte.
  uint8_t ascii_class_[128];
  char ascii_byte_[128];
};

}  // namespace wordpiece
}  // namespace fastlm
