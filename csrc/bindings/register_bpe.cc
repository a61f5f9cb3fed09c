// Bindings for byte-level BPE: the model, its encoder, and the .tiktoken format.
#include <memory>
#include <string>
#include <vector>

#include "bindings/common.h"
#include "core/bpe/encoder.h"
#include "core/bpe/model.h"
#include "core/bpe/tiktoken_file.h"

namespace fastlm_py {

void register_bpe(py::module_& m) {
  using fastlm::bpe::BpeModel;
  py::class_<BpeModel, std::shared_ptr<BpeModel>>(m, "BpeModel")
      .def(py::init([](std::vector<std::pair<py::bytes, uint32_t>> vocab, py::object merges, bool whole_piece_lookup) {
             std::vector<std::pair<std::string, uint32_t>> v;
             v.reserve(vocab.size());
             for (auto& kv : vocab) v.emplace_back(std::string(kv.first), kv.second);
             std::vector<std::pair<std::string, std::string>> mg;
             bool has = !merges.is_none();
             if (has)
               for (auto x : merges) {
                 auto t = py::cast<py::tuple>(x);
                 mg.emplace_back(std::string(py::cast<py::bytes>(t[0])), std::string(py::cast<py::bytes>(t[1])));
               }
             py::gil_scoped_release nogil;
             return std::make_shared<BpeModel>(std::move(v), has ? &mg : nullptr, whole_piece_lookup);
           }),
           py::arg("vocab"), py::arg("merges") = py::none(), py::arg("whole_piece_lookup") = true)
      .def_static(
          "from_tiktoken_bytes",
          [](py::bytes data, const std::string& source) {
            std::string d(data);
            py::gil_scoped_release nogil;
            auto ranks = fastlm::bpe::parse_tiktoken(d, source);
            return std::make_shared<BpeModel>(std::move(ranks), nullptr, true);
          },
          py::arg("data"), py::arg("source") = "<bytes>")
      .def_property_readonly("size", &BpeModel::size)
      .def_property_readonly("id_bound", &BpeModel::id_bound)
      .def_property_readonly("uses_merges", &BpeModel::uses_merges)
      .def_property_readonly("whole_piece_lookup", &BpeModel::whole_piece_lookup)
      .def("token_bytes",
           [](const BpeModel& b, uint32_t id) -> py::object {
             if (!b.has_id(id)) return py::none();
             return py::bytes(std::string(b.token_bytes(id)));
           })
      .def("vocab",
           [](const BpeModel& b) {
             py::list out;
             for (size_t id = 0; id < b.id_bound(); ++id)
               if (b.has_id(uint32_t(id))) out.append(py::make_tuple(py::bytes(std::string(b.token_bytes(uint32_t(id)))), id));
             return out;
           })
      .def("merge_table", &BpeModel::merge_table)
      .def_property_readonly("has_backtracker", &BpeModel::has_backtracker)
      .def(
          "encode_pieces",
          [](const BpeModel& b, py::list pieces, const std::string& method) {
            BpeModel::Method m = method == "merge"       ? BpeModel::Method::kMerge
                                 : method == "backtrack" ? BpeModel::Method::kBacktrack
                                 : method == "auto"      ? BpeModel::Method::kAuto
                                                         : throw py::value_error("method must be 'auto', 'merge' or 'backtrack'");
            std::vector<std::string_view> v;
            v.reserve(pieces.size());
            for (auto p : pieces) v.push_back(text_view(p));
            std::vector<uint32_t> out;
            {
              py::gil_scoped_release nogil;
              for (auto s : v) b.encode_piece_with(m, s, out);
            }
            return py::cast(out);
          },
          py::arg("pieces"), py::arg("method") = "auto",
          "Encode pre-tokenized pieces. method: 'auto' (what the encoder does, caches included), 'merge' (the "
          "rank-merge loop) or 'backtrack' (the backtracking encoder; ValueError if the model has none).")
      .def(
          "compatible",
          [](const BpeModel& b, uint32_t left, uint32_t right) {
            const fastlm::bpe::Backtracker* bt = b.backtracker();
            if (!bt) throw py::value_error("this BPE model has no backtracking encoder");
            if (!bt->matchable(left) || !bt->matchable(right))
              throw py::value_error("compatible() takes two tokens that are their own BPE encoding");
            return bt->compatible(left, right);
          },
          py::arg("left"), py::arg("right"),
          "True if BPE on the bytes of the two tokens ends with exactly these two tokens.")
      .def(
          "is_matchable",
          [](const BpeModel& b, uint32_t id) {
            const fastlm::bpe::Backtracker* bt = b.backtracker();
            if (!bt) throw py::value_error("this BPE model has no backtracking encoder");
            return bt->matchable(id);
          },
          py::arg("id"), "True if the token is the BPE encoding of its own bytes (the backtracking encoder emits it).");

  using fastlm::bpe::BpeEncoder;
  py::class_<BpeEncoder, fastlm::Encoder, std::shared_ptr<BpeEncoder>>(m, "BpeEncoder")
      .def(py::init([](std::shared_ptr<BpeModel> model, fastlm::PretokKind kind) {
             return std::make_shared<BpeEncoder>(std::move(model), kind);
           }),
           py::arg("model"), py::arg("kind"))
      .def_property_readonly("model", [](const BpeEncoder& e) { return std::const_pointer_cast<BpeModel>(e.model_ptr()); })
      .def_property_readonly("kind", &BpeEncoder::kind);

  m.def(
      "format_tiktoken",
      [](const BpeModel& b) {
        std::vector<std::pair<std::string, uint32_t>> r;
        for (size_t id = 0; id < b.id_bound(); ++id)
          if (b.has_id(uint32_t(id))) r.emplace_back(std::string(b.token_bytes(uint32_t(id))), uint32_t(id));
        return py::bytes(fastlm::bpe::format_tiktoken(r));
      },
      "Serialize a model's ranks in the .tiktoken format.");
}

}  // namespace fastlm_py
