// Normalizers of the general pipeline, one per tokenizer.json normalizer type, each with the reference's offset
// alignment (normstr.h). A normalizer rewrites a whole NormStr (one segment of text between added tokens).
//
//   NFC NFD NFKC NFKD    Unicode normalization (table: uprops.h); decomposed characters keep their source's
//                        range, composed ones the range of the character they were built on
//   Lowercase            per character (Rust char::to_lowercase, as measured into core/normalize's table)
//   StripAccents         drops the characters the reference drops (nonspacing marks of its Unicode version)
//   BertNormalizer       clean text, CJK spacing, strip accents, lowercase (core/normalize's per-character data)
//   Precompiled          a SentencePiece charsmap, applied per extended grapheme cluster as the reference does
//   Replace              literal or regex pattern -> content
//   Prepend, Strip, Sequence
#pragma once
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "core/normalize.h"
#include "core/pipeline/normstr.h"
#include "core/pipeline/regex.h"

namespace fastlm {
namespace pipeline {

class Normalizer {
 public:
  virtual ~Normalizer() = default;
  // out = normalize(in); in and out are different objects.
  virtual void apply(const NormStr& in, NormStr& out) const = 0;
};

using NormalizerPtr = std::shared_ptr<const Normalizer>;

// A (code point, change) rewrite list in the reference's form: change 0 replaces the next old character, > 0
// inserts, < 0 replaces and then removes -change more old characters. cp == kInvalid keeps the next old byte.
using Changes = std::vector<std::pair<uint32_t, int>>;
void apply_changes(const NormStr& in, const Changes& t, NormStr& out);

enum class NfForm { kNFC, kNFD, kNFKC, kNFKD };

NormalizerPtr make_unicode_normalizer(NfForm form);
NormalizerPtr make_lowercase();
NormalizerPtr make_strip_accents();
NormalizerPtr make_bert_normalizer(const norm::BertNormOptions& o);
NormalizerPtr make_replace(Regex pattern, std::string content);
NormalizerPtr make_prepend(std::string prepend);
NormalizerPtr make_strip(bool left, bool right);
NormalizerPtr make_sequence(std::vector<NormalizerPtr> items);
// `charsmap` is the raw precompiled_charsmap blob (after base64). Throws ValueError if malformed.
NormalizerPtr make_precompiled(const std::string& charsmap);

}  // namespace pipeline
}  // namespace fastlm
