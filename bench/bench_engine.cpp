// The N:M engine against LibTorch's dense forward of the same layer, timed alternately in
// one process (docs/benchmarks.md): ResNet-50's layer shapes, batch 1, 8 and 32, N:16 for
// N in {1, 2, 4, 8}. Counters: dense and N:M milliseconds, their ratio, the kernel's
// multiply-add rate and its fraction of the machine's peak FMA rate (measured here). Also
// the same layers with everything in cache (the kernel's own rate), LibTorch's sparse CSR
// product, whole networks, and the 1:16 inner loop alone against an alternative.
#include <ATen/Parallel.h>
#include <benchmark/benchmark.h>
#include <torch/torch.h>

#include <algorithm>
#include <chrono>
#include <vector>

#include <fmt/format.h>

#include "domino/engine/engine.h"
#include "domino/models/layer_table.h"
#include "domino/models/models.h"
#include "domino/nm/baselines.h"
#include "domino/nm/nm.h"
#include "domino/sparse/srste.h"
#include "engine/nhwc_kernel.h"
#include "io/files.h"

#if defined(__x86_64__)
#include <immintrin.h>
#endif

namespace domino {
namespace {

struct LayerShape {
  const char* name;
  int64_t cin, cout, k, stride, size;  // input size x size
};

// torchvision ResNet-50 at 224 x 224 (stride on the 3x3 conv, as torchvision v1.5).
const LayerShape kResNet50[] = {
    {"layer1.conv3 1x1 64-256 @56", 64, 256, 1, 1, 56},     {"layer1.conv2 3x3 64-64 @56", 64, 64, 3, 1, 56},
    {"layer2.0.conv2 3x3/2 128 @56", 128, 128, 3, 2, 56},   {"layer2.0.downsample 1x1/2 256-512 @56", 256, 512, 1, 2, 56},
    {"layer2.conv1 1x1 512-128 @28", 512, 128, 1, 1, 28},   {"layer3.conv2 3x3 256-256 @14", 256, 256, 3, 1, 14},
    {"layer3.conv1 1x1 1024-256 @14", 1024, 256, 1, 1, 14}, {"layer4.conv2 3x3 512-512 @7", 512, 512, 3, 1, 7},
    {"layer4.conv3 1x1 512-2048 @7", 512, 2048, 1, 1, 7},   {"layer4.conv1 1x1 2048-512 @7", 2048, 512, 1, 1, 7},
};

using Clock = std::chrono::steady_clock;

template <typename F>
double seconds(F&& f) {
  const auto start = Clock::now();
  f();
  return std::chrono::duration<double>(Clock::now() - start).count();
}

#if defined(__x86_64__)
// 16 independent AVX-512 accumulators, no memory: the FMA units' rate.
__attribute__((target("avx512f,fma"))) float fma_loop(int64_t iterations) {
  __m512 acc[16];
  for (int i = 0; i < 16; ++i) acc[i] = _mm512_set1_ps(static_cast<float>(i));
  const __m512 a = _mm512_set1_ps(0.999f), b = _mm512_set1_ps(0.001f);
  for (int64_t n = 0; n < iterations; ++n)
    for (int i = 0; i < 16; ++i) acc[i] = _mm512_fmadd_ps(acc[i], a, b);
  for (int i = 1; i < 16; ++i) acc[0] = _mm512_add_ps(acc[0], acc[i]);
  float lanes[16];
  _mm512_storeu_ps(lanes, acc[0]);
  return lanes[0];
}

// FMAs a second of one thread, measured with every LibTorch thread running fma_loop (so
// that the clocks are those of a loaded machine).
double peak_fma_avx512(int64_t iterations) {
  const auto elapsed = seconds([&] {
    at::parallel_for(0, at::get_num_threads(), 1, [&](int64_t begin, int64_t end) {
      for (int64_t t = begin; t < end; ++t) benchmark::DoNotOptimize(fma_loop(iterations));
    });
  });
  return static_cast<double>(iterations) * 16 * 16 / elapsed;
}
#endif

// The peak FMA rate (multiply-adds a second) of `threads` threads: 0 without AVX-512.
double peak_fma_rate(int threads) {
  static const double per_thread = [] {
#if defined(__x86_64__)
    if (engine::detected_isa() == engine::Isa::Avx512) {
      peak_fma_avx512(1 << 20);  // warm up the clocks
      return peak_fma_avx512(1 << 24);
    }
#endif
    return 0.0;
  }();
  return per_thread * threads;
}

// Bytes a second that every LibTorch thread together reads and writes when copying buffers far
// larger than the caches (128 MiB each): what a layer whose input and output live in memory
// (batch 32) can move at best. A plain loop: the copy's speed, not the instructions', bounds it.
double memory_rate() {
  static const double rate = [] {
    constexpr int64_t kFloats = int64_t{32} << 20;
    std::vector<float> from(kFloats, 1.f), to(kFloats, 0.f);
    const auto copy = [&] {
      at::parallel_for(0, kFloats, kFloats / at::get_num_threads(), [&](int64_t begin, int64_t end) {
        std::copy(from.begin() + begin, from.begin() + end, to.begin() + begin);
      });
    };
    copy();  // the pages, touched once
    double best = 1e9;
    for (int i = 0; i < 3; ++i) best = std::min(best, seconds(copy));
    return 2.0 * kFloats * sizeof(float) / best;
  }();
  return rate;
}

// The layer's weights with N of every 16 kept along input channels (seeded: the same layer in
// every benchmark), and the engine's form of them with a random bias.
at::Tensor nm_weight(const LayerShape& layer, int64_t N) {
  torch::manual_seed(0);
  auto w = torch::randn({layer.cout, layer.cin, layer.k, layer.k});
  return w * nm_mask(w, N, 16, Layout::NHWC);
}
engine::NmConv2d nm_conv(const LayerShape& layer, const at::Tensor& w, int64_t N) {
  return engine::NmConv2d(compress_nm_checked("layer", w, N, 16, Layout::NHWC), torch::randn({layer.cout}),
                          {layer.stride, layer.k / 2, 1});
}

// The engine's input in the memory format its kernel reads, as the layer before it in a
// model hands it over (channels-last from the channels-last kernel; NCHW otherwise).
at::Tensor engine_input(const at::Tensor& x) {
  return engine::channels_last_kernel() ? x.contiguous(at::MemoryFormat::ChannelsLast) : x;
}

// Args: layer, batch, N (M = 16); the iteration time is the engine's.
void BM_NmConvVsDense(benchmark::State& state) {
  at::set_num_threads(2);
  peak_fma_rate(2);  // measured once, before any timing (it also starts the threads)
  memory_rate();
  const auto& layer = kResNet50[state.range(0)];
  const int64_t batch = state.range(1), N = state.range(2), M = 16;
  state.SetLabel(fmt::format("{} b{} {}:{}", layer.name, batch, N, M));
  const auto w = nm_weight(layer, N);
  const int64_t pad = layer.k / 2;
  const auto conv = nm_conv(layer, w, N);
  const auto bias = torch::randn({layer.cout});
  const auto x = torch::randn({batch, layer.cin, layer.size, layer.size});
  const auto x_engine = engine_input(x);
  torch::NoGradGuard no_grad;
  // One untimed call each: the first fills caches, the engine's offsets and scratch.
  torch::conv2d(x, w, bias, layer.stride, pad);
  conv.forward(x_engine);
  double dense = 0, sparse = 0;
  int64_t outputs = 0;
  for (auto _ : state) {
    dense += seconds([&] { benchmark::DoNotOptimize(torch::conv2d(x, w, bias, layer.stride, pad).data_ptr()); });
    at::Tensor y;
    const double t = seconds([&] { y = conv.forward(x_engine); });
    sparse += t;
    outputs = y.size(2) * y.size(3) * batch;
    state.SetIterationTime(t);
  }
  const double n = static_cast<double>(state.iterations());
  const double macs = static_cast<double>(conv.macs_per_output_pixel() * outputs);
  state.counters["dense_ms"] = dense / n * 1e3;
  state.counters["nm_ms"] = sparse / n * 1e3;
  state.counters["speedup"] = dense / sparse;
  state.counters["target"] = N <= 4 ? 0.6 * M / N : 1.0;
  state.counters["GMAC/s"] = macs / (sparse / n) / 1e9;
  if (peak_fma_rate(2) > 0) state.counters["peak_frac"] = macs / (sparse / n) / peak_fma_rate(2);
  // The least time the layer's input and output take to pass through memory once (fp32), if
  // they lived there: at batch 32 the larger ones do (6-128 MB a layer; L3 holds 32 MB here).
  const double bytes = static_cast<double>(x.numel() / (layer.stride * layer.stride) + outputs * layer.cout) * 4;
  state.counters["memory_ms"] = bytes / memory_rate() * 1e3;
}
BENCHMARK(BM_NmConvVsDense)
    ->ArgNames({"layer", "batch", "N"})
    ->ArgsProduct({benchmark::CreateDenseRange(0, 9, 1), {1, 8, 32}, {1, 2, 4, 8}})
    ->UseManualTime()
    ->Unit(benchmark::kMillisecond)
    ->MinTime(0.3);

// The kernel's own rate: batch 1, the same layer called again and again, so its input,
// weights and output stay in the caches (in a network, and in BM_NmConvVsDense, the layers
// before it have moved them out). Args: layer, N (M = 16), threads.
void BM_NmConvWarm(benchmark::State& state) {
  at::set_num_threads(2);
  peak_fma_rate(2);  // measured as in BM_NmConvVsDense: two threads loaded
  const auto& layer = kResNet50[state.range(0)];
  const int64_t N = state.range(1), M = 16;
  const int threads = static_cast<int>(state.range(2));
  at::set_num_threads(threads);
  state.SetLabel(fmt::format("{} b1 {}:{} warm", layer.name, N, M));
  const auto conv = nm_conv(layer, nm_weight(layer, N), N);
  const auto x = engine_input(torch::randn({1, layer.cin, layer.size, layer.size}));
  torch::NoGradGuard no_grad;
  const int64_t side = conv.forward(x).size(2);
  for (auto _ : state) benchmark::DoNotOptimize(conv.forward(x).data_ptr());
  const double macs = static_cast<double>(conv.macs_per_output_pixel() * side * side) * static_cast<double>(state.iterations());
  state.counters["GMAC/s"] = benchmark::Counter(macs / 1e9, benchmark::Counter::kIsRate);
  if (peak_fma_rate(threads) > 0)
    state.counters["peak_frac"] = benchmark::Counter(macs / peak_fma_rate(threads), benchmark::Counter::kIsRate);
  at::set_num_threads(2);
}
BENCHMARK(BM_NmConvWarm)
    ->ArgNames({"layer", "N", "threads"})
    ->ArgsProduct({benchmark::CreateDenseRange(0, 9, 1), {1, 2, 3, 4}, {1, 2}})
    ->UseRealTime()
    ->Unit(benchmark::kMicrosecond)
    ->MinTime(0.2);

#if defined(__x86_64__)
// The two ways a 1:16 kernel can feed the FMA units, everything in the L1 cache, one thread
// (docs/benchmarks.md, 2026-12-08): what bounds the 1:16 cells where memory does not.
// Both run 32 chunks (512 input channels) a tile and 24 FMAs a chunk.
constexpr int kChunks = 32;

// The engine's loop (nhwc_avx512.cpp): lanes are output channels; per chunk four blocks'
// weights, then per pixel one load feeding four permutes and FMAs. Tiles of 6 pixels.
__attribute__((target("avx512f,fma"))) void permute_tiles(const float* x, const float* w, float* y, int64_t tiles) {
  for (int64_t t = 0; t < tiles; ++t) {
    __m512 acc[4][6];
    for (auto& block : acc)
      for (auto& a : block) a = _mm512_setzero_ps();
    for (int c = 0; c < kChunks; ++c) {
      __m512 weight[4];
      for (int b = 0; b < 4; ++b) weight[b] = _mm512_load_ps(w + (c * 4 + b) * 16);
#pragma GCC unroll 6
      for (int p = 0; p < 6; ++p) {
        __m512 in = _mm512_load_ps(x + (p * kChunks + c) * 16);
        __asm__("" : "+v"(in));  // one load a pixel, as the engine forces
#pragma GCC unroll 4
        for (int b = 0; b < 4; ++b) {
          const __m512 picked = _mm512_maskz_permutexvar_ps(0xFFFF, _mm512_castps_si512(weight[b]), in);
          acc[b][p] = _mm512_fmadd_ps(weight[b], picked, acc[b][p]);
        }
      }
    }
    for (int b = 0; b < 4; ++b)
      for (int p = 0; p < 6; ++p) _mm512_storeu_ps(y + (b * 6 + p) * 16, acc[b][p]);
  }
}

// The alternative: lanes are 16 pixels (the input transposed to channel rows), per output
// channel and chunk its one weight broadcast and the row of its kept channel loaded by
// offset; 8 outputs x 3 vectors of pixels a tile (the best of 24 x 1, 12 x 2, 8 x 3, 6 x 4).
__attribute__((target("avx512f,fma"))) void broadcast_tiles(const float* rows, const float* w, const int32_t* offset,
                                                            float* y, int64_t tiles) {
  for (int64_t t = 0; t < tiles; ++t) {
    __m512 acc[8][3];
    for (auto& output : acc)
      for (auto& a : output) a = _mm512_setzero_ps();
    for (int c = 0; c < kChunks; ++c) {
#pragma GCC unroll 8
      for (int o = 0; o < 8; ++o) {
        const __m512 weight = _mm512_set1_ps(w[o * kChunks + c]);
        const float* row = rows + offset[o * kChunks + c];
#pragma GCC unroll 3
        for (int v = 0; v < 3; ++v) acc[o][v] = _mm512_fmadd_ps(weight, _mm512_load_ps(row + v * 16), acc[o][v]);
      }
    }
    for (int o = 0; o < 8; ++o)
      for (int v = 0; v < 3; ++v) _mm512_storeu_ps(y + (o * 3 + v) * 16, acc[o][v]);
  }
}

// Arg: 0 the engine's permute loop, 1 the broadcast loop. Counter of_peak: zmm FMAs a second
// over fma_loop's on one thread.
void BM_OneSixteenInnerLoop(benchmark::State& state) {
  if (engine::detected_isa() != engine::Isa::Avx512) {
    state.SkipWithError("needs AVX-512");
    return;
  }
  at::set_num_threads(1);
  const double peak = peak_fma_avx512(1 << 24) / 16;  // zmm FMAs a second
  const bool permute = state.range(0) == 0;
  state.SetLabel(permute ? "permute (the engine's)" : "broadcast");
  // LibTorch's CPU allocator aligns to 64 bytes (as the engine's packed weights rely on): the
  // loops' aligned loads are safe.
  const auto x_storage = torch::ones({6 * kChunks * 16}), rows_storage = torch::ones({kChunks * 16 * 48});
  const auto w_storage = torch::empty({kChunks * 4 * 16}), y_storage = torch::zeros({24 * 16});
  const float *x = x_storage.data_ptr<float>(), *rows = rows_storage.data_ptr<float>();
  float *w = w_storage.data_ptr<float>(), *y = y_storage.data_ptr<float>();
  std::vector<int32_t> offset(static_cast<size_t>(8 * kChunks));
  for (int64_t i = 0; i < w_storage.numel(); ++i) w[i] = engine::nhwc_weight(0.5f, static_cast<int>(i * 7 % 16));  // lanes as the engine stores them
  for (size_t i = 0; i < offset.size(); ++i) offset[i] = static_cast<int32_t>((i % kChunks * 16 + i * 5 % 16) * 48);
  constexpr int64_t kTiles = 1000;
  for (auto _ : state) {
    if (permute) permute_tiles(x, w, y, kTiles);
    else broadcast_tiles(rows, w, offset.data(), y, kTiles);
    benchmark::DoNotOptimize(y);
  }
  const double fmas = static_cast<double>(state.iterations()) * kTiles * kChunks * 24;
  state.counters["of_peak"] = benchmark::Counter(fmas / peak, benchmark::Counter::kIsRate);
  at::set_num_threads(2);
}
BENCHMARK(BM_OneSixteenInnerLoop)->ArgName("broadcast")->DenseRange(0, 1)->UseRealTime()->Unit(benchmark::kMicrosecond);
#endif

// What a user might try instead: LibTorch's sparse CSR matmul on the im2col'd input (batch 1).
// Args: layer, N (M = 16).
void BM_CsrConvVsDense(benchmark::State& state) {
  at::set_num_threads(2);
  const auto& layer = kResNet50[state.range(0)];
  const int64_t N = state.range(1), M = 16, pad = layer.k / 2;
  state.SetLabel(fmt::format("{} b1 {}:{}", layer.name, N, M));
  const auto w = nm_weight(layer, N);
  const auto csr = w.view({layer.cout, -1}).to_sparse_csr();
  const auto x = torch::randn({1, layer.cin, layer.size, layer.size});
  torch::NoGradGuard no_grad;
  torch::conv2d(x, w, {}, layer.stride, pad);
  double dense = 0, sparse = 0;
  for (auto _ : state) {
    dense += seconds([&] { benchmark::DoNotOptimize(torch::conv2d(x, w, {}, layer.stride, pad).data_ptr()); });
    const double t = seconds([&] {
      const auto cols = torch::im2col(x, {layer.k, layer.k}, {1, 1}, {pad, pad}, {layer.stride, layer.stride});
      benchmark::DoNotOptimize(csr.matmul(cols[0]).data_ptr());
    });
    sparse += t;
    state.SetIterationTime(t);
  }
  state.counters["dense_ms"] = dense / static_cast<double>(state.iterations()) * 1e3;
  state.counters["csr_ms"] = sparse / static_cast<double>(state.iterations()) * 1e3;
  state.counters["speedup"] = dense / sparse;
}
BENCHMARK(BM_CsrConvVsDense)
    ->ArgNames({"layer", "N"})
    ->ArgsProduct({benchmark::CreateDenseRange(0, 9, 1), {2, 4}})
    ->UseManualTime()
    ->Unit(benchmark::kMillisecond)
    ->MinTime(0.3);

// Whole networks at batch 1 on 2 threads: LibTorch's forward of the masked model (BatchNorm
// as its own op, as a user runs it today) against the same model switched to the engine.
struct EndToEnd {
  const char* label;
  const char* model;
  ImageShape input;
  int64_t classes;
  int64_t uniform_n;  // N of 16 for every layer; 0: the authors' published ResNet-50 scheme
};
const EndToEnd kEndToEnd[] = {
    {"resnet50 authors' 80% scheme 224x224", "resnet50", {3, 224, 224}, 1000, 0},
    {"resnet18 uniform 2:16 (87.5%) 224x224", "resnet18", {3, 224, 224}, 1000, 2},
    {"resnet56 uniform 2:16 (87.5%) 32x32", "resnet56", {3, 32, 32}, 10, 2},
};

// Args: network, batch, the engine's max density in percent (engine::use_engine).
void BM_NmModelVsDense(benchmark::State& state) {
  at::set_num_threads(2);
  const auto& e = kEndToEnd[state.range(0)];
  const int64_t batch = state.range(1);
  state.SetLabel(fmt::format("{} b{}", e.label, batch));
  auto make = [&] {
    torch::manual_seed(0);
    auto model = make_model(e.model, {e.input.channels, e.classes});
    model->eval();
    return model;
  };
  auto dense = make(), sparse = make();
  const auto table = build_layer_table(*dense, e.input);
  const auto scheme = e.uniform_n > 0 ? uniform_scheme(dense_scheme(table, 16, Layout::NHWC), e.uniform_n)
                                      : parse_authors_scheme(read_text_file(DOMINO_SOURCE_DIR "/configs/schemes/resnet50_M16_0.80.txt", "scheme"),
                                                             table, "resnet50_M16_0.80.txt");
  hard_prune(*dense, scheme);
  hard_prune(*sparse, scheme);
  const auto layers = engine::use_engine(*sparse, scheme, static_cast<double>(state.range(2)) / 100);
  const auto x = torch::randn({batch, e.input.channels, e.input.height, e.input.width});
  torch::NoGradGuard no_grad;
  dense->forward(x);
  sparse->forward(x);
  double dense_s = 0, sparse_s = 0;
  for (auto _ : state) {
    dense_s += seconds([&] { benchmark::DoNotOptimize(dense->forward(x).data_ptr()); });
    const double t = seconds([&] { benchmark::DoNotOptimize(sparse->forward(x).data_ptr()); });
    sparse_s += t;
    state.SetIterationTime(t);
  }
  const double n = static_cast<double>(state.iterations());
  state.counters["dense_ms"] = dense_s / n * 1e3;
  state.counters["nm_ms"] = sparse_s / n * 1e3;
  state.counters["speedup"] = dense_s / sparse_s;
  state.counters["images/s"] = static_cast<double>(batch) * n / sparse_s;
  state.counters["engine_layers"] = static_cast<double>(layers.engine.size());
}
BENCHMARK(BM_NmModelVsDense)
    ->ArgNames({"net", "batch", "density%"})
    ->ArgsProduct({{0, 1, 2}, {1, 32}, {25, 50}})
    ->UseManualTime()
    ->Unit(benchmark::kMillisecond)
    ->MinTime(2.0);

}  // namespace
}  // namespace domino
