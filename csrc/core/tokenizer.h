// The tokenizer pipeline shared by every algorithm:
//
//   text -> [special tokens split, one pass] -> Encoder (normalize -> pre-tokenize -> model) -> ids (+ offsets)
//
// An Encoder is algorithm-specific and knows nothing about special tokens; Tokenizer adds special tokens,
// batching on threads and decoding. Offsets are byte offsets into the input text; the bindings convert them to
// str positions.
#pragma once
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "core/special.h"

namespace fastlm {

constexpr uint32_t kNoToken = 0xFFFFFFFFu;

struct Encoding {
  std::vector<uint32_t> ids;
  std::vector<uint32_t> starts;  // byte offsets, filled only when offsets are requested
  std::vector<uint32_t> ends;
  void clear() {
    ids.clear();
    starts.clear();
    ends.clear();
  }
};

class Encoder {
 public:
  virtual ~Encoder() = default;
  virtual std::string type() const = 0;
  // Encodes ordinary text (no special tokens). Appends ids to out.ids; when with_offsets, appends one
  // [start, end) byte range per id, relative to `text` plus `base`.
  virtual void encode(std::string_view text, size_t base, bool with_offsets, Encoding& out) const = 0;
  // Appends the decoded bytes of ids (all of them known to this encoder). `first` is true when these ids start
  // the output (decoders that strip a leading space use it). Returns the index of the first unknown id, or n.
  virtual size_t decode(const uint32_t* ids, size_t n, bool first, std::string& out) const = 0;
  // Raw bytes of one token (for vocab export and streaming decode); false if unknown.
  virtual bool token_bytes(uint32_t id, std::string& out) const = 0;
  virtual uint32_t token_to_id(std::string_view token) const = 0;  // kNoToken if absent
  virtual size_t id_bound() const = 0;                             // max id + 1
  virtual size_t vocab_size() const = 0;                           // number of tokens
  // Encoders that match the tokenizer's special tokens themselves return true (the general pipeline: HF added
  // tokens with lstrip / rstrip / single_word / normalized rules); Tokenizer::encode then passes them the whole
  // text and the allowed mask (indexed like the Tokenizer's specials, nullptr = none) instead of splitting the
  // text at special tokens.
  virtual bool matches_specials() const { return false; }
  virtual void encode_with_specials(std::string_view text, const uint8_t* allowed, bool with_offsets,
                                    Encoding& out) const {
    encode(text, 0, with_offsets, out);
  }
};

class Tokenizer {
 public:
  Tokenizer(std::shared_ptr<const Encoder> enc, std::vector<std::pair<std::string, uint32_t>> specials);

  const Encoder& encoder() const { return *enc_; }
  std::shared_ptr<const Encoder> encoder_ptr() const { return enc_; }
  size_t num_special() const { return matcher_.size(); }
  const std::string& special_token(uint32_t i) const { return matcher_.token(i); }
  uint32_t special_id(uint32_t i) const { return special_ids_[i]; }
  size_t id_bound() const;  // over the model and the special tokens

  // allowed / disallowed: per special-token masks (nullptr = none). Allowed specials become their ids; a
  // disallowed one found in the text raises ValueError; others are ordinary text.
  void encode(std::string_view text, const uint8_t* allowed, const uint8_t* disallowed, bool with_offsets,
              Encoding& out) const;

  void encode_batch(const std::vector<std::string_view>& texts, const uint8_t* allowed, const uint8_t* disallowed,
                    bool with_offsets, int num_threads, std::vector<Encoding>& out) const;
  // Streamed batch: calls ready(begin, end, ids, offsets) on the calling thread for consecutive ranges of
  // documents, in order, as soon as they are encoded, while the other threads go on: document i (begin <= i < end)
  // is ids[offsets[i - begin] .. offsets[i - begin + 1]). The bindings build Python lists there, so that serial
  // work overlaps the parallel encoding; documents of a range share one buffer (no allocation per document).
  using BatchReady = std::function<void(size_t begin, size_t end, const uint32_t* ids, const size_t* offsets)>;
  void encode_batch_stream(const std::vector<std::string_view>& texts, const uint8_t* allowed,
                           const uint8_t* disallowed, int num_threads, const BatchReady& ready) const;

  // Flat batch: all ids concatenated, doc_offsets has texts.size() + 1 entries.
  void encode_batch_flat(const std::vector<std::string_view>& texts, const uint8_t* allowed,
                         const uint8_t* disallowed, int num_threads, std::vector<uint32_t>& ids,
                         std::vector<int64_t>& doc_offsets) const;

  // Decodes to bytes. Throws KeyError naming the first unknown id.
  std::string decode(const uint32_t* ids, size_t n) const;
  bool token_bytes(uint32_t id, std::string& out) const;
  uint32_t token_to_id(std::string_view token) const;
  uint32_t special_index_of_id(uint32_t id) const;  // index, or kNoToken

 private:
  std::shared_ptr<const Encoder> enc_;
  SpecialMatcher matcher_;
  std::vector<uint32_t> special_ids_;
  std::vector<uint32_t> id_to_special_;  // id -> special index (sparse over [0, id_bound))
};

// Byte offsets -> code point offsets for valid UTF-8 text (in place). Offsets may be in any order. An offset inside a
// character maps to the character's end, or with round_down to its start (a token's start: a byte-level token that
// begins inside a character covers that character, as HF tokenizers reports it).
void byte_to_char_offsets(std::string_view text, std::vector<uint32_t>& offsets, bool round_down = false);

}  // namespace fastlm
