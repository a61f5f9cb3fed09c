// The BERT pre-tokenizer: split on whitespace (dropped) and isolate every punctuation character (ASCII
// punctuation and the P* categories, with the reference's Unicode data; see tools/gen_unicode_norm.py).
// It runs on normalized text. The WordPiece encoder applies the same rule inline (wordpiece/encoder.cc); this
// standalone form serves the tests and the trainer.
#pragma once
#include <cstdint>
#include <string_view>
#include <utility>
#include <vector>

namespace fastlm {

// Classes of one code point for the BERT pre-tokenizer.
enum class BertClass : uint8_t { kWord, kSpace, kPunct };
BertClass bert_class(uint32_t cp);

// Appends the [start, end) byte ranges of the words of `text`.
void bert_pretokenize(std::string_view text, std::vector<std::pair<uint32_t, uint32_t>>& words);

}  // namespace fastlm
