#!/usr/bin/env bash
# Run the tokenizer test suite (and optionally the fuzz pass) against the C++ core built with AddressSanitizer +
# UndefinedBehaviorSanitizer (-DFASTLM_SANITIZE=ON).
#
#   tools/run_asan.sh                    # build build/asan (incremental), run the tokenizer tests under ASan+UBSan
#   tools/run_asan.sh tests/test_x.py    # only these tests (any pytest arguments)
#   FUZZ_SECONDS=5 tools/run_asan.sh     # then run every fuzz harness for 5 s each under the sanitizers too
#                                        # (blind mutation: with GCC's libasan preloaded, atheris gets no coverage;
#                                        # the coverage-guided pass is `python fuzz/run.py` on the normal build)
#   ASAN_BUILD_DIR=/tmp/b JOBS=4 ...     # another build folder; parallel compile / fuzz jobs (default: nproc)
#
# How: CMake builds _core into build/asan; build/asan/pkg/fastlm is the package with that extension (symlinks to
# python/fastlm and kernels/ plus the sanitized .so), and build/asan/site/sitecustomize.py puts it first on
# sys.path (after .pth files ran, so it also wins over an editable install); PYTHONPATH carries that to every
# subprocess the tests start. libasan is preloaded (the interpreter itself is not instrumented) and
# detect_leaks=0 (CPython keeps objects alive at exit by design). Any ASan or UBSan report aborts the process,
# so a memory error fails the test run. Needs: a C++ compiler with libasan (gcc or clang), cmake, pybind11.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
PY="${PYTHON:-python}"
# SANITIZER=thread: the same, with ThreadSanitizer instead (build/tsan; e.g. tests/test_reliability_threads.py).
san="${SANITIZER:-address}"
case "$san" in
  address) build="${ASAN_BUILD_DIR:-$root/build/asan}"; san_cmake=(-DFASTLM_SANITIZE=ON); rt=libasan.so ;;
  thread) build="${ASAN_BUILD_DIR:-$root/build/tsan}"; rt=libtsan.so
          san_cmake=(-DFASTLM_SANITIZE=OFF "-DCMAKE_CXX_FLAGS=-fsanitize=thread"
                     "-DCMAKE_SHARED_LINKER_FLAGS=-fsanitize=thread" "-DCMAKE_MODULE_LINKER_FLAGS=-fsanitize=thread") ;;
  *) echo "run_asan: SANITIZER must be address or thread" >&2; exit 2 ;;
esac
jobs="${JOBS:-$(nproc 2>/dev/null || echo 2)}"

t0=$(date +%s)
# build tools: pybind11 is only a build-time dependency (absent from a plain `pip install .` environment)
"$PY" -m pybind11 --cmakedir >/dev/null 2>&1 || "$PY" -m pip install -q "pybind11>=3.0,<4"
command -v cmake >/dev/null 2>&1 || "$PY" -m pip install -q cmake ninja
gen=()
command -v ninja >/dev/null 2>&1 && gen=(-G Ninja)
# -O1 -g1: ASan's recommended optimization, line tables for the reports; half the compile time of -O2 -g.
[ -f "$build/CMakeCache.txt" ] && gen=()
cmake -S . -B "$build" "${gen[@]}" "${san_cmake[@]}" -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  "-DCMAKE_CXX_FLAGS_RELWITHDEBINFO=-O1 -g1" \
  -DPython_EXECUTABLE="$(command -v "$PY")" -Dpybind11_DIR="$("$PY" -m pybind11 --cmakedir)" >/dev/null
cmake --build "$build" -j "$jobs" >/dev/null
so="$(ls "$build"/_core*.so | head -n1)"

