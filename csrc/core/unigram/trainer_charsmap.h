// Built-in SentencePiece normalization rules for training from scratch, and the precompiled-charsmap builder.
//
// A precompiled charsmap (NormalizerSpec.precompiled_charsmap) is: uint32 little-endian trie size in bytes, a
// darts-clone double array of 32-bit units mapping key byte strings to offsets into a pool of NUL-terminated
// replacement strings, then the pool. SpNormalizer (core/normalize_sp.h) and sentencepiece both read it with a
// longest-prefix search, so a model trained here normalizes identically in both.
//
// Unit layout (darts-clone): bits 0-7 the label (the byte that leads to this node), bit 8 "has a key ending here",
// bit 9 offset scale (unused here: every offset fits 21 bits), bits 10-30 offset = this slot XOR the node's base;
// child with byte c lives at base ^ c, and the value of a key ending at the node at base ^ 0 with bit 31 set
// (so its label never matches a byte). Free slots hold 0x80000000 for the same reason: a reader that does not
// bound-check (sentencepiece) stays inside the array and never matches a free slot.
#pragma once
#include <string>
#include <utility>
#include <vector>

namespace fastlm {
namespace unigram {

using CharsmapRules = std::vector<std::pair<std::string, std::string>>;  // key UTF-8 -> replacement UTF-8

// name: "nfkc" (NFKC of every character + canonical compositions) or "nmt_nfkc" (nfkc, plus: control characters
// removed; tab, newline, CR, form feed, zero-width and line/paragraph separators, BOM, U+2581 and U+FFFD mapped
// to a space). Throws ValueError for any other name.
CharsmapRules builtin_rules(const std::string& name);

// The darts-clone blob for `rules` (keys must be non-empty and free of NUL bytes; duplicates: the first wins).
std::string build_charsmap(CharsmapRules rules);

// build_charsmap(builtin_rules(name)), computed once per name (thread-safe). "identity" gives "".
const std::string& builtin_charsmap(const std::string& name);

}  // namespace unigram
}  // namespace fastlm
