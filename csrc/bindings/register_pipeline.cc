// Bindings for the general tokenizer.json pipeline (core/pipeline): one constructor per component, the pipeline
// encoder, and inspection helpers (normalize / pre_tokenize / decode_chain / find_all) for tests. Components are
// opaque handles; Python (formats/hf_pipeline.py) validates the JSON and picks the constructor. No logic here.
#include <memory>
#include <string>
#include <vector>

#include "bindings/common.h"
#include "core/error.h"
#include "core/pipeline/encoder.h"
#include "core/bpe/model.h"
#include "core/wordpiece/model.h"

namespace fastlm_py {

namespace pl = fastlm::pipeline;

namespace {

struct PyNormalizer {
  pl::NormalizerPtr p;
};
struct PyPreTokenizer {
  pl::PreTokenizerPtr p;
};
struct PyDecoder {
  pl::DecoderPtr p;
};
struct PyModel {
  pl::ModelPtr p;
};

pl::Regex pattern_of(const std::string& pattern, bool regex) {
  return regex ? pl::Regex(pattern) : pl::Regex::literal(pattern);
}

pl::SplitBehavior behavior_of(const std::string& b) {
  if (b == "removed") return pl::SplitBehavior::kRemoved;
  if (b == "isolated") return pl::SplitBehavior::kIsolated;
  if (b == "merged_with_previous") return pl::SplitBehavior::kMergedWithPrevious;
  if (b == "merged_with_next") return pl::SplitBehavior::kMergedWithNext;
  if (b == "contiguous") return pl::SplitBehavior::kContiguous;
  throw fastlm::ValueError("unknown split behavior '" + b + "'");
}

uint32_t one_char(const std::string& s, const char* what) {
  int len = 0;
  if (s.empty()) throw fastlm::ValueError(std::string(what) + " must be one character, not empty");
  uint32_t cp = pl::char_at(s, 0, len);
  if (size_t(len) != s.size() || cp == fastlm::unicode::kInvalid)
    throw fastlm::ValueError(std::string(what) + " must be exactly one character, not '" + s + "'");
  return cp;
}

py::tuple norm_tuple(pl::NormStr&& n) {
  return py::make_tuple(py::bytes(n.s), to_numpy(std::move(n.a0)), to_numpy(std::move(n.a1)));
}

}  // namespace

void register_pipeline(py::module_& m) {
  py::class_<PyNormalizer>(m, "Normalizer", "A tokenizer.json normalizer (core/pipeline/normalizers.h).")
      .def_static("unicode",
                  [](const std::string& form) {
                    pl::NfForm f = form == "NFC"    ? pl::NfForm::kNFC
                                   : form == "NFD"  ? pl::NfForm::kNFD
                                   : form == "NFKC" ? pl::NfForm::kNFKC
                                   : form == "NFKD" ? pl::NfForm::kNFKD
                                                    : throw fastlm::ValueError("unknown normalization form '" + form + "'");
                    return PyNormalizer{pl::make_unicode_normalizer(f)};
                  },
                  py::arg("form"))
      .def_static("lowercase", [] { return PyNormalizer{pl::make_lowercase()}; })
      .def_static("strip_accents", [] { return PyNormalizer{pl::make_strip_accents()}; })
      .def_static("bert",
                  [](bool clean_text, bool handle_chinese_chars, bool strip_accents, bool lowercase) {
                    return PyNormalizer{pl::make_bert_normalizer(
                        fastlm::norm::BertNormOptions{clean_text, handle_chinese_chars, strip_accents, lowercase})};
                  },
                  py::arg("clean_text"), py::arg("handle_chinese_chars"), py::arg("strip_accents"),
                  py::arg("lowercase"))
      .def_static("precompiled",
                  [](py::bytes charsmap) { return PyNormalizer{pl::make_precompiled(std::string(charsmap))}; },
                  py::arg("charsmap"))
      .def_static("replace",
                  [](const std::string& pattern, bool regex, std::string content) {
                    return PyNormalizer{pl::make_replace(pattern_of(pattern, regex), std::move(content))};
                  },
                  py::arg("pattern"), py::arg("regex"), py::arg("content"))
      .def_static("prepend", [](std::string s) { return PyNormalizer{pl::make_prepend(std::move(s))}; },
                  py::arg("prepend"))
      .def_static("strip", [](bool left, bool right) { return PyNormalizer{pl::make_strip(left, right)}; },
                  py::arg("left"), py::arg("right"))
      .def_static("sequence",
                  [](const std::vector<PyNormalizer>& items) {
                    std::vector<pl::NormalizerPtr> v;
                    for (const auto& i : items) v.push_back(i.p);
                    return PyNormalizer{pl::make_sequence(std::move(v))};
                  },
                  py::arg("items"))
      .def(
          "normalize",
          [](const PyNormalizer& n, py::object text) {
            std::string_view s = text_view(text);
            pl::NormStr in, out;
            {
              py::gil_scoped_release nogil;
              in.assign(s, 0);
              n.p->apply(in, out);
            }
            return norm_tuple(std::move(out));
          },
          py::arg("text"), "(normalized UTF-8 bytes, per-byte original starts, ends) in bytes.");

  py::class_<PyPreTokenizer>(m, "PreTokenizer", "A tokenizer.json pre-tokenizer (core/pipeline/pretokenizers.h).")
      .def_static("byte_level",
                  [](bool add_prefix_space, bool use_regex) {
                    return PyPreTokenizer{pl::make_byte_level(add_prefix_space, use_regex)};
                  },
                  py::arg("add_prefix_space"), py::arg("use_regex"))
      .def_static("split",
                  [](const std::string& pattern, bool regex, const std::string& behavior, bool invert) {
                    return PyPreTokenizer{pl::make_split(pattern_of(pattern, regex), behavior_of(behavior), invert)};
                  },
                  py::arg("pattern"), py::arg("regex"), py::arg("behavior"), py::arg("invert"))
      .def_static("whitespace", [] { return PyPreTokenizer{pl::make_whitespace()}; })
      .def_static("whitespace_split", [] { return PyPreTokenizer{pl::make_whitespace_split()}; })
      .def_static("bert", [] { return PyPreTokenizer{pl::make_bert_pretokenizer()}; })
      .def_static("metaspace",
                  [](const std::string& replacement, const std::string& scheme, bool split) {
                    pl::PrependScheme s = scheme == "always"  ? pl::PrependScheme::kAlways
                                          : scheme == "first" ? pl::PrependScheme::kFirst
                                          : scheme == "never" ? pl::PrependScheme::kNever
                                                              : throw fastlm::ValueError("unknown prepend_scheme '" + scheme + "'");
                    return PyPreTokenizer{pl::make_metaspace(one_char(replacement, "Metaspace replacement"), s, split)};
                  },
                  py::arg("replacement"), py::arg("prepend_scheme"), py::arg("split"))
      .def_static("digits", [](bool individual) { return PyPreTokenizer{pl::make_digits(individual)}; },
                  py::arg("individual_digits"))
      .def_static("punctuation",
                  [](const std::string& behavior) { return PyPreTokenizer{pl::make_punctuation(behavior_of(behavior))}; },
                  py::arg("behavior"))
      .def_static("sequence",
                  [](const std::vector<PyPreTokenizer>& items) {
                    std::vector<pl::PreTokenizerPtr> v;
                    for (const auto& i : items) v.push_back(i.p);
                    return PyPreTokenizer{pl::make_pretok_sequence(std::move(v))};
                  },
                  py::arg("items"))
      .def(
          "pre_tokenize",
          [](const PyPreTokenizer& p, py::object text) {
            std::string_view s = text_view(text);
            pl::Splits in, out;
            {
              py::gil_scoped_release nogil;
              pl::NormStr ns;
              ns.assign(s, 0);
              in.add_whole(ns);
              p.p->apply(in, out);
            }
            py::list r;
            for (const auto& pc : out.pieces)
              r.append(py::make_tuple(py::bytes(out.ns.s.substr(pc.begin, pc.end - pc.begin)),
                                      out.ns.a0[pc.begin], out.ns.a1[pc.end - 1]));
            return r;
          },
          py::arg("text"), "[(piece bytes, original start, original end)] in bytes.");

  py::class_<PyDecoder>(m, "Decoder", "A tokenizer.json decoder (core/pipeline/decoders.h).")
      .def_static("byte_level", [] { return PyDecoder{pl::make_byte_level_decoder()}; })
      .def_static("wordpiece",
                  [](std::string prefix, bool cleanup) { return PyDecoder{pl::make_wordpiece_decoder(std::move(prefix), cleanup)}; },
                  py::arg("prefix"), py::arg("cleanup"))
      .def_static("metaspace",
                  [](const std::string& replacement, bool prepend) {
                    return PyDecoder{pl::make_metaspace_decoder(one_char(replacement, "Metaspace replacement"), prepend)};
                  },
                  py::arg("replacement"), py::arg("prepend"))
      .def_static("byte_fallback", [] { return PyDecoder{pl::make_byte_fallback_decoder()}; })
      .def_static("fuse", [] { return PyDecoder{pl::make_fuse_decoder()}; })
      .def_static("strip",
                  [](const std::string& content, size_t start, size_t stop) {
                    return PyDecoder{pl::make_strip_decoder(one_char(content, "Strip content"), start, stop)};
                  },
                  py::arg("content"), py::arg("start"), py::arg("stop"))
      .def_static("replace",
                  [](const std::string& pattern, bool regex, std::string content) {
                    return PyDecoder{pl::make_replace_decoder(pattern_of(pattern, regex), std::move(content))};
                  },
                  py::arg("pattern"), py::arg("regex"), py::arg("content"))
      .def_static("sequence",
                  [](const std::vector<PyDecoder>& items) {
                    std::vector<pl::DecoderPtr> v;
                    for (const auto& i : items) v.push_back(i.p);
                    return PyDecoder{pl::make_decoder_sequence(std::move(v))};
                  },
                  py::arg("items"))
      .def(
          "decode_chain",
          [](const PyDecoder& d, const std::vector<std::string>& tokens) {
            std::vector<std::string> t = tokens;
            d.p->decode_chain(t);
            py::list r;
            for (auto& s : t) r.append(py::bytes(s));
            return r;
          },
          py::arg("tokens"));

  py::class_<PyModel>(m, "PipelineModel", "A tokenizer.json model (core/pipeline/models.h).")
      .def_static("bpe",
                  [](std::vector<std::pair<std::string, uint32_t>> vocab,
                     const std::vector<std::pair<std::string, std::string>>& merges, py::object unk_token,
                     std::string prefix, std::string suffix, bool fuse_unk, bool byte_fallback, bool ignore_merges) {
                    pl::BpeOptions o;
                    o.has_unk = !unk_token.is_none();
                    if (o.has_unk) o.unk_token = py::cast<std::string>(unk_token);
                    o.continuing_subword_prefix = std::move(prefix);
                    o.end_of_word_suffix = std::move(suffix);
                    o.fuse_unk = fuse_unk;
                    o.byte_fallback = byte_fallback;
                    o.ignore_merges = ignore_merges;
                    py::gil_scoped_release nogil;
                    return PyModel{pl::make_bpe(std::move(vocab), merges, std::move(o))};
                  },
                  py::arg("vocab"), py::arg("merges"), py::arg("unk_token"), py::arg("continuing_subword_prefix"),
                  py::arg("end_of_word_suffix"), py::arg("fuse_unk"), py::arg("byte_fallback"),
                  py::arg("ignore_merges"))
      .def_static("wordpiece",
                  [](std::shared_ptr<fastlm::wordpiece::WordPieceModel> model) { return PyModel{pl::make_wordpiece(std::move(model))}; },
                  py::arg("model"))
      .def_static("byte_level_bpe",
                  [](std::shared_ptr<fastlm::bpe::BpeModel> model, const PyModel& fallback) {
                    return PyModel{pl::make_byte_level_bpe(std::move(model), fallback.p)};
                  },
                  py::arg("model"), py::arg("fallback"),
                  "A byte-level vocabulary (BpeModel over raw bytes) behind a ByteLevel pre-tokenizer; `fallback` is "
                  "the same file's character-level BPE.")
      .def_static("unigram",
                  [](std::vector<std::pair<std::string, double>> vocab, long unk_id, bool byte_fallback) {
                    py::gil_scoped_release nogil;
                    return PyModel{pl::make_unigram(std::move(vocab), unk_id, byte_fallback)};
                  },
                  py::arg("vocab"), py::arg("unk_id"), py::arg("byte_fallback"))
      .def(
          "tokenize",
          [](const PyModel& mo, py::object piece) {
            std::string_view s = text_view(piece);
            std::vector<pl::ModelToken> t;
            {
              py::gil_scoped_release nogil;
              if (!s.empty()) mo.p->tokenize(s, t);
            }
            py::list r;
            for (auto& x : t) r.append(py::make_tuple(x.id, x.b, x.e));
            return r;
          },
          py::arg("piece"), "[(id, start, end)] with byte offsets in the piece.")
      .def_property_readonly("id_bound", [](const PyModel& mo) { return mo.p->id_bound(); })
      .def_property_readonly("vocab_size", [](const PyModel& mo) { return mo.p->vocab_size(); });

  using PE = pl::PipelineEncoder;
  py::class_<PE, fastlm::Encoder, std::shared_ptr<PE>>(m, "PipelineEncoder")
      .def(py::init([](py::object normalizer, py::object pre_tokenizer, const PyModel& model, py::object decoder,
                       const std::vector<std::tuple<std::string, uint32_t, bool, bool, bool, bool, bool>>& added) {
             std::vector<pl::AddedToken> a;
             for (const auto& [content, id, special, single_word, lstrip, rstrip, normalized] : added)
               a.push_back(pl::AddedToken{content, id, special, single_word, lstrip, rstrip, normalized});
             pl::NormalizerPtr n = normalizer.is_none() ? nullptr : py::cast<const PyNormalizer&>(normalizer).p;
             pl::PreTokenizerPtr p = pre_tokenizer.is_none() ? nullptr : py::cast<const PyPreTokenizer&>(pre_tokenizer).p;
             pl::DecoderPtr d = decoder.is_none() ? nullptr : py::cast<const PyDecoder&>(decoder).p;
             py::gil_scoped_release nogil;
             return std::make_shared<PE>(n, p, model.p, d, std::move(a));
           }),
           py::arg("normalizer"), py::arg("pre_tokenizer"), py::arg("model"), py::arg("decoder"), py::arg("added"),
           "added: [(content, id, special, single_word, lstrip, rstrip, normalized)]; the special ones in the order of "
           "the Tokenizer's specials.")
      .def(
          "normalize",
          [](const PE& e, py::object text) {
            std::string_view s = text_view(text);
            pl::NormStr out;
            {
              py::gil_scoped_release nogil;
              e.normalize(s, out);
            }
            return norm_tuple(std::move(out));
          },
          py::arg("text"), "(normalized UTF-8 bytes, per-byte original starts, ends) in bytes.")
      .def(
          "pre_tokenize",
          [](const PE& e, py::object text) {
            std::string_view s = text_view(text);
            pl::Splits out;
            {
              py::gil_scoped_release nogil;
              e.pre_tokenize(s, out);
            }
            py::list r;
            for (const auto& pc : out.pieces)
              r.append(py::make_tuple(py::bytes(out.ns.s.substr(pc.begin, pc.end - pc.begin)), out.ns.a0[pc.begin],
                                      out.ns.a1[pc.end - 1]));
            return r;
          },
          py::arg("text"), "[(piece bytes, original start, original end)] in bytes, after the normalizer.");

  py::class_<pl::Regex>(m, "Regex", "The pipeline's regex engine (Oniguruma dialect; core/pipeline/regex.h).")
      .def(py::init([](const std::string& pattern) { return new pl::Regex(pattern); }), py::arg("pattern"))
      .def(
          "find_all",
          [](const pl::Regex& r, py::object text) {
            std::string_view s = text_view(text);
            std::vector<std::pair<uint32_t, uint32_t>> out;
            {
              py::gil_scoped_release nogil;
              r.find_all(s, out);
            }
            return out;
          },
          py::arg("text"), "[(start, end)] byte offsets of every match, as the reference iterates them.")
      .def_property_readonly("pattern", &pl::Regex::pattern);
}

}  // namespace fastlm_py
