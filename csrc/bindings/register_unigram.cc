// Bindings for the SentencePiece family: the .model protobuf, the Unigram/BPE encoder, n-best and sampling.
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "bindings/common.h"
#include "core/sentencepiece/model_proto.h"
#include "core/unigram/encoder.h"

namespace fastlm_py {

namespace {
using fastlm::sp::Message;
using fastlm::sp::ModelProto;

Message& spec(ModelProto& m, const std::string& which) {
  if (which == "trainer") return m.trainer_spec;
  if (which == "normalizer") return m.normalizer_spec;
  if (which == "denormalizer") return m.denormalizer_spec;
  throw py::value_error("spec must be 'trainer', 'normalizer' or 'denormalizer'");
}

void mark(ModelProto& m, const std::string& which) {
  if (which == "trainer") m.has_trainer_spec = true;
  if (which == "normalizer") m.has_normalizer_spec = true;
  if (which == "denormalizer") m.has_denormalizer_spec = true;
}

py::tuple ids_offsets(fastlm::Encoding&& e, std::string_view text, bool is_str, bool with_offsets) {
  if (!with_offsets) return py::make_tuple(py::cast(e.ids), py::none());
  if (is_str) {
    fastlm::byte_to_char_offsets(text, e.starts);
    fastlm::byte_to_char_offsets(text, e.ends);
  }
  py::list offs(e.ids.size());
  for (size_t i = 0; i < e.ids.size(); ++i) offs[i] = py::make_tuple(e.starts[i], e.ends[i]);
  return py::make_tuple(py::cast(e.ids), offs);
}
}  // namespace

void register_unigram(py::module_& m) {
  py::class_<ModelProto, std::shared_ptr<ModelProto>>(m, "SpModelProto")
      .def(py::init<>())
      .def_static(
          "parse",
          [](py::bytes data, const std::string& source) {
            std::string d(data);
            py::gil_scoped_release nogil;
            return std::make_shared<ModelProto>(fastlm::sp::parse_model_proto(d, source));
          },
          py::arg("data"), py::arg("source") = "<bytes>")
      .def("serialize", [](const ModelProto& p) { return py::bytes(fastlm::sp::serialize_model_proto(p)); })
      .def_property(
          "pieces",
          [](const ModelProto& p) {
            py::list out(p.pieces.size());
            for (size_t i = 0; i < p.pieces.size(); ++i)
              out[i] = py::make_tuple(py::bytes(p.pieces[i].piece), p.pieces[i].score, p.pieces[i].type);
            return out;
          },
          [](ModelProto& p, const py::list& v) {
            std::vector<fastlm::sp::Piece> ps;
            ps.reserve(v.size());
            for (auto x : v) {
              auto t = py::cast<py::tuple>(x);
              fastlm::sp::Piece q;
              q.piece = py::cast<std::string>(t[0]);
              q.score = py::cast<float>(t[1]);
              q.type = py::cast<int>(t[2]);
              ps.push_back(std::move(q));
            }
            p.pieces = std::move(ps);
          })
      .def("has_spec",
           [](const ModelProto& p, const std::string& which) {
             if (which == "trainer") return p.has_trainer_spec;
             if (which == "normalizer") return p.has_normalizer_spec;
             if (which == "denormalizer") return p.has_denormalizer_spec;
             throw py::value_error("spec must be 'trainer', 'normalizer' or 'denormalizer'");
           })
      .def("get_int", [](ModelProto& p, const std::string& s, uint32_t f, int64_t d) { return spec(p, s).get_int(f, d); })
      .def("get_bool", [](ModelProto& p, const std::string& s, uint32_t f, bool d) { return spec(p, s).get_bool(f, d); })
      .def("get_float", [](ModelProto& p, const std::string& s, uint32_t f, float d) { return spec(p, s).get_float(f, d); })
      .def("get_bytes",
           [](ModelProto& p, const std::string& s, uint32_t f, py::bytes d) {
             return py::bytes(spec(p, s).get_string(f, std::string(d)));
           })
      .def("get_bytes_list",
           [](ModelProto& p, const std::string& s, uint32_t f) {
             py::list out;
             for (auto& x : spec(p, s).get_strings(f)) out.append(py::bytes(x));
             return out;
           })
      .def("set_int", [](ModelProto& p, const std::string& s, uint32_t f, int64_t v) { spec(p, s).set_int(f, v); mark(p, s); })
      .def("set_bool", [](ModelProto& p, const std::string& s, uint32_t f, bool v) { spec(p, s).set_bool(f, v); mark(p, s); })
      .def("set_float", [](ModelProto& p, const std::string& s, uint32_t f, float v) { spec(p, s).set_float(f, v); mark(p, s); })
      .def("set_bytes", [](ModelProto& p, const std::string& s, uint32_t f, py::bytes v) { spec(p, s).set_string(f, std::string(v)); mark(p, s); })
      .def("add_bytes", [](ModelProto& p, const std::string& s, uint32_t f, py::bytes v) { spec(p, s).add_string(f, std::string(v)); mark(p, s); })
      .def("erase", [](ModelProto& p, const std::string& s, uint32_t f) { spec(p, s).erase(f); });

  using fastlm::unigram::SpEncoder;
  py::class_<SpEncoder, fastlm::Encoder, std::shared_ptr<SpEncoder>>(m, "SpEncoder")
      .def(py::init([](const ModelProto& p) {
             py::gil_scoped_release nogil;
             return SpEncoder::from_proto(p);
           }),
           py::arg("proto"))
      .def_property_readonly("is_bpe", &SpEncoder::is_bpe)
      .def_property_readonly("unk_id", [](const SpEncoder& e) { return e.table().unk_id(); })
      .def_property_readonly("byte_fallback", [](const SpEncoder& e) { return e.table().byte_fallback(); })
      .def("piece_type", [](const SpEncoder& e, uint32_t id) {
        if (id >= e.table().size()) throw py::index_error("piece id out of range");
        return e.table().type(id);
      })
      .def("piece_score", [](const SpEncoder& e, uint32_t id) {
        if (id >= e.table().size()) throw py::index_error("piece id out of range");
        return e.table().score(id);
      })
      .def("normalize",
           [](const SpEncoder& e, py::object text) {
             std::string_view s = text_view(text);
             std::string out;
             {
               py::gil_scoped_release nogil;
               e.normalize(s, out);
             }
             return py::bytes(out);
           })
      .def(
          "encode_sample",
          [](const SpEncoder& e, py::object text, int nbest_size, float alpha, uint64_t seed, bool with_offsets) {
            bool is_str = PyUnicode_Check(text.ptr());
            std::string_view s = text_view(text);
            fastlm::Encoding out;
            {
              py::gil_scoped_release nogil;
              std::mt19937 rng(static_cast<std::mt19937::result_type>(seed ^ (seed >> 32)));
              e.encode_sample(s, nbest_size, alpha, rng, with_offsets, out);
            }
            return ids_offsets(std::move(out), s, is_str, with_offsets);
          },
          py::arg("text"), py::arg("nbest_size"), py::arg("alpha"), py::arg("seed"), py::arg("with_offsets") = false)
      .def(
          "sample_many",
          [](const SpEncoder& e, py::object text, int nbest_size, float alpha, uint64_t seed, size_t count) {
            std::string_view s = text_view(text);
            std::vector<std::vector<uint32_t>> res(count);
            {
              py::gil_scoped_release nogil;
              std::mt19937 rng(static_cast<std::mt19937::result_type>(seed ^ (seed >> 32)));
              for (size_t i = 0; i < count; ++i) {
                fastlm::Encoding out;
                e.encode_sample(s, nbest_size, alpha, rng, false, out);
                res[i] = std::move(out.ids);
              }
            }
            return res;
          },
          py::arg("text"), py::arg("nbest_size"), py::arg("alpha"), py::arg("seed"), py::arg("count"))
      .def(
          "nbest",
          [](const SpEncoder& e, py::object text, int n) {
            std::string_view s = text_view(text);
            std::vector<std::pair<std::vector<uint32_t>, float>> r;
            {
              py::gil_scoped_release nogil;
              r = e.nbest(s, n);
            }
            return r;
          },
          py::arg("text"), py::arg("n"));
}

}  // namespace fastlm_py
