// WordPiece and Unigram models of the general pipeline (models.h).
#include <cmath>
#include <cstdio>
#include <limits>
#include <unordered_map>

#include "core/error.h"
#include "core/hash.h"
#include "core/pipeline/models.h"
#include "core/pipeline/normstr.h"
#include "core/sentencepiece/trie.h"
#include "core/wordpiece/model.h"

namespace fastlm {
namespace pipeline {

namespace {

constexpr uint32_t kNone = 0xFFFFFFFFu;

// ------------------------------------------------------------------------------------------------ WordPiece
class WordPieceAdapter : public Model {
 public:
  explicit WordPieceAdapter(std::shared_ptr<const wordpiece::WordPieceModel> m) : m_(std::move(m)) {}
  std::string type() const override { return "WordPiece"; }

  void tokenize(std::string_view w, std::vector<ModelToken>& out) const override {
    size_t chars = 0;
    for (unsigned char c : w) chars += (c & 0xC0) != 0x80;
    const auto* p = reinterpret_cast<const unsigned char*>(w.data());
    if (chars <= m_->max_input_chars_per_word()) {
      uint32_t id = m_->whole_word(p, w.size());
      if (id != wordpiece::kNone) {
        out.push_back({id, 0, uint32_t(w.size())});
        return;
      }
      thread_local std::vector<wordpiece::Piece> pieces;
      pieces.clear();
      if (m_->match(p, w.size(), pieces)) {
        uint32_t pos = 0;
        for (const auto& pc : pieces) {
          out.push_back({pc.id, pos, pos + pc.len});
          pos += pc.len;
        }
        return;
      }
    }
    out.push_back({m_->unk_id(), 0, uint32_t(w.size())});
  }
  bool token(uint32_t id, std::string& out) const override {
    if (!m_->has_id(id)) return false;
    out += m_->token(id);
    return true;
  }
  uint32_t token_to_id(std::string_view t) const override {
    uint32_t id = m_->find(t);
    return id == wordpiece::kNone ? kNone : id;
  }
  size_t id_bound() const override { return m_->id_bound(); }
  size_t vocab_size() const override { return m_->size(); }

 private:
  std::shared_ptr<const wordpiece::WordPieceModel> m_;
};

// ------------------------------------------------------------------------------------------------ Unigram
class HfUnigram : public Model {
 public:
  HfUnigram(std::vector<std::pair<std::string, double>> vocab, long unk_id, bool byte_fallback)
      : vocab_(std::move(vocab)), byte_fallback_(byte_fallback) {
    if (vocab_.empty()) throw ValueError("model.vocab is empty");
    if (unk_id >= long(vocab_.size()))
      throw ValueError("model.unk_id " + std::to_string(unk_id) + " is out of range (the vocabulary has " +
                       std::to_string(vocab_.size()) + " pieces)");
    unk_id_ = unk_id < 0 ? kNone : uint32_t(unk_id);
    ids_.reserve(vocab_.size() + 1);
    double mn = std::numeric_limits<double>::infinity();
    // a piece listed twice: its last id wins (the reference's piece -> id map)
    std::unordered_map<std::string, uint32_t> last;
    last.reserve(vocab_.size());
    for (uint32_t i = 0; i < vocab_.size(); ++i) {
      last[vocab_[i].first] = i;
      mn = std::min(mn, vocab_[i].second);
    }
    min_score_ = mn;
    std::vector<std::pair<std::string, int32_t>> keys;
    keys.reserve(last.size());
    for (auto& [piece, id] : last) {
      ids_.insert(vocab_[id].first, id, [this](uint32_t i) -> std::string_view { return vocab_[i].first; });
      if (!piece.empty()) keys.emplace_back(piece, int32_t(id));
    }
    trie_.build(std::move(keys));
    for (int b = 0; b < 256; ++b) {
      char name[8];
      std::snprintf(name, sizeof(name), "<0x%02X>", b);
      byte_ids_[b] = find(name);
    }
  }
  std::string type() const override { return "Unigram"; }

