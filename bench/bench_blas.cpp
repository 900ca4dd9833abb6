// The BLAS behind LibTorch, and how its threads meet LibTorch's (src/core/runtime.cpp).
// Run under each OpenBLAS build, e.g.
//   LD_LIBRARY_PATH=/usr/lib/x86_64-linux-gnu/openblas-openmp build/bench/domino_bench --benchmark_filter=Blas
// (docs/benchmarks.md). The label names the BLAS and its threading.
#include <benchmark/benchmark.h>
#include <torch/torch.h>

#include "domino/core/runtime.h"

namespace {

using namespace domino;

// LibTorch's threads at 2, and OpenBLAS's own pool, where it has one (the pthreads build),
// at `n` (set_threads() cuts it to 1; 2 is how it starts on this machine); the label says
// which BLAS ran.
void set_threads_and_openblas_pool(benchmark::State& state, int64_t n) {
  set_threads(2);
  set_blas_pool_threads(static_cast<int>(n));
  state.SetLabel(blas_threading());
}

// A large GEMM: whether the BLAS still uses every thread. Arg: OpenBLAS's own pool threads.
void BM_BlasMatmul(benchmark::State& state) {
  set_threads_and_openblas_pool(state, state.range(0));
  const auto a = torch::randn({2048, 2048}), b = torch::randn({2048, 2048});
  for (auto _ : state) benchmark::DoNotOptimize(torch::mm(a, b).data_ptr());
  state.counters["GFLOP/s"] = benchmark::Counter(2.0 * 2048 * 2048 * 2048 * static_cast<double>(state.iterations()),
                                                 benchmark::Counter::kIsRate, benchmark::Counter::kIs1000);
  set_threads(2);  // the pool cut again, as the other benchmarks expect
}
BENCHMARK(BM_BlasMatmul)->ArgName("openblas_threads")->Arg(1)->Arg(2)->Unit(benchmark::kMillisecond)->UseRealTime()->MinTime(2.0);

// What a CIFAR network's batch-1 forward does: a small convolution that LibTorch hands to
// BLAS (below oneDNN's size threshold: its stem), then LibTorch's own OpenMP work (here 16
// ReLUs over 1 MiB, as the layers after it). A BLAS pool that spins on the same cores slows
// the second part.
void BM_BlasThenOpenMp(benchmark::State& state) {
  set_threads_and_openblas_pool(state, state.range(0));
  torch::NoGradGuard no_grad;
  const auto x = torch::randn({1, 3, 32, 32}), w = torch::randn({64, 3, 3, 3});
  auto y = torch::randn({64, 64, 64});
  for (auto _ : state) {
    benchmark::DoNotOptimize(torch::conv2d(x, w, {}, 1, 1).data_ptr());
    for (int i = 0; i < 16; ++i) y.relu_();
  }
  set_threads(2);
}
BENCHMARK(BM_BlasThenOpenMp)->ArgName("openblas_threads")->Arg(1)->Arg(2)->Unit(benchmark::kMicrosecond)->UseRealTime()->MinTime(2.0);

}  // namespace
