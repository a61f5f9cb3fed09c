// The general pipeline encoder: any tokenizer.json the specialised encoders (bpe/, wordpiece/, unigram/) do not
// reproduce exactly is assembled here from its components.
//
//   text -> added tokens matched on the raw text (non-normalized ones)
//        -> each remaining segment: normalizer -> added tokens matched on the normalized text (normalized ones)
//        -> pre-tokenizer -> model -> ids, with offsets into the original text
//   ids  -> token strings (added tokens first) -> decoder chain -> bytes
//
// Added tokens follow the reference: leftmost-longest matching, single_word (no word character on either side),
// lstrip / rstrip (the token absorbs the whitespace beside it, which then belongs to its offsets), normalized
// (matched after normalization, against the normalized content). Non-special added tokens always match; special
// ones only when the caller allows them (fastlm's rule: special-token text is ordinary text unless allowed), so the
// pipeline matches the specials itself (Encoder::matches_specials) and receives the allowed mask.
#pragma once
#include <memory>
#include <string>
#include <vector>

#include "core/pipeline/decoders.h"
#include "core/pipeline/models.h"
#include "core/pipeline/normalizers.h"
#include "core/pipeline/pretokenizers.h"
#include "core/sentencepiece/trie.h"
#include "core/tokenizer.h"

namespace fastlm {
namespace pipeline {

struct AddedToken {
  std::string content;
  uint32_t id = 0;
  bool special = false;
  bool single_word = false, lstrip = false, rstrip = false, normalized = false;
};

class PipelineEncoder : public Encoder {
 public:
  // `added`: every added token; the special ones must be listed in the same order as the Tokenizer's specials
  // (their position among the special ones is their index in the allowed mask). Null components are absent.
  PipelineEncoder(NormalizerPtr normalizer, PreTokenizerPtr pre_tokenizer, ModelPtr model, DecoderPtr decoder,
                  std::vector<AddedToken> added);

  std::string type() const override { return model_->type(); }
  void encode(std::string_view text, size_t base, bool with_offsets, Encoding& out) const override;
  bool matches_specials() const override { return true; }
  void encode_with_specials(std::string_view text, const uint8_t* allowed, bool with_offsets,
                            Encoding& out) const override;
  size_t decode(const uint32_t* ids, size_t n, bool first, std::string& out) const override;
  bool token_bytes(uint32_t id, std::string& out) const override;
  uint32_t token_to_id(std::string_view token) const override;
  size_t id_bound() const override { return id_bound_; }
  size_t vocab_size() const override { return vocab_size_; }

  const Model& model() const { return *model_; }
  // Normalized text and pre-tokenized pieces of `text` (no added tokens), for inspection and tests.
  void normalize(std::string_view text, NormStr& out) const;
  void pre_tokenize(std::string_view text, Splits& out) const;

 private:
  struct AddedSet {  // the tokens matched in one phase (raw or normalized text)
    sp::DoubleArrayTrie trie;  // matched content -> index into added_
    bool empty = true;
  };
  // Splits src[b, e) at the enabled tokens of `set`: added pieces and text pieces appended to out (text pieces
  // are copied from src with their alignment).
  void split_added(const NormStr& src, const AddedSet& set, const uint8_t* allowed, Splits& out) const;
  void encode_impl(std::string_view text, size_t base, const uint8_t* allowed, bool with_offsets,
                   Encoding& out) const;

  NormalizerPtr norm_;
  PreTokenizerPtr pre_;
  ModelPtr model_;
  DecoderPtr dec_;
  std::vector<AddedToken> added_;
  std::vector<uint32_t> special_index_;  // per added token: index among the specials, or kNoAdded
  std::vector<std::string> surface_;     // per added token: how it decodes (normalized content if normalized)
  AddedSet raw_, normed_;
  std::vector<uint32_t> added_by_id_;  // id -> index into added_ (kNoAdded if none), over [0, id_bound_)
  size_t id_bound_ = 0, vocab_size_ = 0;
};

}  // namespace pipeline
}  // namespace fastlm
