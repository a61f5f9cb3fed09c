#include "core/tokenizer.h"

#include <algorithm>
#include <atomic>
#include <exception>
#include <memory>
#include <mutex>

#include "core/error.h"
#include "core/parallel.h"

namespace fastlm {

Tokenizer::Tokenizer(std::shared_ptr<const Encoder> enc, std::vector<std::pair<std::string, uint32_t>> specials)
    : enc_(std::move(enc)) {
  if (!enc_) throw ValueError("tokenizer needs an encoder");
  std::vector<std::string> toks;
  toks.reserve(specials.size());
  for (auto& s : specials) {
    if (s.first.empty()) throw ValueError("special tokens must not be empty strings");
    if (std::find(toks.begin(), toks.end(), s.first) != toks.end())
      throw ValueError("special token '" + s.first + "' is listed twice");
    toks.push_back(s.first);
    special_ids_.push_back(s.second);
  }
  matcher_ = SpecialMatcher(std::move(toks));
  size_t bound = enc_->id_bound();
  for (uint32_t id : special_ids_) bound = std::max<size_t>(bound, size_t(id) + 1);
  id_to_special_.assign(bound, kNoToken);
  for (uint32_t i = 0; i < special_ids_.size(); ++i) {
    if (id_to_special_[special_ids_[i]] != kNoToken)
      throw ValueError("special tokens '" + matcher_.token(id_to_special_[special_ids_[i]]) + "' and '" +
                       matcher_.token(i) + "' share the id " + std::to_string(special_ids_[i]));
    id_to_special_[special_ids_[i]] = i;
  }
}

size_t Tokenizer::id_bound() const { return id_to_special_.size(); }

uint32_t Tokenizer::special_index_of_id(uint32_t id) const {
  return id < id_to_special_.size() ? id_to_special_[id] : kNoToken;
}

void Tokenizer::encode(std::string_view text, const uint8_t* allowed, const uint8_t* disallowed, bool with_offsets,
                       Encoding& out) const {
  if (disallowed && matcher_.size()) {
    SpecialMatch m;
    if (matcher_.find(text, 0, disallowed, m)) {
      // allowed takes precedence over disallowed for the same token
      bool ok = true;
      size_t from = 0;
      while (matcher_.find(text, from, disallowed, m)) {
        if (!allowed || !allowed[m.index]) {
          ok = false;
          break;
        }
        from = m.start + 1;
      }
      if (!ok) {
        const std::string& t = matcher_.token(m.index);
        throw ValueError("Encountered text corresponding to disallowed special token '" + t +
                         "'.\nTo encode it as a special token, pass it in allowed_special (e.g. allowed_special={'" + t +
                         "'} or \"all\"); to encode it as ordinary text, pass disallowed_special=() or leave it out "
                         "of disallowed_special.");
      }
    }
  }
  if (enc_->matches_specials()) {
    enc_->encode_with_specials(text, allowed, with_offsets, out);
    return;
  }
  size_t pos = 0;
  if (allowed && matcher_.size()) {
    SpecialMatch m;
    while (matcher_.find(text, pos, allowed, m)) {
      if (m.start > pos) enc_->encode(text.substr(pos, m.start - pos), pos, with_offsets, out);
      out.ids.push_back(special_ids_[m.index]);
      if (with_offsets) {
        out.starts.push_back(uint32_t(m.start));
        out.ends.push_back(uint32_t(m.end));
      }
      pos = m.end;
    }
  }
  if (pos < text.size()) enc_->encode(text.substr(pos), pos, with_offsets, out);
}

void Tokenizer::encode_batch(const std::vector<std::string_view>& texts, const uint8_t* allowed,
                             const uint8_t* disallowed, bool with_offsets, int num_threads,
                             std::vector<Encoding>& out) const {
  out.assign(texts.size(), Encoding{});
  parallel_for(texts.size(), num_threads,
               [&](int, size_t i) { encode(texts[i], allowed, disallowed, with_offsets, out[i]); });
}

void Tokenizer::encode_batch_stream(const std::vector<std::string_view>& texts, const uint8_t* allowed,
                                    const uint8_t* disallowed, int num_threads, const BatchReady& ready) const {
  const size_t n = texts.size();
  if (n == 0) return;
  const int t = resolve_threads(num_threads, n);
  // Chunks of consecutive documents, claimed dynamically (one long document does not stall the others); a chunk's
  // ids go to one vector, appended document after document. Thread 0 is the caller: between its own chunks it
  // hands the finished prefix of chunks to ready(); what is left when all are done is handed over at the end.
  // One thread still hands chunks over as it goes (256 documents): a single part of the whole batch grew to
  // megabytes by doubling, each step fresh pages from the kernel (page faults were ~6% of an 84K-line batch), and
  // its ids were cold by the time ready() read them.
  const size_t chunk = t <= 1 ? std::min<size_t>(n, 256)
                              : std::max<size_t>(1, std::min<size_t>(64, n / (size_t(t) * 16)));
  const size_t nchunks = (n + chunk - 1) / chunk;
  // One cache line (or more) per part: neighbouring chunks are written by different threads, and vector headers
  // sharing a line ping-ponged between the cores on every append.
  struct alignas(64) Part {
    Encoding enc;                 // ids of the chunk's documents, concatenated
    std::vector<size_t> offsets;  // chunk size + 1
    std::atomic<uint8_t> done{0};
  };
  std::unique_ptr<Part[]> parts(new Part[nchunks]);
  std::atomic<size_t> next{0};
  std::atomic<bool> failed{false};
  std::exception_ptr err;
  std::mutex err_mu;
  size_t handed = 0;  // chunks given to ready(); touched by thread 0 only
  auto hand_over = [&](bool all) {
    while (handed < nchunks && (all || parts[handed].done.load(std::memory_order_acquire))) {
      Part& p = parts[handed];
      size_t b = handed * chunk;
      ready(b, std::min(n, b + chunk), p.enc.ids.data(), p.offsets.data());
      std::vector<uint32_t>().swap(p.enc.ids);
      ++handed;
    }
  };
  auto work = [&](int w) {
    try {
      while (!failed.load(std::memory_order_relaxed)) {
        size_t k = next.fetch_add(1);
        if (k >= nchunks) break;
        Part& p = parts[k];
        size_t b = k * chunk, e = std::min(n, b + chunk);
        p.offsets.reserve(e - b + 1);
        p.offsets.push_back(0);
        for (size_t i = b; i < e; ++i) {
          encode(texts[i], allowed, disallowed, false, p.enc);
          p.offsets.push_back(p.enc.ids.size());
        }
        p.done.store(1, std::memory_order_release);
        if (w == 0) hand_over(false);
      }
    } catch (...) {
      std::lock_guard<std::mutex> g(err_mu);
      if (!err) err = std::current_exception();
      failed = true;
    }
  };
  run_on_workers(t, work);
  if (err) std::rethrow_exception(err);
  hand_over(true);
}

void Tokenizer::encode_batch_flat(const std::vector<std::string_view>& texts, const uint8_t* allowed,
                                  const uint8_t* disallowed, int num_threads, std::vector<uint32_t>& ids,
                                  std::vector<int64_t>& doc_offsets) const {
  ids.clear();
  doc_offsets.assign(texts.size() + 1, 0);
  encode_batch_stream(texts, allowed, disallowed, num_threads,
                      [&](size_t begin, size_t end, const uint32_t* part, const size_t* offs) {
                        size_t base = ids.size();
                        ids.insert(ids.end(), part, part + offs[end - begin]);
                        for (size_t i = begin; i < end; ++i) doc_offsets[i + 1] = int64_t(base + offs[i - begin + 1]);
                      });
}

std::string Tokenizer::decode(const uint32_t* ids, size_t n) const {
  std::string out;
  size_t i = 0;
  bool first = true;
  // A special token that is also a vocabulary entry (BERT's [CLS]) is decoded by the model's decoder, so it gets
  // the model's spacing rules, as in HF; others (tiktoken's <|endoftext|>) are emitted as their text.
  std::string scratch;
  auto raw_special = [&](uint32_t id) {
    if (special_index_of_id(id) == kNoToken) return false;
    scratch.clear();
    return !enc_->token_bytes(id, scratch);
  };
  while (i < n) {
    if (raw_special(ids[i])) {
      out += matcher_.token(special_index_of_id(ids[i]));
      ++i;
      first = false;
      continue;
    }
    size_t j = i;
    while (j < n && !raw_special(ids[j])) ++j;
    size_t bad = enc_->decode(ids + i, j - i, first, out);
    if (bad != j - i)
      throw KeyError("unknown token id " + std::to_string(ids[i + bad]) + " at position " + std::to_string(i + bad) +
                     " (the vocabulary has ids below " + std::to_string(id_bound()) + ")");
    first = false;
    i = j;
  }
  return out;
}

bool Tokenizer::token_bytes(uint32_t id, std::string& out) const {
  uint32_t si = special_index_of_id(id);
  if (si != kNoToken) {
    out += matcher_.token(si);
    return true;
  }
  return enc_->token_bytes(id, out);
}

uint32_t Tokenizer::token_to_id(std::string_view token) const {
  for (uint32_t i = 0; i < matcher_.size(); ++i)
    if (matcher_.token(i) == token) return special_ids_[i];
  return enc_->token_to_id(token);
}

void byte_to_char_offsets(std::string_view text, std::vector<uint32_t>& offsets, bool round_down) {
  if (offsets.empty()) return;
  // Fast path: ASCII text needs no change.
  bool ascii = true;
  for (unsigned char c : text)
    if (c >= 0x80) {
      ascii = false;
      break;
    }
  if (ascii) return;
  // map[i] = index of the code point that starts at byte i (a continuation byte maps to the next code point).
  std::vector<uint32_t> map(text.size() + 1);
  uint32_t ch = 0;
  for (size_t i = 0; i < text.size(); ++i) {
    bool cont = (static_cast<unsigned char>(text[i]) & 0xC0) == 0x80;
    map[i] = cont ? (round_down && ch ? ch - 1 : ch) : ch++;
  }
  map[text.size()] = ch;
  for (auto& o : offsets) o = o <= text.size() ? map[o] : ch;
}

}  // namespace fastlm
