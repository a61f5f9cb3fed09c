// Decoders of the general pipeline: the reference's decode chain over the token strings of the ids, then the
// strings are joined (with no decoder, joined with single spaces, as the reference does).
//
//   ByteLevel    printable alphabet -> bytes (a token with a character outside the alphabet stays as its UTF-8)
//   WordPiece    strip the continuation prefix or prepend a space (not on the first token), optional cleanup
//   Metaspace    replacement -> ' '; on the first token the replacement is dropped unless prepend_scheme is never
//   ByteFallback runs of <0xNN> tokens -> their bytes
//   Fuse         all tokens -> one
//   Strip        remove up to `start` leading and `stop` trailing copies of a character from each token
//   Replace      literal or regex pattern -> content, in each token
//   Sequence
// Output is bytes. Where the reference replaces an invalid UTF-8 run of ByteLevel / ByteFallback bytes by U+FFFD,
// the bytes are kept and the caller's UTF-8 decoding replaces them (Tokenizer.decode, errors="replace"): the same
// text for valid UTF-8, and what streaming decode needs to finish a character split across tokens.
#pragma once
#include <memory>
#include <string>
#include <vector>

#include "core/pipeline/regex.h"

namespace fastlm {
namespace pipeline {

class Decoder {
 public:
  virtual ~Decoder() = default;
  virtual void decode_chain(std::vector<std::string>& tokens) const = 0;
};

using DecoderPtr = std::shared_ptr<const Decoder>;

DecoderPtr make_byte_level_decoder();
DecoderPtr make_wordpiece_decoder(std::string prefix, bool cleanup);
DecoderPtr make_metaspace_decoder(uint32_t replacement, bool prepend);
DecoderPtr make_byte_fallback_decoder();
DecoderPtr make_fuse_decoder();
DecoderPtr make_strip_decoder(uint32_t content, size_t start, size_t stop);
DecoderPtr make_replace_decoder(Regex pattern, std::string content);
DecoderPtr make_decoder_sequence(std::vector<DecoderPtr> items);

}  // namespace pipeline
}  // namespace fastlm
