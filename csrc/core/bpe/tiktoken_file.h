// Parser for .tiktoken rank files: one "<base64 token> <rank>" per line.
#pragma once
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace fastlm {
namespace bpe {

// Throws ValueError naming `source` and the 1-based line for any malformed line.
std::vector<std::pair<std::string, uint32_t>> parse_tiktoken(std::string_view data, const std::string& source);

// Serializes (token, rank) pairs, sorted by rank, in the same format.
std::string format_tiktoken(const std::vector<std::pair<std::string, uint32_t>>& ranks);

}  // namespace bpe
}  // namespace fastlm
