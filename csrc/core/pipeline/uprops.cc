#include "core/pipeline/uprops.h"

#include <algorithm>
#include <cstring>

namespace fastlm {
namespace pipeline {

namespace {
#include "core/pipeline/unicode_tables.inc"

const UProps kEmpty{0, 0, 0, 0, 0, 0, 0, 0, 0};

// Hangul syllable arithmetic (Unicode 3.12).
constexpr uint32_t kSBase = 0xAC00, kLBase = 0x1100, kVBase = 0x1161, kTBase = 0x11A7;
constexpr uint32_t kLCount = 19, kVCount = 21, kTCount = 28, kNCount = kVCount * kTCount, kSCount = kLCount * kNCount;
}  // namespace

const UProps& uprops(uint32_t cp) {
  if (cp >= 0x110000) return kEmpty;
  return kURecords[kUStage2[size_t(kUStage1[cp >> 8]) * 256 + (cp & 255)]];
}

const uint32_t* decomposition_pool() { return kUPool; }

uint32_t compose_pair(uint32_t a, uint32_t b) {
  if (a >= kLBase && a < kLBase + kLCount && b >= kVBase && b < kVBase + kVCount)
    return kSBase + ((a - kLBase) * kVCount + (b - kVBase)) * kTCount;
  if (a >= kSBase && a < kSBase + kSCount && (a - kSBase) % kTCount == 0 && b > kTBase && b < kTBase + kTCount)
    return a + (b - kTBase);
  if (a >= (1u << 21) || b >= (1u << 21)) return 0;
  uint64_t key = (uint64_t(a) << 42) | (uint64_t(b) << 21);
  const uint64_t* end = kUCompose + sizeof(kUCompose) / sizeof(kUCompose[0]);
  const uint64_t* it = std::lower_bound(kUCompose, end, key);
  if (it != end && (*it >> 21) == (key >> 21)) return uint32_t(*it & ((1u << 21) - 1));
  return 0;
}

int script_id(std::string_view name) {
  const size_t n = sizeof(kUScriptNames) / sizeof(kUScriptNames[0]);
  for (size_t i = 1; i < n; ++i)
    if (name == kUScriptNames[i]) return int(i);
  return -1;
}

bool grapheme_break(uint32_t prev, uint32_t cur, GraphemeState& st) {
  const UProps& pp = uprops(prev);
  const UProps& pc = uprops(cur);
  const uint8_t gp = pp.gcb & 15, gc = pc.gcb & 15;
  const uint8_t incb = pc.gcb >> 4;
  bool brk;
  if (gp == kGCR && gc == kGLF)
    brk = false;  // GB3
  else if (gp == kGControl || gp == kGCR || gp == kGLF || gc == kGControl || gc == kGCR || gc == kGLF)
    brk = true;  // GB4, GB5
  else if (gp == kGL && (gc == kGL || gc == kGV || gc == kGLV || gc == kGLVT))
    brk = false;  // GB6
  else if ((gp == kGLV || gp == kGV) && (gc == kGV || gc == kGT))
    brk = false;  // GB7
  else if ((gp == kGLVT || gp == kGT) && gc == kGT)
    brk = false;  // GB8
  else if (gc == kGExtend || gc == kGZWJ || gc == kGSpacingMark || gp == kGPrepend)
    brk = false;  // GB9, GB9a, GB9b
  else if (incb == kInConsonant && st.incb == 2)
    brk = false;  // GB9c
  else if (gp == kGZWJ && st.emoji_zwj && (pc.flags & kUExtPict))
    brk = false;  // GB11
  else if (gp == kGRI && gc == kGRI && (st.ri_count & 1))
    brk = false;  // GB12, GB13
  else
    brk = true;  // GB999
  // state after cur
  st.ri_count = gc == kGRI ? (gp == kGRI ? st.ri_count : 0) + 1 : 0;
  st.emoji_zwj = gc == kGZWJ && st.emoji;
  st.emoji = (pc.flags & kUExtPict) || (st.emoji && gc == kGExtend);
  if (incb == kInConsonant)
    st.incb = 1;
  else if (st.incb && incb == kInLinker)
    st.incb = 2;
  else if (!(st.incb && incb == kInExtend))
    st.incb = 0;
  return brk;
}

}  // namespace pipeline
}  // namespace fastlm
