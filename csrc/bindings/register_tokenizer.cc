// Bindings for the generic pipeline (core/tokenizer.h): special tokens, batching, decoding.
// Text arguments are str (positions in code points) or bytes (positions in bytes).
#include <algorithm>
#include <memory>
#include <string>
#include <vector>

#include "bindings/common.h"
#include "core/tokenizer.h"

namespace fastlm_py {

namespace {

// None -> no mask; bytes of length num_special -> mask.
const uint8_t* mask_ptr(const py::object& m, size_t n, std::string& hold) {
  if (m.is_none()) return nullptr;
  hold = py::cast<std::string>(py::bytes(m));
  if (hold.size() != n) throw py::value_error("special-token mask has the wrong length");
  return reinterpret_cast<const uint8_t*>(hold.data());
}

// The UTF-8 of every str in a batch (the caller keeps the list alive). Anything else raises TypeError naming the
// item; a str that cannot be encoded (lone surrogates) raises UnicodeEncodeError, which Python handles.
std::vector<std::string_view> views(const py::list& texts) {
  std::vector<std::string_view> v;
  const size_t n = texts.size();
  v.reserve(n);
  for (size_t i = 0; i < n; ++i) {
    PyObject* t = PyList_GET_ITEM(texts.ptr(), static_cast<Py_ssize_t>(i));
    if (!PyUnicode_Check(t))
      throw py::type_error("texts[" + std::to_string(i) + "] is " +
                           std::string(py::str(py::type::of(py::handle(t)).attr("__name__"))) + ", expected str");
    v.push_back(utf8_view(py::handle(t)));
  }
  return v;
}

// Token ids as a Python list. Ints come from a process-wide table of int objects, made on first use and kept
// alive, so a list of N ids costs N increfs instead of N allocations (and N frees when the list dies): 1.2M ids
// from o200k took ~45 ms through py::cast, a third of the whole encode. Ids >= kIntTableLimit get fresh ints.
// Needs the GIL (every caller holds it).
constexpr uint32_t kIntTableLimit = 1u << 21;
std::vector<PyObject*>& int_table() {
  static std::vector<PyObject*>* t = new std::vector<PyObject*>();  // never destroyed: outlives the interpreter
  return *t;
}

// Pauses Python's cyclic GC while lists are built (with the GIL held throughout, so no other Python code sees it).
// A batch makes one list per document: each allocation counts toward a collection, and the collections kept
// re-walking the lists already built (list_traverse + gc were ~30% of an 89K-line batch). The lists stay tracked;
// the next collection after the batch looks at them once.
class GcPause {
 public:
  GcPause() {
#if PY_VERSION_HEX >= 0x030A0000
    was_enabled_ = PyGC_Disable();
#else
    py::module_ gc = py::module_::import("gc");
    was_enabled_ = gc.attr("isenabled")().cast<bool>();
    gc.attr("disable")();
#endif
  }
  ~GcPause() {
    if (!was_enabled_) return;
#if PY_VERSION_HEX >= 0x030A0000
    PyGC_Enable();
#else
    py::module_::import("gc").attr("enable")();
#endif
  }
  GcPause(const GcPause&) = delete;
  GcPause& operator=(const GcPause&) = delete;

