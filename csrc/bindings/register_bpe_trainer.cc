// Bindings for byte-level BPE training: the pre-token counter and the merge loop. No training logic here.
#include <memory>
#include <string>
#include <vector>

#include "bindings/common.h"
#include "bindings/trainer_common.h"
#include "core/bpe/trainer.h"
#include "core/bpe/trainer_count.h"

namespace fastlm_py {

void register_bpe_trainer(py::module_& m) {
  using fastlm::bpe::PretokenCounter;
  py::class_<PretokenCounter> counter(m, "BpeTrainCounter");
  counter.def(py::init<fastlm::PretokKind, std::vector<std::string>>(), py::arg("kind"), py::arg("special_tokens"));
  def_texts_method(counter, "count_texts", &PretokenCounter::count_texts,
                   "Count the pre-tokens of each text (str or UTF-8 bytes) on C++ threads, GIL released.");
  counter
      .def(
          "add_pieces",
          [](PretokenCounter& c, py::list items) {
            std::vector<std::pair<std::string_view, uint64_t>> v;
            v.reserve(items.size());
            for (auto it : items) {
              auto t = py::reinterpret_borrow<py::tuple>(it);
              v.emplace_back(text_view(t[0]), py::cast<uint64_t>(t[1]));
            }
            py::gil_scoped_release nogil;
            c.add_pieces(v);
          },
          py::arg("items"), "Add (pre-token, count) pairs split elsewhere (the custom-regex path).")
      .def_property_readonly("bytes_seen", &PretokenCounter::bytes_seen)
      .def_property_readonly("distinct_upper_bound", &PretokenCounter::distinct_upper_bound);

  m.def(
      "train_bpe",
      [](PretokenCounter& counter, size_t vocab_size, uint64_t min_frequency, size_t max_token_length,
         py::object progress) {
        fastlm::bpe::BpeTrainerOptions o;
        o.vocab_size = vocab_size;
        o.min_frequency = min_frequency;
        o.max_token_length = max_token_length;
        fastlm::bpe::TrainProgress cb = progress_function(progress);
        fastlm::bpe::BpeTrainResult r;
        size_t distinct = 0;
        {
          py::gil_scoped_release nogil;
          fastlm::bpe::PieceCounter words = counter.take();
          distinct = words.size();
          r = fastlm::bpe::train_bpe(words, o, cb);
        }
        py::list merges(r.merges.size());
        for (size_t i = 0; i < r.merges.size(); ++i) {
          const auto& x = r.merges[i];
          merges[i] = py::make_tuple(x.left, x.right, x.id, x.count);
        }
        return py::make_tuple(r.model, merges, distinct);
      },
      py::arg("counter"), py::arg("vocab_size"), py::arg("min_frequency"), py::arg("max_token_length"),
      py::arg("progress") = py::none(),
      "Learn merges from the counter's pre-tokens (consumes it). Returns (BpeModel, [(left, right, id, count)], "
      "number of distinct pre-tokens).");
}

}  // namespace fastlm_py
