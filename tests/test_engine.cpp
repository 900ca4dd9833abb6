// The N:M inference engine (docs/engine.md): every kernel path against LibTorch's forward of
// the same masked layer, and the refusals.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <cmath>
#include <cstring>
#include <limits>
#include <map>
#include <string>

#include "domino/core/runtime.h"
#include "domino/engine/engine.h"
#include "domino/engine/infer_bench.h"
#include "domino/models/layer_table.h"
#include "domino/models/models.h"
#include "domino/models/prunable.h"
#include "domino/nm/baselines.h"
#include "domino/nm/nm.h"
#include "domino/sparse/srste.h"
#include "engine/nhwc_kernel.h"
#include "test_paths.h"
#include "test_util.h"

namespace domino {
namespace {

using engine::Isa;
using test::expect_error_containing;

// Float sums in another order: the engine may differ from LibTorch by rounding only.
constexpr double kRtol = 1e-4, kAtol = 1e-4;

// Every instruction set this CPU runs, each made the active one in turn.
std::vector<Isa> runnable_isas() {
  std::vector<Isa> out;
  for (const auto isa : {Isa::Portable, Isa::Avx2, Isa::Avx512})
    if (isa <= engine::detected_isa()) out.push_back(isa);
  return out;
}

struct IsaGuard {
  ~IsaGuard() { engine::limit_isa(Isa::Avx512); }
};

// A random weight of `shape` made N:M, scaled so that outputs are of order one.
torch::Tensor nm_weight(at::IntArrayRef shape, int64_t N, int64_t M, Layout layout) {
  const auto fan_in = torch::tensor(shape).slice(0, 1).prod().item<int64_t>();
  auto w = torch::randn(shape) / std::sqrt(static_cast<double>(fan_in * N) / M);
  return w * nm_mask(w, N, M, layout);
}

struct ConvCase {
  int64_t cin, cout, k, stride, pad, groups, h, w, batch;
};

void check_conv(const ConvCase& c, int64_t N, int64_t M, Layout layout, bool relu) {
  SCOPED_TRACE(fmt::format("conv {}->{} k{} s{} p{} g{} {}x{} b{} {}:{} {} relu={} isa={}", c.cin, c.cout, c.k, c.stride,
                           c.pad, c.groups, c.h, c.w, c.batch, N, M, to_string(layout), relu,
                           to_string(engine::active_isa())));
  const auto w = nm_weight({c.cout, c.cin / c.groups, c.k, c.k}, N, M, layout);
  const auto bias = torch::randn({c.cout});
  const auto x = torch::randn({c.batch, c.cin, c.h, c.w});
  const engine::NmConv2d conv(compress_nm_checked("conv", w, N, M, layout), bias, {c.stride, c.pad, c.groups});
  auto expect = torch::conv2d(x, w, bias, c.stride, c.pad, 1, c.groups);
  if (relu) expect = expect.relu();
  const auto got = conv.forward(x, relu);
  ASSERT_EQ(got.sizes(), expect.sizes());
  EXPECT_TRUE(torch::allclose(got, expect, kRtol, kAtol)) << (got - expect).abs().max().item<float>();
}

// The shapes of the zoo's layers: 1x1, 3x3 and the 7x7 stem, strides 1 and 2, padding,
// odd and non-square sizes, grouped convolutions (RegNet), batch 1 and more.
const std::vector<ConvCase> kConvCases = {
    {32, 24, 1, 1, 0, 1, 7, 7, 1},   {32, 24, 1, 2, 0, 1, 9, 9, 2},    {32, 40, 3, 1, 1, 1, 13, 11, 1},
    {32, 16, 3, 2, 1, 1, 10, 15, 3}, {16, 8, 7, 2, 3, 1, 19, 21, 1},   {64, 32, 3, 1, 1, 4, 6, 5, 2},
    {64, 32, 3, 2, 1, 2, 8, 7, 1},   {32, 17, 3, 1, 0, 1, 5, 9, 2},    {32, 8, 1, 1, 0, 1, 1, 1, 4},
};

TEST(NmEngine, ConvolutionsMatchLibTorchForEveryNMAndPath) {
  IsaGuard guard;
  torch::manual_seed(0);
  for (const auto isa : runnable_isas()) {
    engine::limit_isa(isa);
    ASSERT_EQ(engine::active_isa(), isa);
    for (const int64_t M : {4, 8, 16, 32})
      for (const int64_t N : {1, 2, 3, 4, 8, 16}) {
        if (N > M) continue;
        for (const auto& c : kConvCases)
          if ((c.cin / c.groups) % M == 0)  // rows split into groups of M in either layout
            check_conv(c, N, M, N % 2 == 0 ? Layout::NHWC : Layout::NCHW, N == 2);
      }
  }
}

struct ChannelsLastGuard {
  ~ChannelsLastGuard() { engine::use_channels_last_kernel(true); }
};

// The channels-last kernel (AVX-512, groups along input channels, M <= 16, channels in
// blocks of 16): every N, the tile remainders (rows of 1-15 pixels), bands of a large
// image, strides, groups, channels-last and NCHW inputs; its outputs are channels-last,
// the row kernel's NCHW, and both equal LibTorch's. It reads the input unpadded and skips
// the taps on the padding, so the padding cases: borders on every side, padding wider than
// half the kernel (pixels whose whole window is padding: bias alone), an image smaller than
// the kernel (no interior pixel), stride 3, and wide images whose interior rows run as one
// flat run (56 x 56 and 9 x 33 with a 5x5 kernel); small images at batches of 5-18, whose
// tiles run across images. Each case also with a residual added before the ReLU (the fused
// epilogue), in both kernels.
TEST(NmEngine, ChannelsLastKernelMatchesLibTorch) {
  if (engine::detected_isa() < Isa::Avx512) GTEST_SKIP() << "the channels-last kernel needs AVX-512";
  ChannelsLastGuard guard;
  torch::manual_seed(5);
  const std::vector<ConvCase> cases = {
      {32, 16, 1, 1, 0, 1, 7, 7, 1},   {64, 32, 1, 1, 0, 1, 3, 5, 3},  {32, 48, 1, 2, 0, 1, 13, 9, 2},
      {16, 16, 3, 1, 1, 1, 11, 13, 1}, {32, 32, 3, 2, 1, 1, 10, 15, 2}, {16, 32, 5, 2, 2, 1, 17, 19, 1},
      {64, 32, 3, 1, 1, 2, 6, 5, 2},   {48, 64, 3, 1, 1, 1, 56, 56, 1}, {16, 16, 3, 1, 0, 1, 3, 3, 1},
      {16, 16, 1, 1, 1, 1, 5, 4, 1},   {16, 32, 3, 1, 2, 1, 6, 7, 2},  {16, 16, 5, 1, 2, 1, 3, 2, 1},
      {16, 16, 7, 2, 3, 1, 12, 9, 1},  {16, 16, 3, 3, 1, 1, 10, 11, 1}, {16, 16, 5, 1, 2, 1, 9, 33, 2},
      // Several blocks a work item, cut into runs (fours at k = 1, pairs, one left over; per
      // group): 3 blocks a group, 5, and 7 (4 + 2 + 1).
      {64, 96, 1, 1, 0, 2, 5, 5, 1},   {32, 80, 3, 1, 1, 1, 9, 9, 1},  {32, 112, 1, 1, 0, 1, 6, 7, 2},
      // Tiles across images (outputs of at most 8 x 8, k >= 2, a batch of at least a tile,
      // or half a tile for k >= 3): a last group of fewer images, stride 2, groups, an image
      // smaller than the kernel, a batch smaller than a tile (8: across at k >= 3, per image
      // at k = 2; 5: only where a tile is 8 pixels, k > 8).
      {32, 48, 3, 1, 1, 1, 7, 7, 17},  {32, 16, 3, 2, 1, 1, 13, 11, 18}, {64, 32, 3, 1, 1, 2, 6, 5, 16},
      {16, 32, 5, 1, 2, 1, 3, 4, 16},  {32, 32, 3, 1, 1, 1, 7, 7, 8},    {16, 16, 3, 1, 1, 1, 5, 6, 5},
      // A 1x1 read as one row, in bands of unequal size (725 pixels: 241, 242, 242).
      {256, 16, 1, 1, 0, 1, 25, 29, 1},
  };
  for (const int64_t M : {4, 8, 16})
    for (const int64_t N : {1, 2, 3, 4, 5, 8, 16}) {
      if (N > M) continue;
      for (const auto& c : cases) {
        if (N == 5 && c.h > 20) continue;  // the big image once per N that matters
        SCOPED_TRACE(fmt::format("conv {}->{} k{} s{} p{} g{} {}x{} b{} {}:{}", c.cin, c.cout, c.k, c.stride, c.pad,
                                 c.groups, c.h, c.w, c.batch, N, M));
        const auto w = nm_weight({c.cout, c.cin / c.groups, c.k, c.k}, N, M, Layout::NHWC);
        const auto bias = torch::randn({c.cout});
        const auto x = torch::randn({c.batch, c.cin, c.h, c.w});
        const engine::NmConv2d conv(compress_nm_checked("conv", w, N, M, Layout::NHWC), bias, {c.stride, c.pad, c.groups});
        const bool relu = N % 2 == 1;
        const auto conv_out = torch::conv2d(x, w, bias, c.stride, c.pad, 1, c.groups);
        const auto shortcut = torch::randn_like(conv_out).contiguous(at::MemoryFormat::ChannelsLast);
        const auto expect = relu ? conv_out.relu() : conv_out;
        const auto expect_added = relu ? (conv_out + shortcut).relu() : conv_out + shortcut;
        const auto x_last = x.contiguous(at::MemoryFormat::ChannelsLast);
        engine::use_channels_last_kernel(true);
        for (const auto& input : {x, x_last}) {
          const auto got = conv.forward(input, relu);
          ASSERT_EQ(got.sizes(), expect.sizes());
          EXPECT_TRUE(got.is_contiguous(at::MemoryFormat::ChannelsLast));
          EXPECT_TRUE(torch::allclose(got, expect, kRtol, kAtol)) << (got - expect).abs().max().item<float>();
        }
        const auto added = conv.forward(x_last, relu, shortcut);
        EXPECT_TRUE(torch::allclose(added, expect_added, kRtol, kAtol)) << (added - expect_added).abs().max().item<float>();
        engine::use_channels_last_kernel(false);
        const auto rows = conv.forward(x_last, relu);
        EXPECT_TRUE(rows.is_contiguous());
        EXPECT_TRUE(torch::allclose(rows, expect, kRtol, kAtol));
        EXPECT_TRUE(torch::allclose(conv.forward(x_last, relu, shortcut), expect_added, kRtol, kAtol));
      }
    }
}

// Inputs larger than the threads' L2 caches run with each tile prefetching the next tile's
// input (NhwcConvTask::prefetch): the same outputs, on every run of blocks (7 blocks: fours,
// a pair and one at k = 1; pairs and one at k = 2; single ones above).
TEST(NmEngine, ChannelsLastKernelPrefetchingGivesTheSameOutputs) {
  if (engine::detected_isa() < Isa::Avx512) GTEST_SKIP() << "the channels-last kernel needs AVX-512";
  ChannelsLastGuard guard;
  engine::use_channels_last_kernel(true);
  torch::manual_seed(6);
  const int64_t cin = 64, h = 30, w = 31, image_bytes = cin * h * w * static_cast<int64_t>(sizeof(float));
  const int64_t batch = at::get_num_threads() * engine::l2_cache_bytes() / image_bytes + 1;
  ASSERT_TRUE(engine::nhwc_prefetches(batch * image_bytes, at::get_num_threads()));
  ASSERT_FALSE(engine::nhwc_prefetches(image_bytes, at::get_num_threads()));  // the rule is not always on
  const auto x = torch::randn({batch, cin, h, w}).contiguous(at::MemoryFormat::ChannelsLast);
  for (const auto& c : std::vector<ConvCase>{{cin, 112, 1, 1, 0, 1, h, w, batch}, {cin, 48, 3, 2, 1, 1, h, w, batch},
                                             {cin, 32, 3, 1, 1, 1, h, w, batch}})
    for (const int64_t N : {1, 2, 4, 8}) {
      SCOPED_TRACE(fmt::format("conv {}->{} k{} s{} b{} {}:16", c.cin, c.cout, c.k, c.stride, c.batch, N));
      const auto weight = nm_weight({c.cout, c.cin, c.k, c.k}, N, 16, Layout::NHWC);
      const auto bias = torch::randn({c.cout});
      const engine::NmConv2d conv(compress_nm_checked("conv", weight, N, 16, Layout::NHWC), bias, {c.stride, c.pad, 1});
      const auto got = conv.forward(x, /*relu=*/false);
      const auto expect = torch::conv2d(x, weight, bias, c.stride, c.pad);
      EXPECT_TRUE(torch::allclose(got, expect, kRtol, kAtol)) << (got - expect).abs().max().item<float>();
    }
}

// The work split over two threads: a layer with few work items gets bands enough more that
// the threads share them evenly (a 1x1 on 25 x 29 at batch 1: 3 bands of ~242 pixels become
// 4; 9 images of 7 x 7 at N < 8: one band each becomes two), and at k >= 8 a 1x1 layer's
// whole batch is one row of pixels, its bands and tiles running across the images' ends.
TEST(NmEngine, ChannelsLastKernelOnTwoThreadsMatchesLibTorch) {
  if (engine::detected_isa() < Isa::Avx512) GTEST_SKIP() << "the channels-last kernel needs AVX-512";
  ChannelsLastGuard guard;
  engine::use_channels_last_kernel(true);
  set_threads(2);  // each test runs in its own process (gtest_discover_tests)
  torch::manual_seed(8);
  for (const auto& c : std::vector<ConvCase>{{256, 16, 1, 1, 0, 1, 25, 29, 1}, {256, 32, 1, 1, 0, 1, 7, 7, 9},
                                             {32, 48, 1, 1, 0, 1, 5, 3, 3}, {64, 32, 3, 1, 1, 1, 56, 56, 1}})
    for (const int64_t N : {1, 2, 4, 8, 16}) {
      SCOPED_TRACE(fmt::format("conv {}->{} k{} {}x{} b{} {}:16", c.cin, c.cout, c.k, c.h, c.w, c.batch, N));
      const auto weight = nm_weight({c.cout, c.cin, c.k, c.k}, N, 16, Layout::NHWC);
      const auto bias = torch::randn({c.cout});
      const auto x = torch::randn({c.batch, c.cin, c.h, c.w}).contiguous(at::MemoryFormat::ChannelsLast);
      const engine::NmConv2d conv(compress_nm_checked("conv", weight, N, 16, Layout::NHWC), bias, {c.stride, c.pad, 1});
      const auto conv_out = torch::conv2d(x, weight, bias, c.stride, c.pad);
      const auto shortcut = torch::randn_like(conv_out).contiguous(at::MemoryFormat::ChannelsLast);
      const auto got = conv.forward(x, /*relu=*/true, shortcut);
      const auto expect = (conv_out + shortcut).relu();
      EXPECT_TRUE(torch::allclose(got, expect, kRtol, kAtol)) << (got - expect).abs().max().item<float>();
    }
}

// Outputs larger than the L3 cache are written with streaming stores (NhwcConvTask::stream):
// the same outputs, on every run of blocks, and where a 3x3 layer's wide interior run writes
// border pixels that the border columns then overwrite; with a residual added (N = 2, 8).
TEST(NmEngine, ChannelsLastKernelStreamingStoresGiveTheSameOutputs) {
  if (engine::detected_isa() < Isa::Avx512) GTEST_SKIP() << "the channels-last kernel needs AVX-512";
  ChannelsLastGuard guard;
  engine::use_channels_last_kernel(true);
  torch::manual_seed(7);
  const int64_t cin = 64, cout = 112, h = 30, w = 31, image_bytes = cout * h * w * static_cast<int64_t>(sizeof(float));
  const int64_t batch = (int64_t{32} << 20) / image_bytes + 1;
  ASSERT_TRUE(engine::nhwc_streams(batch * image_bytes));
  ASSERT_FALSE(engine::nhwc_streams(image_bytes));  // the rule is not always on
  const auto x = torch::randn({batch, cin, h, w}).contiguous(at::MemoryFormat::ChannelsLast);
  for (const auto& c : std::vector<ConvCase>{{cin, cout, 1, 1, 0, 1, h, w, batch}, {cin, cout, 3, 1, 1, 1, h, w, batch}})
    for (const int64_t N : {1, 2, 4, 8}) {
      SCOPED_TRACE(fmt::format("conv {}->{} k{} b{} {}:16", c.cin, c.cout, c.k, c.batch, N));
      const auto weight = nm_weight({c.cout, c.cin, c.k, c.k}, N, 16, Layout::NHWC);
      const auto bias = torch::randn({c.cout});
      const engine::NmConv2d conv(compress_nm_checked("conv", weight, N, 16, Layout::NHWC), bias, {c.stride, c.pad, 1});
      const auto conv_out = torch::conv2d(x, weight, bias, c.stride, c.pad);
      const auto shortcut = N % 4 == 2 ? torch::randn_like(conv_out) : at::Tensor();
      const auto got = conv.forward(x, /*relu=*/true, shortcut);
      const auto expect = (shortcut.defined() ? conv_out + shortcut : conv_out).relu();
      EXPECT_TRUE(torch::allclose(got, expect, kRtol, kAtol)) << (got - expect).abs().max().item<float>();
    }
}

// The channels-last kernel's weights carry their lane in their 4 lowest mantissa bits: the
// nearest such float, so within 8 units in the last place (15 at the two ends of the range),
// its sign kept, finite, zero kept.
TEST(NmEngine, ChannelsLastWeightsCarryTheirLaneWithinEightUlps) {
  const auto bits = [](float v) {
    uint32_t b = 0;
    std::memcpy(&b, &v, sizeof b);
    return b;
  };
  const float values[] = {1.f, -1.f, 0.1f, -3.3e-5f, 7.5e12f, 1e-40f, -2e-45f, std::numeric_limits<float>::max(),
                          std::numeric_limits<float>::min(), 0.7071068f};
  for (const float v : values)
    for (int lane = 0; lane < 16; ++lane) {
      SCOPED_TRACE(fmt::format("{} lane {}", v, lane));
      const float t = engine::nhwc_weight(v, lane);
      EXPECT_EQ(bits(t) & 0xFu, static_cast<uint32_t>(lane));
      EXPECT_EQ(std::signbit(t), std::signbit(v));
      EXPECT_TRUE(std::isfinite(t));
      const int64_t ulps = std::abs(static_cast<int64_t>(bits(t) & 0x7FFFFFFFu) - static_cast<int64_t>(bits(v) & 0x7FFFFFFFu));
      // The ends of the range have one neighbour bucket: the tiniest subnormals and the top 16
      // floats below infinity.
      const bool end = std::abs(v) < std::numeric_limits<float>::min() || (bits(v) & 0x7FFFFFFFu) >= 0x7F7FFFF0u;
      EXPECT_LE(ulps, end ? 15 : 8);
      if (!end) {
        EXPECT_LE(std::abs(t - v), std::abs(v) * std::ldexp(1.f, -20));
      }
    }
  EXPECT_EQ(bits(engine::nhwc_weight(0.f, 9)), 0u);  // zero multiplies lane 0 by 0: stays zero
  EXPECT_EQ(bits(engine::nhwc_weight(-0.f, 9)), bits(-0.f));
}

TEST(NmEngine, BothLayoutsAndTheStemWithThreeChannels) {
  IsaGuard guard;
  torch::manual_seed(1);
  for (const auto isa : runnable_isas()) {
    engine::limit_isa(isa);
    for (const auto layout : {Layout::NHWC, Layout::NCHW}) check_conv({32, 16, 3, 1, 1, 1, 9, 9, 2}, 2, 8, layout, false);
    // 3 x 4 x 4 = 48 weights a row: NCHW groups of 16 cross taps and channels.
    check_conv({3, 8, 4, 2, 1, 1, 17, 17, 1}, 4, 16, Layout::NCHW, false);
  }
}

TEST(NmEngine, LinearLayersMatchLibTorch) {
  IsaGuard guard;
  torch::manual_seed(2);
  for (const auto isa : runnable_isas()) {
    engine::limit_isa(isa);
    for (const int64_t M : {4, 8, 16, 32})
      for (const int64_t N : {1, 2, 3, 4, 8, 16})
        for (const int64_t batch : {1, 5, 37}) {
          if (N > M) continue;
          SCOPED_TRACE(fmt::format("linear {}:{} batch {} isa {}", N, M, batch, to_string(isa)));
          const auto w = nm_weight({10, 64}, N, M, Layout::NHWC);
          const auto bias = torch::randn({10});
          const auto x = torch::randn({batch, 64});
          const engine::NmLinear linear(compress_nm_checked("fc", w, N, M, Layout::NHWC), bias);
          EXPECT_TRUE(torch::allclose(linear.forward(x), torch::linear(x, w, bias), kRtol, kAtol));
          EXPECT_TRUE(torch::allclose(linear.forward(x, true), torch::linear(x, w, bias).relu(), kRtol, kAtol));
        }
  }
}

TEST(NmEngine, VectorPathsAgreeWithThePortableOne) {
  IsaGuard guard;
  torch::manual_seed(4);
  const auto w = nm_weight({48, 64, 3, 3}, 4, 16, Layout::NHWC);
  const engine::NmConv2d conv(compress_nm_checked("conv", w, 4, 16, Layout::NHWC), {}, {1, 1, 1});
  const auto x = torch::randn({2, 64, 23, 29});
  engine::limit_isa(Isa::Portable);
  const auto reference = conv.forward(x);
  for (const auto isa : runnable_isas()) {
    engine::limit_isa(isa);
    EXPECT_TRUE(torch::allclose(conv.forward(x), reference, 1e-5, 1e-5)) << to_string(isa);
  }
}

TEST(NmEngine, AWeightThatBreaksItsSchemeIsRefusedNamingTheGroup) {
  auto w = nm_weight({8, 32, 3, 3}, 2, 16, Layout::NHWC);
  // Output channel 5, tap (1, 2), channels 16..31: the 2 kept of that group plus one more.
  auto group = w[5].select(1, 1).select(1, 2).slice(0, 16, 32);
  group.fill_(0);
  group.slice(0, 0, 3).fill_(1.5);
  const int64_t index = (5 * 9 * 32 + (1 * 3 + 2) * 32 + 16) / 16;
  expect_error_containing([&] { compress_nm_checked("layer2.0.conv1", w, 2, 16, Layout::NHWC); },
                          {"layer2.0.conv1", "group " + std::to_string(index), "output channel 5", "3 non-zeros", "2:16"});
}

TEST(NmEngine, RefusesWhatItCannotRun) {
  const auto cross = compress_nm_checked("stem", nm_weight({8, 3, 3, 3}, 1, 9, Layout::NCHW), 1, 9, Layout::NCHW);
  EXPECT_NO_THROW(engine::NmConv2d(cross, {}, {}));  // 27 a row: groups of 9 fit
  const auto crossing = compress_nm_checked("stem", torch::zeros({8, 3, 2, 2}), 1, 8, Layout::NCHW);
  expect_error_containing([&] { engine::NmConv2d(crossing, {}, {}); }, {"stem", "groups of 8", "dense"});
  const engine::NmConv2d conv(compress_nm_checked("c", nm_weight({8, 16, 3, 3}, 2, 8, Layout::NHWC), 2, 8, Layout::NHWC),
                              {}, {1, 0, 1});
  expect_error_containing([&] { conv.forward(torch::randn({1, 8, 5, 5})); }, {"expected input [B, 16, H, W]", "[1, 8, 5, 5]"});
  expect_error_containing([&] { conv.forward(torch::randn({1, 16, 2, 2})); }, {"smaller than the kernel"});
  expect_error_containing([&] { conv.forward(torch::randn({1, 16, 5, 5}), true, torch::randn({1, 8, 5, 5})); },
                          {"the residual is [1, 8, 5, 5]", "the output [1, 8, 3, 3]"});
  expect_error_containing([&] { engine::NmConv2d(compress_nm_checked("c", torch::zeros({8, 16, 3, 3}), 2, 8, Layout::NHWC),
                                                 torch::zeros({7}), {}); },
                          {"bias has 7 values for 8 outputs"});
  expect_error_containing([&] { engine::parse_isa("sse9"); }, {"sse9", "portable, avx2, avx512"});
}

// BatchNorm statistics and affine maps far from the identity, so that folding them matters.
void randomise_batchnorms(torch::nn::Module& model) {
  torch::NoGradGuard no_grad;
  for (auto& m : model.modules(/*include_self=*/false))
    if (auto* bn = m->as<FoldableBatchNorm2dImpl>()) {
      bn->running_mean.uniform_(-0.5, 0.5);
      bn->running_var.uniform_(0.5, 2.0);
      bn->weight.uniform_(0.5, 1.5);
      bn->bias.uniform_(-0.2, 0.2);
    }
}

// The model's logits through the engine against its masked dense forward (BatchNorm
// unfolded): equal up to float rounding over the whole depth, same top-1 everywhere.
void check_model(Network& model, const Scheme& scheme, const torch::Tensor& x) {
  model.eval();
  hard_prune(model, scheme);
  torch::NoGradGuard no_grad;
  const auto expect = model.forward(x);
  const auto layers = engine::use_engine(model, scheme, /*max_density=*/1.0);
  EXPECT_FALSE(layers.engine.empty());
  EXPECT_GT(layers.folded_batchnorms, 0);
  // Every engine convolution but a shortcut's projection runs with the ReLU after it (and a
  // block's residual add) in its own call (conv_bn_relu, forward_fused).
  const auto modules = model.named_modules();
  std::map<std::string, std::string> calls;  // layer -> "fused" or "plain"
  for (const auto& name : layers.engine)
    if (auto* conv = modules[name]->as<PrunableConv2dImpl>()) {
      ASSERT_TRUE(conv->fused_relu_forward()) << name;
      conv->set_forward_override(
          [&calls, name, plain = conv->forward_override()](const torch::Tensor& in) {
            calls[name] = "plain";
            return plain(in);
          },
          [&calls, name, fused = conv->fused_relu_forward()](const torch::Tensor& in, const torch::Tensor& r) {
            calls[name] = "fused";
            return fused(in, r);
          });
    }
  const auto got = model.forward(x);
  for (const auto& name : layers.engine)
    if (modules[name]->as<PrunableConv2dImpl>()) {
      const bool projection = name.find("downsample") != std::string::npos || name.find(".proj.") != std::string::npos;
      EXPECT_EQ(calls[name], projection ? "plain" : "fused") << name;
    }
  const double scale = expect.abs().max().item<double>();
  EXPECT_TRUE(torch::allclose(got, expect, 1e-3, 1e-4 * scale)) << (got - expect).abs().max().item<double>() << " of " << scale;
  EXPECT_TRUE(torch::equal(got.argmax(1), expect.argmax(1)));
}

TEST(NmEngineModel, CifarResNetAndVggMatchTheMaskedDenseForward) {
  torch::manual_seed(5);
  for (const std::string name : {"resnet20", "vgg16"}) {
    SCOPED_TRACE(name);
    auto model = make_model(name, {3, 10});
    randomise_batchnorms(*model);
    const auto table = build_layer_table(*model, {3, 32, 32});
    // A layer-wise scheme: N cycles through 1..8 of 16, as a searched one varies.
    auto scheme = dense_scheme(table, 16, Layout::NHWC);
    for (size_t i = 0; i < scheme.layers.size(); ++i)
      if (scheme.layers[i].searchable) scheme.layers[i].N = 1 + static_cast<int64_t>(i % 8);
    check_model(*model, scheme, torch::randn({3, 3, 32, 32}));
  }
}

TEST(NmEngineModel, ImageNetResNet50WithTheAuthorsSchemeAndRegNet) {
  torch::manual_seed(6);
  auto resnet = make_model("resnet50", {3, 1000});
  randomise_batchnorms(*resnet);
  const auto table = build_layer_table(*resnet, {3, 64, 64});
  const auto authors = parse_authors_scheme(test::read_text(DOMINO_SOURCE_DIR "/configs/schemes/resnet50_M16_0.80.txt"),
                                            table, "resnet50_M16_0.80.txt");
  check_model(*resnet, authors, torch::randn({2, 3, 64, 64}));

  auto regnet = make_model("regnet_x_3_2gf", {3, 10});  // grouped convolutions
  randomise_batchnorms(*regnet);
  const auto regnet_table = build_layer_table(*regnet, {3, 64, 64});
  check_model(*regnet, uniform_scheme(dense_scheme(regnet_table, 8, Layout::NHWC), 2), torch::randn({1, 3, 64, 64}));
}

// bench_inference times each engine layer alone (its fused forward set aside, as the dense
// layer is timed alone) and then leaves the model fused as use_engine switched it.
TEST(NmEngineModel, BenchInferenceLeavesTheFusedForwardsInPlace) {
  torch::manual_seed(9);
  auto model = make_model("resnet20", {3, 10});
  const auto table = build_layer_table(*model, {3, 32, 32});
  const auto scheme = uniform_scheme(dense_scheme(table, 16, Layout::NHWC), 2);
  hard_prune(*model, scheme);
  engine::BenchOptions options;
  options.warmup = 0;
  options.repeats = 1;
  const auto timing = engine::bench_inference(*model, scheme, torch::randn({2, 3, 32, 32}), options);
  ASSERT_FALSE(timing.layers.empty());
  const auto modules = model->named_modules();
  for (const auto& row : timing.layers)
    if (auto* conv = modules[row.name]->as<PrunableConv2dImpl>()) {
      EXPECT_TRUE(conv->fused_relu_forward()) << row.name;
    }
  EXPECT_LT(timing.max_abs_diff, 1e-3);
}

TEST(NmEngineModel, ABrokenWeightIsRefusedAndTheStemStaysDense) {
  torch::manual_seed(7);
  auto model = make_model("resnet50", {3, 10});
  model->eval();
  const auto table = build_layer_table(*model, {3, 64, 64});
  const auto scheme = uniform_scheme(dense_scheme(table, 16, Layout::NHWC), 4);
  hard_prune(*model, scheme);
  {
    torch::NoGradGuard no_grad;
    prunable_layer(*model, "layer3.1.conv2").weight[7].fill_(0.25);  // every weight of channel 7 kept
  }
  const auto x = torch::randn({1, 3, 64, 64});
  const auto before = model->forward(x);
  expect_error_containing([&] { engine::use_engine(*model, scheme); }, {"layer3.1.conv2", "output channel 7", "4:16"});
  EXPECT_TRUE(torch::equal(model->forward(x), before));  // nothing was switched
  // Layers denser than max_density stay LibTorch's (and are not checked).
  const auto all_dense = engine::use_engine(*model, scheme, 0.2);
  EXPECT_TRUE(all_dense.engine.empty());
  EXPECT_EQ(all_dense.dense.back(), "fc (4:16, denser than the engine is used for)");
  auto fresh = make_model("resnet50", {3, 10});
  fresh->eval();
  hard_prune(*fresh, scheme);
  const auto layers = engine::use_engine(*fresh, scheme);
  ASSERT_FALSE(layers.dense.empty());
  EXPECT_EQ(layers.dense.front(), "conv1 (rows do not split into groups of M)");  // 3 x 7 x 7 = 147 weights a row
}

// Where the engine runs channels-last, the stem it leaves to LibTorch turns the model's input
// channels-last (so the stem's pooling runs LibTorch's channels-last kernel); with the
// channels-last kernel off, or a lower ISA, it takes the input as it comes. Logits as the
// masked dense forward's either way. A 1-channel input (Fashion-MNIST) is contiguous in both
// formats: it must still take channels-last strides, or LibTorch runs the stem NCHW.
TEST(NmEngineModel, TheStemTakesItsInputChannelsLastWhereTheEngineRunsChannelsLast) {
  IsaGuard isa_guard;
  ChannelsLastGuard kernel_guard;
  torch::manual_seed(8);
  struct Case {
    std::string model;
    ImageShape shape;
    at::Tensor x;
  };
  for (const auto& c : {Case{"resnet50", {3, 64, 64}, torch::randn({2, 3, 40, 40})},
                        Case{"resnet20", {1, 28, 28}, torch::randn({2, 1, 28, 28})}}) {
    engine::use_channels_last_kernel(true);  // as the engine starts, whatever the last case left
    engine::limit_isa(Isa::Avx512);
    auto model = make_model(c.model, {c.shape.channels, 10});
    randomise_batchnorms(*model);
    const auto scheme = uniform_scheme(dense_scheme(build_layer_table(*model, c.shape), 16, Layout::NHWC), 2);
    check_model(*model, scheme, c.x);
    auto* stem = model->named_modules()["conv1"]->as<PrunableConv2dImpl>();
    ASSERT_NE(stem, nullptr);
    for (const bool kernel : {true, false}) {
      engine::use_channels_last_kernel(kernel);
      for (const auto isa : runnable_isas()) {
        engine::limit_isa(isa);
        SCOPED_TRACE(fmt::format("{}, channels-last kernel {}, isa {}", c.model, kernel, to_string(isa)));
        torch::NoGradGuard no_grad;
        const bool channels_last = kernel && isa == Isa::Avx512;
        EXPECT_EQ(stem->forward(c.x).is_contiguous(at::MemoryFormat::ChannelsLast), channels_last);
        EXPECT_TRUE(torch::allclose(stem->forward(c.x), stem->dense_forward(c.x), 1e-5, 1e-5));
      }
    }
  }
}

}  // namespace
}  // namespace domino