pkg="$build/pkg/fastlm"
rm -rf "$build/pkg" && mkdir -p "$pkg"
for f in "$root"/python/fastlm/*; do
  case "$(basename "$f")" in _core*.so|__pycache__) continue ;; esac
  ln -s "$f" "$pkg/"
done
ln -s "$root/kernels" "$pkg/kernels"
cp "$so" "$pkg/"
mkdir -p "$build/site"
cat > "$build/site/sitecustomize.py" <<PYEOF
import sys
sys.meta_path[:] = [f for f in sys.meta_path if "editable" not in type(f).__module__.lower()]
sys.path.insert(0, "$build/pkg")
for name in [m for m in sys.modules if m == "fastlm" or m.startswith("fastlm.")]:
    del sys.modules[name]
PYEOF
echo "run_asan: built $(basename "$so") with -fsanitize=$san in $(( $(date +%s) - t0 )) s"

libasan="$(${CXX:-c++} -print-file-name=$rt)"
[ -f "$libasan" ] || { echo "run_asan: $rt not found (install the compiler's sanitizer runtime)" >&2; exit 2; }
# libstdc++ too: Python does not link it, and ASan resolves the real __cxa_throw when it starts; without it the
# first C++ exception (every ValueError from the core) aborts in ASan's interceptor.
libstdcxx="$(${CXX:-c++} -print-file-name=libstdc++.so.6)"
export LD_PRELOAD="$libasan:$libstdcxx${LD_PRELOAD:+:$LD_PRELOAD}"
export ASAN_OPTIONS="detect_leaks=0:abort_on_error=1:print_summary=1:halt_on_error=1${ASAN_OPTIONS:+:$ASAN_OPTIONS}"
export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1${UBSAN_OPTIONS:+:$UBSAN_OPTIONS}"
export TSAN_OPTIONS="halt_on_error=1:second_deadlock_stack=1:suppressions=$root/tools/tsan.supp${TSAN_OPTIONS:+:$TSAN_OPTIONS}"
export PYTHONPATH="$build/site${PYTHONPATH:+:$PYTHONPATH}"

"$PY" - <<'PYEOF'
import fastlm, fastlm._core as c
assert "/pkg/fastlm/" in c.__file__, f"the sanitized extension was not picked up: {c.__file__}"
print(f"run_asan: fastlm._core from {c.__file__}")
PYEOF

# The tokenizer suite: every test file that does not need torch (attention/models/demo run unsanitized).
tests=(tests/test_bpe_api.py tests/test_bpe_parity.py tests/test_bpe_train.py tests/test_bert_call.py
       tests/test_decode_options.py tests/test_hf_bpe.py tests/test_pretokenize.py tests/test_sentencepiece_api.py
       tests/test_sentencepiece_parity.py tests/test_serving.py tests/test_wordpiece_parity.py
       tests/test_wordpiece_train.py tests/test_cli_shards.py tests/test_fuzz_regressions.py
       tests/test_reliability_text.py tests/test_reliability_files.py tests/test_reliability_threads.py
       tests/test_atomic.py)
# ASAN_TESTS=ci: the files whose inputs are the edge cases (the parity files replay whole corpora, ~5x slower
# under ASan; the fuzz pass below covers the same encoders on mutated input).
if [ "${ASAN_TESTS:-}" = ci ]; then
  tests=(tests/test_bpe_api.py tests/test_bert_call.py tests/test_decode_options.py
         tests/test_pretokenize.py tests/test_sentencepiece_api.py tests/test_serving.py tests/test_fuzz_regressions.py
         tests/test_reliability_text.py tests/test_reliability_files.py tests/test_reliability_threads.py)
fi
t1=$(date +%s)
if [ "$#" -gt 0 ]; then
  "$PY" -m pytest -q -p no:cacheprovider "$@"
else
  "$PY" -m pytest -q -p no:cacheprovider "${tests[@]}"
fi
echo "run_asan: tests under -fsanitize=$san took $(( $(date +%s) - t1 )) s"
if [ -n "${FUZZ_SECONDS:-}" ]; then
  t2=$(date +%s)
  "$PY" fuzz/run.py --seconds "$FUZZ_SECONDS" --jobs "${FUZZ_JOBS:-$jobs}" ${FUZZ_JSON:+--json "$FUZZ_JSON"}
  echo "run_asan: fuzz pass under ASan+UBSan took $(( $(date +%s) - t2 )) s"
fi