  void tokenize(std::string_view s, std::vector<ModelToken>& out) const override {
    struct Node {
      uint32_t id = 0;
      double score = 0.0;
      size_t start = kNpos;
    };
    const size_t n = s.size();
    thread_local std::vector<Node> best;
    best.assign(n + 1, Node{});
    const double unk_score = min_score_ - 10.0;  // the reference's unknown-piece penalty
    for (size_t at = 0; at < n;) {
      const double here = best[at].score;
      int len;
      char_at(s, at, len);
      const size_t mblen = size_t(len);
      bool single = false;
      trie_.prefixes(s.data() + at, n - at, [&](size_t klen, int32_t id) {
        Node& t = best[at + klen];
        double cand = vocab_[size_t(id)].second + here;
        if (t.start == kNpos || cand > t.score) {
          t.score = cand;
          t.start = at;
          t.id = uint32_t(id);
        }
        if (klen == mblen) single = true;
      });
      if (!single) {
        if (unk_id_ == kNone)
          throw ValueError("this Unigram model has no unk_id, and the text has a character no piece covers");
        Node& t = best[at + mblen];
        double cand = unk_score + here;
        if (t.start == kNpos || cand > t.score) {
          t.score = cand;
          t.start = at;
          t.id = unk_id_;
        }
      }
      at += mblen;
    }
    // backtrack; runs of unknown pieces fuse into one string, then every string maps to its id by lookup
    thread_local std::vector<std::pair<uint32_t, uint32_t>> spans;  // [b, e) of each resulting string
    spans.clear();
    size_t end = n;
    size_t unk_end = kNpos;
    while (end > 0) {
      const Node& nd = best[end];
      if (nd.start == kNpos) break;  // unreachable: every position is covered (unk or piece)
      if (unk_id_ != kNone && nd.id == unk_id_) {
        if (unk_end == kNpos) unk_end = end;
      } else {
        if (unk_end != kNpos) {
          spans.emplace_back(uint32_t(end), uint32_t(unk_end));
          unk_end = kNpos;
        }
        spans.emplace_back(uint32_t(nd.start), uint32_t(end));
      }
      end = nd.start;
    }
    if (unk_end != kNpos) spans.emplace_back(0u, uint32_t(unk_end));
    for (size_t k = spans.size(); k-- > 0;) {
      auto [b, e] = spans[k];
      std::string_view str = s.substr(b, e - b);
      uint32_t id = find(str);
      if (id == kNone) {
        if (byte_fallback_) {
          bool all = true;
          for (unsigned char c : str) all = all && byte_ids_[c] != kNone;
          if (all) {
            for (unsigned char c : str) out.push_back({byte_ids_[c], b, e});
            continue;
          }
        }
        if (unk_id_ == kNone) throw ValueError("this Unigram model has no unk_id");
        id = unk_id_;
      }
      out.push_back({id, b, e});
    }
  }

  bool token(uint32_t id, std::string& out) const override {
    if (id >= vocab_.size()) return false;
    out += vocab_[id].first;
    return true;
  }
  uint32_t token_to_id(std::string_view t) const override { return find(t); }
  size_t id_bound() const override { return vocab_.size(); }
  size_t vocab_size() const override { return vocab_.size(); }

 private:
  static constexpr size_t kNpos = ~size_t(0);
  uint32_t find(std::string_view t) const {
    return ids_.find(t, [this](uint32_t i) -> std::string_view { return vocab_[i].first; });
  }
  std::vector<std::pair<std::string, double>> vocab_;
  StringIdMap ids_;
  sp::DoubleArrayTrie trie_;
  uint32_t unk_id_ = kNone;
  double min_score_ = 0.0;
  bool byte_fallback_;
  uint32_t byte_ids_[256];
};

}  // namespace

ModelPtr make_wordpiece(std::shared_ptr<const wordpiece::WordPieceModel> model) {
  return std::make_shared<WordPieceAdapter>(std::move(model));
}
ModelPtr make_unigram(std::vector<std::pair<std::string, double>> vocab, long unk_id, bool byte_fallback) {
  return std::make_shared<HfUnigram>(std::move(vocab), unk_id, byte_fallback);
}

}  // namespace pipeline
}  // namespace fastlm
