// Bindings for WordPiece (BERT): the model, its fused encoder, the BERT normalizer / pre-tokenizer (standalone
// forms, for tests and tools) and the trainer. No logic here.
#include <memory>
#include <string>
#include <vector>

#include "bindings/common.h"
#include "bindings/trainer_common.h"
#include "core/normalize.h"
#include "core/pretokenize_bert.h"
#include "core/wordpiece/encoder.h"
#include "core/wordpiece/model.h"
#include "core/wordpiece/trainer.h"

namespace fastlm_py {

void register_wordpiece(py::module_& m) {
  using fastlm::wordpiece::WordPieceModel;
  py::class_<WordPieceModel, std::shared_ptr<WordPieceModel>>(m, "WordPieceModel")
      .def(py::init([](std::vector<std::pair<std::string, uint32_t>> vocab, std::string unk, std::string prefix,
                       size_t max_chars) {
             py::gil_scoped_release nogil;
             return std::make_shared<WordPieceModel>(std::move(vocab), std::move(unk), std::move(prefix), max_chars);
           }),
           py::arg("vocab"), py::arg("unk_token"), py::arg("continuing_subword_prefix"),
           py::arg("max_input_chars_per_word"))
      .def_property_readonly("size", &WordPieceModel::size)
      .def_property_readonly("id_bound", &WordPieceModel::id_bound)
      .def_property_readonly("unk_token", &WordPieceModel::unk_token)
      .def_property_readonly("continuing_subword_prefix", &WordPieceModel::prefix)
      .def_property_readonly("max_input_chars_per_word", &WordPieceModel::max_input_chars_per_word)
      .def("vocab",
           [](const WordPieceModel& w) {
             py::list out;
             for (size_t id = 0; id < w.id_bound(); ++id)
               if (w.has_id(uint32_t(id))) out.append(py::make_tuple(py::str(w.token(uint32_t(id))), id));
             return out;
           })
      .def("match", [](const WordPieceModel& w, py::object word) -> py::object {
        std::string_view s = text_view(word);
        std::vector<fastlm::wordpiece::Piece> out;
        if (!w.match(reinterpret_cast<const unsigned char*>(s.data()), s.size(), out)) return py::none();
        py::list r;
        for (auto& p : out) r.append(py::make_tuple(p.id, p.len));
        return r;
      }, "Greedy longest-match of one word's bytes: [(id, byte length)] or None when it cannot be covered.");

  using fastlm::wordpiece::WordPieceEncoder;
  py::class_<WordPieceEncoder, fastlm::Encoder, std::shared_ptr<WordPieceEncoder>>(m, "WordPieceEncoder")
      .def(py::init([](std::shared_ptr<WordPieceModel> model, bool normalize, bool clean_text,
                       bool handle_chinese_chars, bool strip_accents, bool lowercase, bool pretokenize,
                       bool wordpiece_decoder, std::string decoder_prefix, bool decoder_cleanup) {
             fastlm::wordpiece::WordPieceOptions o;
             o.normalize = normalize;
             o.norm.clean_text = clean_text;
             o.norm.handle_chinese_chars = handle_chinese_chars;
             o.norm.strip_accents = strip_accents;
             o.norm.lowercase = lowercase;
             o.pretokenize = pretokenize;
             o.wordpiece_decoder = wordpiece_decoder;
             o.decoder_prefix = std::move(decoder_prefix);
             o.decoder_cleanup = decoder_cleanup;
             return std::make_shared<WordPieceEncoder>(std::move(model), std::move(o));
           }),
           py::arg("model"), py::arg("normalize"), py::arg("clean_text"), py::arg("handle_chinese_chars"),
           py::arg("strip_accents"), py::arg("lowercase"), py::arg("pretokenize"), py::arg("wordpiece_decoder"),
           py::arg("decoder_prefix"), py::arg("decoder_cleanup"))
      .def_property_readonly("model",
                             [](const WordPieceEncoder& e) { return std::const_pointer_cast<WordPieceModel>(e.model_ptr()); });

  m.def(
      "bert_normalize",
      [](py::object text, bool clean_text, bool handle_chinese_chars, bool strip_accents, bool lowercase) {
        std::string_view s = text_view(text);
        fastlm::norm::BertNormOptions o{clean_text, handle_chinese_chars, strip_accents, lowercase};
        std::string out;
        std::vector<uint32_t> st, en;
        {
          py::gil_scoped_release nogil;
          fastlm::norm::bert_normalize(s, o, out, st, en);
        }
        return py::make_tuple(py::bytes(out), to_numpy(std::move(st)), to_numpy(std::move(en)));
      },
      py::arg("text"), py::arg("clean_text") = true, py::arg("handle_chinese_chars") = true,
      py::arg("strip_accents") = true, py::arg("lowercase") = true,
      "BERT-normalize text: (normalized UTF-8 bytes, per-byte original starts, ends) in bytes.");
  m.def(
      "bert_pretokenize",
      [](py::object text) {
        std::string_view s = text_view(text);
        std::vector<std::pair<uint32_t, uint32_t>> w;
        fastlm::bert_pretokenize(s, w);
        return w;
      },
      py::arg("text"), "BERT pre-tokenizer: [(start, end)] byte ranges of the words.");

  using fastlm::wordpiece::WordCounter;
  py::class_<WordCounter> counter(m, "WordPieceTrainCounter");
  counter.def(py::init([](bool normalize, bool clean_text, bool handle_chinese_chars, bool strip_accents,
                          bool lowercase, std::vector<std::string> specials) {
                fastlm::wordpiece::WordPieceOptions o;
                o.normalize = normalize;
                o.norm = fastlm::norm::BertNormOptions{clean_text, handle_chinese_chars, strip_accents, lowercase};
                return new WordCounter(o, std::move(specials));
              }),
              py::arg("normalize"), py::arg("clean_text"), py::arg("handle_chinese_chars"), py::arg("strip_accents"),
              py::arg("lowercase"), py::arg("special_tokens"));
  def_texts_method(counter, "count_texts", &WordCounter::count_texts,
                   "Normalize, pre-tokenize and count the words of each text on C++ threads, GIL released.");
  counter.def_property_readonly("distinct_words", &WordCounter::distinct);

  m.def(
      "train_wordpiece",
      [](WordCounter& counter, size_t vocab_size, uint64_t min_frequency, size_t limit_alphabet,
         std::vector<std::string> specials, std::string prefix, py::object progress) {
        fastlm::wordpiece::WordPieceTrainerOptions o;
        o.vocab_size = vocab_size;
        o.min_frequency = min_frequency;
        o.limit_alphabet = limit_alphabet;
        o.special_tokens = std::move(specials);
        o.prefix = std::move(prefix);
        fastlm::wordpiece::TrainProgress cb = progress_function(progress);
        std::vector<std::string> vocab;
        {
          py::gil_scoped_release nogil;
          vocab = fastlm::wordpiece::train_wordpiece(counter, o, cb);
        }
        py::list out;
        for (auto& t : vocab) out.append(py::str(t));
        return out;
      },
      py::arg("counter"), py::arg("vocab_size"), py::arg("min_frequency"), py::arg("limit_alphabet"),
      py::arg("special_tokens"), py::arg("prefix"), py::arg("progress") = py::none(),
      "Learn a WordPiece vocabulary from the counted words (consumes them). Returns the tokens in id order.");
}

}  // namespace fastlm_py
