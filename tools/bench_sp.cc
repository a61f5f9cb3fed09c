// Developer micro-benchmark: SentencePiece encode of text files line by line, single thread, no Python.
//   tools/bench_sp <file.model> [-n iterations] [-m encode|normalize] <text file>...
// encode: normalization + model + output rules (ids only), as Tokenizer.encode_batch does per line; normalize:
// the normalizer alone. Prints MB/s (best of the iterations) per file. For a warm-cache profile:
// callgrind --toggle-collect='run_*' -n 1.
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "core/normalize_sp.h"
#include "core/sentencepiece/model_proto.h"
#include "core/unigram/encoder.h"

namespace {
std::string slurp(const char* p) {
  std::ifstream f(p, std::ios::binary);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

std::vector<std::string_view> split_lines(const std::string& text) {
  std::vector<std::string_view> v;
  size_t b = 0;
  for (size_t i = 0; i <= text.size(); ++i)
    if (i == text.size() || text[i] == '\n') {
      v.emplace_back(text.data() + b, i - b);
      b = i + 1;
    }
  return v;
}
}  // namespace

// The measured calls, out of line so that profilers can scope to them.
__attribute__((noinline)) size_t run_encode(const fastlm::unigram::SpEncoder& enc,
                                            const std::vector<std::string_view>& lines) {
  fastlm::Encoding e;
  size_t n = 0;
  for (auto l : lines) {
    e.ids.clear();
    enc.encode(l, 0, false, e);
    n += e.ids.size();
  }
  return n;
}
__attribute__((noinline)) size_t run_normalize(const fastlm::SpNormalizer& norm,
                                               const std::vector<std::string_view>& lines) {
  fastlm::SpNormBuffer buf;
  size_t n = 0;
  for (auto l : lines) {
    norm.normalize(l, buf, false);
    n += buf.size;
  }
  return n;
}

int main(int argc, char** argv) {
  if (argc < 3) {
    std::fprintf(stderr, "usage: %s file.model [-n iters] [-m encode|normalize] text...\n", argv[0]);
    return 2;
  }
  int iters = 10;
  std::string mode = "encode";
  std::vector<const char*> files;
  for (int i = 2; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "-n" && i + 1 < argc) iters = std::atoi(argv[++i]);
    else if (a == "-m" && i + 1 < argc) mode = argv[++i];
    else files.push_back(argv[i]);
  }
  auto proto = fastlm::sp::parse_model_proto(slurp(argv[1]), argv[1]);
  auto enc = fastlm::unigram::SpEncoder::from_proto(proto);
  fastlm::SpNormalizerOptions no = enc->options().normalizer;
  no.user_defined = enc->table().user_defined();
  fastlm::SpNormalizer norm(no);
  std::string all;
  for (const char* path : files) all += slurp(path) + "\n";
  auto lines = split_lines(all);
  double best = 1e9;
  size_t count = 0;
  for (int i = 0; i < iters; ++i) {
    auto a = std::chrono::steady_clock::now();
    count = mode == "normalize" ? run_normalize(norm, lines) : run_encode(*enc, lines);
    auto b = std::chrono::steady_clock::now();
    best = std::min(best, std::chrono::duration<double>(b - a).count());
  }
  std::printf("%zu lines %zu bytes -> %zu %s  %.2f ms  %.2f MB/s\n", lines.size(), all.size(), count,
              mode == "normalize" ? "bytes" : "tokens", best * 1e3, all.size() / best / 1e6);
}
