// Bindings for the pre-tokenizer scanners (used by tests and by users who want the pieces).
#include <string>
#include <vector>

#include "bindings/common.h"
#include "core/pretokenize.h"

namespace fastlm_py {

void register_pretokenize(py::module_& m) {
  py::enum_<fastlm::PretokKind>(m, "PretokKind")
      .value("NONE", fastlm::PretokKind::kNone)
      .value("R50K", fastlm::PretokKind::kR50K)
      .value("CL100K", fastlm::PretokKind::kCL100K)
      .value("O200K", fastlm::PretokKind::kO200K);
  m.def(
      "pretokenize",
      [](fastlm::PretokKind kind, py::object text) {
        bool is_str = PyUnicode_Check(text.ptr());
        std::string_view s = text_view(text);
        std::vector<std::pair<size_t, size_t>> spans;
        {
          py::gil_scoped_release nogil;
          fastlm::pretokenize(kind, s, [&](size_t a, size_t b) { spans.emplace_back(a, b); });
        }
        py::list out(spans.size());
        for (size_t i = 0; i < spans.size(); ++i) {
          const char* p = s.data() + spans[i].first;
          size_t n = spans[i].second - spans[i].first;
          if (is_str)
            out[i] = py::reinterpret_steal<py::object>(PyUnicode_DecodeUTF8(p, static_cast<Py_ssize_t>(n), "strict"));
          else
            out[i] = py::bytes(p, n);
        }
        return out;
      },
      py::arg("kind"), py::arg("text"), "Split text into pre-tokens with a built-in scanner.");
  m.def("_ascii_table_consistent", &fastlm::pretok::ascii_table_consistent);
  m.def("_bmp_table_consistent", &fastlm::pretok::bmp_table_consistent);
}

}  // namespace fastlm_py
