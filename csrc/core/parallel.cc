#include "core/parallel.h"

#include <unistd.h>

#include <memory>

namespace fastlm {

namespace {

class Pool {
 public:
  // Returns false if the pool is busy (the caller then spawns threads).
  bool try_run(int n, const std::function<void(int)>& job) {
    std::unique_lock<std::mutex> busy(run_mu_, std::try_to_lock);
    if (!busy.owns_lock()) return false;
    ensure(n - 1);
    {
      std::lock_guard<std::mutex> g(mu_);
      job_ = &job;
      active_ = n - 1;
      pending_ = n - 1;
      ++generation_;
    }
    cv_.notify_all();
    job(0);
    std::unique_lock<std::mutex> g(mu_);
    done_cv_.wait(g, [&] { return pending_ == 0; });
    job_ = nullptr;
    return true;
  }

 private:
  void ensure(int workers) {
    while (static_cast<int>(threads_.size()) < workers) {
      int index = static_cast<int>(threads_.size()) + 1;
      threads_.emplace_back([this, index] { loop(index); });
      threads_.back().detach();  // lives for the process; never joined at exit (no shutdown-order hazards)
    }
  }
  void loop(int index) {
    uint64_t seen = 0;
    for (;;) {
      const std::function<void(int)>* job;
      {
        std::unique_lock<std::mutex> g(mu_);
        cv_.wait(g, [&] { return generation_ != seen && index <= active_; });
        seen = generation_;
        job = job_;
      }
      (*job)(index);
      std::lock_guard<std::mutex> g(mu_);
      if (--pending_ == 0) done_cv_.notify_one();
    }
  }

  std::mutex run_mu_;
  std::mutex mu_;
  std::condition_variable cv_, done_cv_;
  std::vector<std::thread> threads_;
  const std::function<void(int)>* job_ = nullptr;
  int active_ = 0;
  int pending_ = 0;
  uint64_t generation_ = 0;
};

std::mutex g_pool_mu;
Pool* g_pool = nullptr;
pid_t g_pool_pid = 0;

Pool* pool() {
  std::lock_guard<std::mutex> g(g_pool_mu);
  pid_t pid = getpid();
  if (!g_pool || g_pool_pid != pid) {
    // After fork() the parent's workers do not exist here: start a new pool (the old object is leaked on purpose;
    // its mutexes may be in any state).
    g_pool = new Pool();
    g_pool_pid = pid;
  }
  return g_pool;
}

}  // namespace

void run_on_workers(int n, const std::function<void(int)>& job) {
  if (n <= 1) {
    job(0);
    return;
  }
  if (pool()->try_run(n, job)) return;
  std::vector<std::thread> th;
  th.reserve(size_t(n) - 1);
  for (int w = 1; w < n; ++w) th.emplace_back(job, w);
  job(0);
  for (auto& x : th) x.join();
}

}  // namespace fastlm
