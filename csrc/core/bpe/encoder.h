// Byte-level BPE encoder: a built-in pre-tokenizer scanner + BpeModel.
#pragma once
#include <memory>

#include "core/bpe/model.h"
#include "core/pretokenize.h"
#include "core/tokenizer.h"

namespace fastlm {
namespace bpe {

class BpeEncoder : public Encoder {
 public:
  BpeEncoder(std::shared_ptr<const BpeModel> model, PretokKind kind) : model_(std::move(model)), kind_(kind) {}

  std::string type() const override { return "BPE"; }
  void encode(std::string_view text, size_t base, bool with_offsets, Encoding& out) const override;
  size_t decode(const uint32_t* ids, size_t n, bool first, std::string& out) const override;
  bool token_bytes(uint32_t id, std::string& out) const override;
  uint32_t token_to_id(std::string_view token) const override { return model_->find(token); }
  size_t id_bound() const override { return model_->id_bound(); }
  size_t vocab_size() const override { return model_->size(); }

  const BpeModel& model() const { return *model_; }
  std::shared_ptr<const BpeModel> model_ptr() const { return model_; }
  PretokKind kind() const { return kind_; }

 private:
  std::shared_ptr<const BpeModel> model_;
  PretokKind kind_;
};

}  // namespace bpe
}  // namespace fastlm
