// Developer micro-benchmark: encode a file with a .tiktoken model, single thread, no Python.
//   tools/bench_bpe <file.tiktoken> <r50k|cl100k|o200k> <text file> [iterations]
#include <chrono>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <memory>
#include <sstream>
#include <string>

#include "core/bpe/encoder.h"
#include "core/bpe/tiktoken_file.h"

static std::string slurp(const char* p) {
  std::ifstream f(p, std::ios::binary);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

int main(int argc, char** argv) {
  if (argc < 4) {
    std::fprintf(stderr, "usage: %s model.tiktoken r50k|cl100k|o200k text [iters]\n", argv[0]);
    return 2;
  }
  std::string kind = argv[2];
  fastlm::PretokKind k = kind == "r50k" ? fastlm::PretokKind::kR50K
                         : kind == "cl100k" ? fastlm::PretokKind::kCL100K
                                            : fastlm::PretokKind::kO200K;
  auto ranks = fastlm::bpe::parse_tiktoken(slurp(argv[1]), argv[1]);
  auto t0 = std::chrono::steady_clock::now();
  auto model = std::make_shared<fastlm::bpe::BpeModel>(std::move(ranks), nullptr, true);
  auto t1 = std::chrono::steady_clock::now();
  fastlm::bpe::BpeEncoder enc(model, k);
  std::string text = slurp(argv[3]);
  int iters = argc > 4 ? std::atoi(argv[4]) : 10;
  double best = 1e9;
  size_t ntok = 0;
  for (int i = 0; i < iters; ++i) {
    fastlm::Encoding e;
    auto a = std::chrono::steady_clock::now();
    enc.encode(text, 0, false, e);
    auto b = std::chrono::steady_clock::now();
    best = std::min(best, std::chrono::duration<double>(b - a).count());
    ntok = e.ids.size();
  }
  std::printf("load %.3f s; %zu bytes -> %zu tokens; best %.2f MB/s\n",
              std::chrono::duration<double>(t1 - t0).count(), text.size(), ntok, text.size() / best / 1e6);
}
