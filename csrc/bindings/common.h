// Shared helpers for the pybind11 bindings: error translation and zero-copy numpy returns. No tokenizer logic.
#pragma once
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <string_view>
#include <vector>

namespace py = pybind11;

namespace fastlm_py {

// Moves a vector into a 1-D numpy array without copying the data (the array owns the vector).
template <class T>
py::array_t<T> to_numpy(std::vector<T>&& v) {
  auto* heap = new std::vector<T>(std::move(v));
  py::capsule owner(heap, [](void* p) { delete static_cast<std::vector<T>*>(p); });
  return py::array_t<T>({static_cast<py::ssize_t>(heap->size())}, {static_cast<py::ssize_t>(sizeof(T))},
                        heap->data(), owner);
}

// UTF-8 view of a Python str (valid while the str lives). Raises UnicodeEncodeError for lone surrogates;
// the Python layer catches that and retries with the surrogates replaced, as tiktoken does.
inline std::string_view utf8_view(const py::handle& s) {
  Py_ssize_t n = 0;
  const char* p = PyUnicode_AsUTF8AndSize(s.ptr(), &n);
  if (!p) throw py::error_already_set();
  return std::string_view(p, static_cast<size_t>(n));
}

// Bytes-like view of str (UTF-8) or bytes.
inline std::string_view text_view(const py::handle& s) {
  if (PyUnicode_Check(s.ptr())) return utf8_view(s);
  if (PyBytes_Check(s.ptr())) {
    char* p = nullptr;
    Py_ssize_t n = 0;
    PyBytes_AsStringAndSize(s.ptr(), &p, &n);
    return std::string_view(p, static_cast<size_t>(n));
  }
  throw py::type_error("expected str or bytes, got " + std::string(py::str(py::type::of(s).attr("__name__"))));
}

void register_errors(py::module_& m);
void register_pretokenize(py::module_& m);
void register_bpe(py::module_& m);
void register_bpe_trainer(py::module_& m);
void register_tokenizer(py::module_& m);
void register_wordpiece(py::module_& m);
void register_unigram(py::module_& m);
void register_pipeline(py::module_& m);
void register_unigram_trainer(py::module_& m);

}  // namespace fastlm_py
