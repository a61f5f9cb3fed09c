// Developer micro-benchmark: encode files with a .tiktoken model, single thread, no Python.
//   tools/bench_bpe <file.tiktoken> <r50k|cl100k|o200k> [-n iterations] [-w warmups] [-m encode|pretok] <text file>...
// encode: the full encoder (pre-tokenizer + model); pretok: the pre-tokenizer alone (pieces counted).
// Prints MB/s (best of the iterations) per file. For a warm-cache profile: callgrind --toggle-collect='run_*'
// with -w 1 -n 1.
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "core/bpe/encoder.h"
#include "core/bpe/tiktoken_file.h"

// The measured calls, out of line so that profilers can scope to them (callgrind --toggle-collect=run_*).
__attribute__((noinline)) size_t run_encode(const fastlm::bpe::BpeEncoder& enc, const std::string& text) {
  fastlm::Encoding e;
  enc.encode(text, 0, false, e);
  return e.ids.size();
}
__attribute__((noinline)) size_t run_pretok(fastlm::PretokKind k, const std::string& text) {
  size_t pieces = 0;
  fastlm::pretokenize(k, text, [&](size_t, size_t) { ++pieces; });
  return pieces;
}

static std::string slurp(const char* p) {
  std::ifstream f(p, std::ios::binary);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

int main(int argc, char** argv) {
  if (argc < 4) {
    std::fprintf(stderr, "usage: %s model.tiktoken r50k|cl100k|o200k [-n iters] [-m encode|pretok] text...\n", argv[0]);
    return 2;
  }
  std::string kind = argv[2];
  fastlm::PretokKind k = kind == "r50k" ? fastlm::PretokKind::kR50K
                         : kind == "cl100k" ? fastlm::PretokKind::kCL100K
                                            : fastlm::PretokKind::kO200K;
  int iters = 10, warm = 0;
  std::string mode = "encode";
  std::vector<const char*> files;
  for (int i = 3; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "-n" && i + 1 < argc) iters = std::atoi(argv[++i]);
    else if (a == "-w" && i + 1 < argc) warm = std::atoi(argv[++i]);
    else if (a == "-m" && i + 1 < argc) mode = argv[++i];
    else files.push_back(argv[i]);
  }
  auto ranks = fastlm::bpe::parse_tiktoken(slurp(argv[1]), argv[1]);
  auto t0 = std::chrono::steady_clock::now();
  auto model = std::make_shared<fastlm::bpe::BpeModel>(std::move(ranks), nullptr, true);
  auto t1 = std::chrono::steady_clock::now();
  std::printf("load %.3f s\n", std::chrono::duration<double>(t1 - t0).count());
  fastlm::bpe::BpeEncoder enc(model, k);
  for (const char* path : files) {
    std::string text = slurp(path);
    double best = 1e9;
    size_t count = 0;
    for (int i = 0; i < warm; ++i) {  // not inside run_*: excluded from scoped profiles (warm caches)
      fastlm::Encoding e;
      enc.encode(text, 0, false, e);
    }
    for (int i = 0; i < iters; ++i) {
      auto a = std::chrono::steady_clock::now();
      count = mode == "pretok" ? run_pretok(k, text) : run_encode(enc, text);
      auto b = std::chrono::steady_clock::now();
      best = std::min(best, std::chrono::duration<double>(b - a).count());
    }
    std::printf("%-40s %9zu bytes -> %8zu %s  %7.2f MB/s\n", path, text.size(), count,
                mode == "pretok" ? "pieces" : "tokens", text.size() / best / 1e6);
  }
}
