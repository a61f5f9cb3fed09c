// Bindings for SentencePiece Unigram training: the trainer (counting, then EM) and the built-in charsmaps.
// No training logic here; options and messages live in python/fastlm/training/unigram.py.
#include <string>
#include <vector>

#include "bindings/common.h"
#include "bindings/trainer_common.h"
#include "core/unigram/trainer.h"
#include "core/unigram/trainer_charsmap.h"

namespace fastlm_py {

void register_unigram_trainer(py::module_& m) {
  using fastlm::unigram::UnigramTrainer;
  using fastlm::unigram::UnigramTrainerOptions;
  py::class_<UnigramTrainer> trainer(m, "UnigramTrainer");
  trainer
      .def(py::init([](size_t vocab_size, double character_coverage, size_t max_piece_length, bool split_by_whitespace,
                       bool split_by_unicode_script, bool split_by_number, bool split_digits, size_t seed_size,
                       double shrinking_factor, int num_sub_iterations, py::bytes precompiled_charsmap,
                       bool add_dummy_prefix, bool remove_extra_whitespaces, std::vector<std::string> cut_tokens,
                       size_t max_sentences, uint64_t seed, size_t reserved_pieces) {
             UnigramTrainerOptions o;
             o.vocab_size = vocab_size;
             o.character_coverage = character_coverage;
             o.max_piece_length = max_piece_length;
             o.split_by_whitespace = split_by_whitespace;
             o.split_by_unicode_script = split_by_unicode_script;
             o.split_by_number = split_by_number;
             o.split_digits = split_digits;
             o.seed_size = seed_size;
             o.shrinking_factor = shrinking_factor;
             o.num_sub_iterations = num_sub_iterations;
             o.normalizer.precompiled_charsmap = std::string(precompiled_charsmap);
             o.normalizer.add_dummy_prefix = add_dummy_prefix;
             o.normalizer.remove_extra_whitespaces = remove_extra_whitespaces;
             o.normalizer.escape_whitespaces = true;
             o.cut_tokens = std::move(cut_tokens);
             o.max_sentences = max_sentences;
             o.seed = seed;
             o.reserved_pieces = reserved_pieces;
             return std::make_unique<UnigramTrainer>(std::move(o));
           }),
           py::arg("vocab_size"), py::arg("character_coverage"), py::arg("max_piece_length"),
           py::arg("split_by_whitespace"), py::arg("split_by_unicode_script"), py::arg("split_by_number"),
           py::arg("split_digits"), py::arg("seed_size"), py::arg("shrinking_factor"), py::arg("num_sub_iterations"),
           py::arg("precompiled_charsmap"), py::arg("add_dummy_prefix"), py::arg("remove_extra_whitespaces"),
           py::arg("cut_tokens"), py::arg("max_sentences"), py::arg("seed"), py::arg("reserved_pieces"));
  def_texts_method(trainer, "add_texts", &UnigramTrainer::add_texts,
                   "Count the words of every line of each text (str or UTF-8 bytes) on C++ threads, GIL released.");
  trainer
      .def_property_readonly("lines_seen", &UnigramTrainer::lines_seen)
      .def_property_readonly("bytes_seen", &UnigramTrainer::bytes_seen)
      .def(
          "train",
          [](UnigramTrainer& t, int num_threads, py::object progress) {
            fastlm::unigram::UnigramProgress cb;
            if (!progress.is_none())
              cb = [&progress](int stage, size_t done, size_t total) {
                py::gil_scoped_acquire gil;
                progress(stage, done, total);
              };
            std::vector<fastlm::unigram::TrainedPiece> r;
            {
              py::gil_scoped_release nogil;
              r = t.train(num_threads, cb);
            }
            py::list out(r.size());
            for (size_t i = 0; i < r.size(); ++i) out[i] = py::make_tuple(py::bytes(r[i].piece), r[i].score);
            return out;
          },
          py::arg("num_threads") = 0, py::arg("progress") = py::none(),
          "Train on the counted words (once). Returns [(piece bytes, score)], best score first. progress(stage, "
          "done, total): stage 0 seeding, 1 EM rounds, 2 done.")
      .def_property_readonly("stats", [](const UnigramTrainer& t) {
        const auto& s = t.stats();
        py::dict d;
        d["lines"] = s.lines;
        d["bytes"] = s.bytes;
        d["words"] = s.words;
        d["distinct_words"] = s.distinct_words;
        d["required_chars"] = s.required_chars;
        d["seed_pieces"] = s.seed_pieces;
        d["em_steps"] = s.em_steps;
        d["prune_rounds"] = s.prune_rounds;
        return d;
      });

  m.def(
      "unigram_builtin_charsmap",
      [](const std::string& name) { return py::bytes(fastlm::unigram::builtin_charsmap(name)); }, py::arg("name"),
      "The precompiled charsmap of a built-in rule set: 'nmt_nfkc', 'nfkc' ('identity' gives b'').");
  m.def(
      "unigram_build_charsmap",
      [](std::vector<std::pair<std::string, std::string>> rules) {
        return py::bytes(fastlm::unigram::build_charsmap(std::move(rules)));
      },
      py::arg("rules"), "A precompiled charsmap (darts-clone blob) from (key, replacement) UTF-8 string pairs.");
}

}  // namespace fastlm_py
