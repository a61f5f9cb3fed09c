// The _core extension module: one register_<area> call per area.
#include "bindings/common.h"
#include "core/error.h"

namespace fastlm_py {

void register_errors(py::module_& m) {
  py::register_exception_translator([](std::exception_ptr p) {
    try {
      if (p) std::rethrow_exception(p);
    } catch (const fastlm::ValueError& e) {
      PyErr_SetString(PyExc_ValueError, e.what());
    } catch (const fastlm::TypeError& e) {
      PyErr_SetString(PyExc_TypeError, e.what());
    } catch (const fastlm::IOError& e) {
      PyErr_SetString(PyExc_OSError, e.what());
    } catch (const fastlm::KeyError& e) {
      PyErr_SetString(PyExc_KeyError, e.what());
    } catch (const fastlm::Error& e) {
      PyErr_SetString(PyExc_RuntimeError, e.what());
    } catch (const std::bad_alloc&) {
      PyErr_SetString(PyExc_MemoryError, "fastlm: out of memory");
    }
  });
}

}  // namespace fastlm_py

PYBIND11_MODULE(_core, m) {
  m.doc() = "fastlm C++ core: tokenizers (byte-level BPE, WordPiece, Unigram)";
  fastlm_py::register_errors(m);
  fastlm_py::register_tokenizer(m);
  fastlm_py::register_pretokenize(m);
  fastlm_py::register_bpe(m);
  fastlm_py::register_bpe_trainer(m);
  fastlm_py::register_wordpiece(m);
  fastlm_py::register_unigram(m);
  fastlm_py::register_pipeline(m);
  fastlm_py::register_unigram_trainer(m);
}
