// Batch parallelism: a parallel-for over items (no GIL anywhere in the core).
//
// Workers come from a persistent pool, so each worker thread keeps its per-thread scratch (the BPE piece and
// pair caches) warm across calls: a data pipeline calls encode_batch thousands of times on small batches, and
// spawning threads per call (~20 us each, plus cold caches) cost ~30% there. Items are claimed dynamically in
// small chunks through an atomic counter, so one long document does not stall the others. The first exception
// thrown by any worker is rethrown on the calling thread.
// The pool serves one batch at a time; a concurrent caller (another Python thread) or a call after fork() (the
// pool's threads do not exist in the child) uses freshly spawned threads instead, so there is no deadlock.
#pragma once
#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <exception>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

namespace fastlm {

inline int resolve_threads(int requested, size_t items) {
  int n = requested > 0 ? requested : static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  if (static_cast<size_t>(n) > items) n = static_cast<int>(std::max<size_t>(1, items));
  return n;
}

// Runs job(w) for w in [1, n) on pool threads while the caller runs job(0); returns when all are done.
void run_on_workers(int n, const std::function<void(int)>& job);

// Calls f(worker_index, item_index) for every item in [0, n).
template <class F>
void parallel_for(size_t n, int num_threads, F&& f) {
  int t = resolve_threads(num_threads, n);
  if (t <= 1) {
    for (size_t i = 0; i < n; ++i) f(0, i);
    return;
  }
  std::atomic<size_t> next{0};
  std::exception_ptr err;
  std::mutex err_mu;
  std::atomic<bool> failed{false};
  size_t chunk = std::max<size_t>(1, std::min<size_t>(64, n / (size_t(t) * 16)));
  run_on_workers(t, [&](int w) {
    try {
      while (!failed.load(std::memory_order_relaxed)) {
        size_t b = next.fetch_add(chunk);
        if (b >= n) break;
        size_t e = std::min(n, b + chunk);
        for (size_t i = b; i < e; ++i) f(w, i);
      }
    } catch (...) {
      std::lock_guard<std::mutex> g(err_mu);
      if (!err) err = std::current_exception();
      failed = true;
    }
  });
  if (err) std::rethrow_exception(err);
}

}  // namespace fastlm
