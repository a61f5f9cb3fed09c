// The SentencePiece encoder: SentencePiece normalization, then a Unigram or BPE model, then sentencepiece's
// output rules: a run of unknown pieces becomes one unknown token, or with byte fallback each unknown character
// becomes its UTF-8 bytes as <0xNN> pieces. Offsets are byte ranges of the ORIGINAL text (byte-fallback pieces
// all carry their character's range).
#pragma once
#include <memory>
#include <random>
#include <string>
#include <string_view>
#include <vector>

#include "core/normalize_sp.h"
#include "core/tokenizer.h"
#include "core/unigram/model.h"
#include "core/unigram/sp_bpe.h"

namespace fastlm {
namespace unigram {

struct SpEncoderOptions {
  bool bpe = false;  // false: Unigram
  SpNormalizerOptions normalizer;
  std::string unk_surface = " \xE2\x81\x87 ";  // what an unknown id decodes to
};

class SpEncoder : public Encoder {
 public:
  SpEncoder(std::vector<sp::Piece> pieces, bool byte_fallback, SpEncoderOptions opts);
  // From a parsed .model: model type, byte_fallback, unk_surface and the normalizer spec. Throws ValueError for
  // model types other than UNIGRAM and BPE.
  static std::shared_ptr<SpEncoder> from_proto(const sp::ModelProto& m);

  std::string type() const override { return opts_.bpe ? "SentencePieceBPE" : "Unigram"; }
  void encode(std::string_view text, size_t base, bool with_offsets, Encoding& out) const override;
  size_t decode(const uint32_t* ids, size_t n, bool first, std::string& out) const override;
  bool token_bytes(uint32_t id, std::string& out) const override;  // the piece string
  uint32_t token_to_id(std::string_view token) const override;
  size_t id_bound() const override { return table_->size(); }
  size_t vocab_size() const override { return table_->size(); }

  // Subword regularization (Unigram only; BPE falls back to the best segmentation).
  void encode_sample(std::string_view text, int nbest_size, float alpha, std::mt19937& rng, bool with_offsets,
                     Encoding& out) const;
  std::vector<std::pair<std::vector<uint32_t>, float>> nbest(std::string_view text, int n) const;

  void normalize(std::string_view text, std::string& out) const { norm_.normalize(text, out, nullptr); }
  const PieceTable& table() const { return *table_; }
  const SpEncoderOptions& options() const { return opts_; }
  bool is_bpe() const { return opts_.bpe; }

 private:
  void finish(std::string_view norm, const std::vector<uint32_t>* n2o, const std::vector<Tok>& toks, size_t base,
              Encoding& out) const;

  SpEncoderOptions opts_;
  std::shared_ptr<const PieceTable> table_;
  SpNormalizer norm_;
  std::unique_ptr<UnigramModel> uni_;
  std::unique_ptr<SpBpeModel> bpe_;
};

}  // namespace unigram
}  // namespace fastlm