 private:
  bool was_enabled_ = false;
};

// New reference to a list of the n ids at p (throws error_already_set on failure, nothing leaked).
PyObject* ids_to_list(const uint32_t* p, size_t n) {
  std::vector<PyObject*>& table = int_table();
  uint32_t top = 0;
  for (size_t i = 0; i < n; ++i) top = p[i] > top ? p[i] : top;
  if (n && top < kIntTableLimit && top >= table.size())
    table.resize(std::max<size_t>(size_t(top) + 1, std::min<size_t>(kIntTableLimit, table.size() * 2)), nullptr);
  PyObject* list = PyList_New(static_cast<Py_ssize_t>(n));
  if (!list) throw py::error_already_set();
  for (size_t i = 0; i < n; ++i) {
    uint32_t v = p[i];
    PyObject* o;
    if (v < kIntTableLimit) {
      o = table[v];
      if (!o) {
        o = PyLong_FromUnsignedLong(v);
        if (!o) {
          Py_DECREF(list);
          throw py::error_already_set();
        }
        table[v] = o;
      }
      Py_INCREF(o);
    } else {
      o = PyLong_FromUnsignedLong(v);
      if (!o) {
        Py_DECREF(list);
        throw py::error_already_set();
      }
    }
    PyList_SET_ITEM(list, static_cast<Py_ssize_t>(i), o);
  }
  return list;
}

py::list ids_to_list(const std::vector<uint32_t>& ids) {
  return py::reinterpret_steal<py::list>(ids_to_list(ids.data(), ids.size()));
}

py::tuple encoding_tuple(fastlm::Encoding&& e, std::string_view text, bool is_str) {
  if (is_str) {
    fastlm::byte_to_char_offsets(text, e.starts, true);
    fastlm::byte_to_char_offsets(text, e.ends);
  }
  return py::make_tuple(to_numpy(std::move(e.ids)), to_numpy(std::move(e.starts)), to_numpy(std::move(e.ends)));
}

}  // namespace

void register_tokenizer(py::module_& m) {
  py::class_<fastlm::Encoder, std::shared_ptr<fastlm::Encoder>>(m, "Encoder")
      .def_property_readonly("type", &fastlm::Encoder::type)
      .def_property_readonly("vocab_size", &fastlm::Encoder::vocab_size)
      .def_property_readonly("id_bound", &fastlm::Encoder::id_bound);

  using T = fastlm::Tokenizer;
  py::class_<T, std::shared_ptr<T>>(m, "Tokenizer")
      .def(py::init([](std::shared_ptr<fastlm::Encoder> enc, std::vector<std::pair<std::string, uint32_t>> specials) {
             return std::make_shared<T>(std::move(enc), std::move(specials));
           }),
           py::arg("encoder"), py::arg("specials"))
      .def_property_readonly("encoder", [](const T& t) { return std::const_pointer_cast<fastlm::Encoder>(t.encoder_ptr()); })
      .def_property_readonly("id_bound", &T::id_bound)
      .def_property_readonly("specials", [](const T& t) {
        std::vector<std::pair<std::string, uint32_t>> v;
        for (uint32_t i = 0; i < t.num_special(); ++i) v.emplace_back(t.special_token(i), t.special_id(i));
        return v;
      })
      .def(
          "encode",
          [](const T& t, py::object text, py::object allowed, py::object disallowed) {
            std::string ha, hd;
            std::string_view s = text_view(text);
            const uint8_t* a = mask_ptr(allowed, t.num_special(), ha);
            const uint8_t* d = mask_ptr(disallowed, t.num_special(), hd);
            fastlm::Encoding e;
            {
              py::gil_scoped_release nogil;
              t.encode(s, a, d, false, e);
            }
            return py::object(ids_to_list(e.ids));  // typed like the py::cast it replaced
          },
          py::arg("text"), py::arg("allowed") = py::none(), py::arg("disallowed") = py::none())
      .def(
          "encode_numpy",
          [](const T& t, py::object text, py::object allowed, py::object disallowed) {
            std::string ha, hd;
            std::string_view s = text_view(text);
            const uint8_t* a = mask_ptr(allowed, t.num_special(), ha);
            const uint8_t* d = mask_ptr(disallowed, t.num_special(), hd);
            fastlm::Encoding e;
            {
              py::gil_scoped_release nogil;
              t.encode(s, a, d, false, e);
            }
            return to_numpy(std::move(e.ids));
          },
          py::arg("text"), py::arg("allowed") = py::none(), py::arg("disallowed") = py::none())
      .def(
          "encode_with_offsets",
          [](const T& t, py::object text, py::object allowed, py::object disallowed) {
            std::string ha, hd;
            bool is_str = PyUnicode_Check(text.ptr());
            std::string_view s = text_view(text);
            const uint8_t* a = mask_ptr(allowed, t.num_special(), ha);
            const uint8_t* d = mask_ptr(disallowed, t.num_special(), hd);
            fastlm::Encoding e;
            {
              py::gil_scoped_release nogil;
              t.encode(s, a, d, true, e);
            }
            return encoding_tuple(std::move(e), s, is_str);
          },
          py::arg("text"), py::arg("allowed") = py::none(), py::arg("disallowed") = py::none(),
          "Returns (ids, starts, ends) as numpy arrays; positions are code points for str, bytes for bytes.")
      .def(
          "encode_batch",
          [](const T& t, py::list texts, py::object allowed, py::object disallowed, int num_threads) {
            std::string ha, hd;
            auto v = views(texts);
            const uint8_t* a = mask_ptr(allowed, t.num_special(), ha);
            const uint8_t* d = mask_ptr(disallowed, t.num_special(), hd);
            py::list res(v.size());
            // Documents become lists on this thread as soon as they are encoded, while the other threads go on.
            auto ready = [&](size_t begin, size_t end, const uint32_t* ids, const size_t* offs) {
              py::gil_scoped_acquire gil;
              GcPause pause;
              for (size_t i = begin; i < end; ++i) {
                PyObject* l = ids_to_list(ids + offs[i - begin], offs[i - begin + 1] - offs[i - begin]);
                PyList_SET_ITEM(res.ptr(), static_cast<Py_ssize_t>(i), l);
              }
            };
            {
              py::gil_scoped_release nogil;
              t.encode_batch_stream(v, a, d, num_threads, ready);
            }
            return res;
          },
          py::arg("texts"), py::arg("allowed") = py::none(), py::arg("disallowed") = py::none(),
          py::arg("num_threads") = 0)
      .def(
          "encode_batch_with_offsets",
          [](const T& t, py::list texts, py::object allowed, py::object disallowed, int num_threads) {
            std::string ha, hd;
            auto v = views(texts);
            std::vector<bool> is_str(v.size());
            for (size_t i = 0; i < v.size(); ++i) is_str[i] = PyUnicode_Check(texts[i].ptr());
            const uint8_t* a = mask_ptr(allowed, t.num_special(), ha);
            const uint8_t* d = mask_ptr(disallowed, t.num_special(), hd);
            std::vector<fastlm::Encoding> out;
            {
              py::gil_scoped_release nogil;
              t.encode_batch(v, a, d, true, num_threads, out);
            }
            py::list res(out.size());
            for (size_t i = 0; i < out.size(); ++i) res[i] = encoding_tuple(std::move(out[i]), v[i], is_str[i]);
            return res;
          },
          py::arg("texts"), py::arg("allowed") = py::none(), py::arg("disallowed") = py::none(),
          py::arg("num_threads") = 0)
      .def(
          "encode_batch_flat",
          [](const T& t, py::list texts, py::object allowed, py::object disallowed, int num_threads) {
            std::string ha, hd;
            auto v = views(texts);
            const uint8_t* a = mask_ptr(allowed, t.num_special(), ha);
            const uint8_t* d = mask_ptr(disallowed, t.num_special(), hd);
            std::vector<uint32_t> ids;
            std::vector<int64_t> offs;
            {
              py::gil_scoped_release nogil;
              t.encode_batch_flat(v, a, d, num_threads, ids, offs);
            }
            return py::make_tuple(to_numpy(std::move(ids)), to_numpy(std::move(offs)));
          },
          py::arg("texts"), py::arg("allowed") = py::none(), py::arg("disallowed") = py::none(),
          py::arg("num_threads") = 0)
      .def(
          "decode_bytes",
          [](const T& t, py::object ids) {
            std::vector<uint32_t> v;
            if (py::isinstance<py::array>(ids)) {
              auto arr = py::array_t<int64_t, py::array::c_style | py::array::forcecast>::ensure(ids);
              if (!arr) throw py::type_error("ids must be a 1-D integer array");
              auto r = arr.unchecked<1>();
              v.resize(size_t(r.shape(0)));
              for (py::ssize_t i = 0; i < r.shape(0); ++i) {
                if (r(i) < 0 || r(i) > 0xFFFFFFFELL)
                  throw py::key_error("unknown token id " + std::to_string(r(i)) + " at position " + std::to_string(i));
                v[size_t(i)] = uint32_t(r(i));
              }
            } else {
              size_t i = 0;
              for (auto x : ids) {
                long long val = py::cast<long long>(x);
                if (val < 0 || val > 0xFFFFFFFELL)
                  throw py::key_error("unknown token id " + std::to_string(val) + " at position " + std::to_string(i));
                v.push_back(uint32_t(val));
                ++i;
              }
            }
            std::string out;
            {
              py::gil_scoped_release nogil;
              out = t.decode(v.data(), v.size());
            }
            return py::bytes(out);
          },
          py::arg("ids"))
      .def("token_bytes",
           [](const T& t, uint32_t id) -> py::object {
             std::string out;
             if (!t.token_bytes(id, out)) return py::none();
             return py::bytes(out);
           })
      .def("token_to_id", [](const T& t, py::object tok) -> py::object {
        uint32_t id = t.token_to_id(text_view(tok));
        if (id == fastlm::kNoToken) return py::none();
        return py::int_(id);
      });
}

}  // namespace fastlm_py
