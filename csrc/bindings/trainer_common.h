// Shared by the trainer bindings: batches of texts in (count_texts, add_texts), progress callbacks out.
// No training logic.
#pragma once
#include <cstddef>
#include <functional>
#include <string_view>
#include <vector>

#include "bindings/common.h"

namespace fastlm_py {

// Binds `<name>(texts, num_threads=0)` on a counter class whose C++ method `method` takes
// (const std::vector<std::string_view>&, int): count_texts on the BPE and WordPiece counters, add_texts on the
// Unigram trainer. The views point into the list's str/bytes objects, which the list keeps alive while the GIL is
// released. A member pointer rather than a callable parameter: every trainer's method has this one signature, and a
// pointer keeps each call site to one line.
template <class Counter, class... Options>
void def_texts_method(py::class_<Counter, Options...>& cls, const char* name,
                      void (Counter::*method)(const std::vector<std::string_view>&, int), const char* doc) {
  cls.def(
      name,
      [method](Counter& c, py::list texts, int num_threads) {
        std::vector<std::string_view> v;
        v.reserve(texts.size());
        for (auto t : texts) v.push_back(text_view(t));
        py::gil_scoped_release nogil;
        (c.*method)(v, num_threads);
      },
      py::arg("texts"), py::arg("num_threads") = 0, doc);
}

// The core's progress(done, total) callback for a Python callable or None (an empty function). It refers to
// `progress` (no copy: copying or dropping a py::object needs the GIL, which the core runs without), so it must
// not outlive it; each call takes the GIL.
inline std::function<void(size_t, size_t)> progress_function(const py::object& progress) {
  if (progress.is_none()) return {};
  const py::object* fn = &progress;
  return [fn](size_t done, size_t total) {
    py::gil_scoped_acquire gil;
    (*fn)(done, total);
  };
}

}  // namespace fastlm_py
