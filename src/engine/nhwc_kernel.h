// The channels-last N:M convolution kernel (docs/engine.md, "The channels-last kernel"):
// one vector load of 16 input channels of a pixel serves every output channel of a block
// of 16, each selecting its kept channels with an in-register permute. It needs groups
// along input channels (layout NHWC) of M in {4, 8, 16} and AVX-512.
// No LibTorch here: the kernel unit is compiled for AVX-512 only.
#pragma once

#include <algorithm>
#include <cstdint>
#include <cstring>

namespace domino::engine {

constexpr int64_t kNhwcBlock = 16;  // output channels a block, input channels a chunk

// One convolution's operands. A "chunk" is 16 input channels at one tap; a block of 16
// output channels keeps exactly k of each chunk's channels (k = N x 16 / M), stored as k
// vectors of 16 weights (one per output channel), each carrying in its 4 lowest mantissa
// bits which of the chunk's channels it multiplies (nhwc_weight): `vpermps` reads only those
// bits of an index, so one load gives the weight and its lane. Chunks run tap by tap
// (row-major in the kernel window), 16 channels at a time within a tap.
//
// The input is read as it is, unpadded: output pixels whose window hangs over the image's
// edge skip the taps outside it (zero padding contributes nothing), so no padded copy.
struct NhwcConvTask {
  const float* x = nullptr;  // the input, NHWC: [B][H][W][C]
  int64_t h = 0, w = 0, channels = 0;  // input rows, columns, channels a pixel
  int64_t kh = 0, kw = 0, stride = 1, pad = 0;
  // [chunks]: where a chunk starts, in floats, from the first channel of input pixel
  // (oy x stride, ox x stride) of output pixel (oy, ox); negative for taps above or left of it.
  const int64_t* chunk_offset = nullptr;
  int64_t chunks = 0, k = 0;
  const float* values = nullptr;  // [blocks][chunks][k][16] (nhwc_weight), 64-byte aligned
  int64_t group_out = 0, group_in = 0;  // output and input channels of one convolution group
  const float* bias = nullptr;          // [Cout] or null
  float* y = nullptr;                   // NHWC: [B][Ho][Wo][Cout]
  int64_t ho = 0, wo = 0, cout = 0;     // output rows, columns, channels
  // Added to the outputs before the ReLU, in the output's layout (a residual block's
  // shortcut), or null.
  const float* residual = nullptr;
  bool relu = false;
  // Whether each tile prefetches the next tile's input: where the input is too large to be
  // in the threads' L2 caches (docs/engine.md, "Prefetching").
  bool prefetch = false;
  // Whether outputs are written with non-temporal stores, past the caches: where the output
  // is too large to stay in cache for the next layer (nhwc_streams). A cached store first
  // reads its line from memory; a streaming one does not.
  bool stream = false;
};

// One core's L2 cache, as the system reports it (1 MiB where it does not say).
int64_t l2_cache_bytes();
// Whether a convolution prefetches (NhwcConvTask::prefetch) an input of `input_bytes` read
// by `threads` threads: where it is larger than their L2 caches together.
bool nhwc_prefetches(int64_t input_bytes, int threads);

// Whether a convolution writes an output of `output_bytes` with streaming stores
// (NhwcConvTask::stream): where it is larger than this CPU's L3 cache (32 MiB a CCD on AMD
// EPYC; a VM's reported size is the host's), so it would reach memory anyway.
bool nhwc_streams(int64_t output_bytes);

// A weight whose 4 lowest mantissa bits say its lane (0-15): of the floats whose low bits are
// `lane`, the nearest to `value` — within 8 units in the last place (2^-20 relative; 15 at
// the ends of the range, the tiniest subnormals and the top 16 floats, which never round up
// to infinity), far below the rounding differences of summing in another order. A zero
// weight stays zero (its lane does not matter: it multiplies lane 0 by 0).
inline float nhwc_weight(float value, int lane) {
  uint32_t bits = 0;
  std::memcpy(&bits, &value, sizeof bits);
  const uint32_t sign = bits & 0x80000000u, magnitude = bits & 0x7FFFFFFFu;
  if (magnitude == 0) return value;
  // Candidates in this bucket of 16 and its neighbours; magnitudes order like their values.
  const uint32_t base = (magnitude & ~0xFu) | static_cast<uint32_t>(lane);
  uint32_t best = base;
  const auto distance = [&](uint32_t m) { return m > magnitude ? m - magnitude : magnitude - m; };
  if (base >= 16 && distance(base - 16) < distance(best)) best = base - 16;
  if (base + 16 < 0x7F800000u && distance(base + 16) < distance(best)) best = base + 16;  // not into inf/NaN
  bits = sign | best;
  float tagged = 0;
  std::memcpy(&tagged, &bits, sizeof tagged);
  return tagged;
}

// Blocks of output channels a tile computes together (sharing each pixel's load), so that a
// load feeds several FMAs: four where a block keeps one weight of a chunk, two where it keeps
// two, else one. (At 1:16, in L1, one thread: 3.7 zmm FMAs a nanosecond with two blocks a
// tile, 4.6 with four; docs/benchmarks.md.)
inline constexpr int64_t nhwc_blocks_per_call(int64_t k) { return k == 1 ? 4 : (k == 2 ? 2 : 1); }

// Output pixels a tile of `nb` blocks holds: as many accumulators as the 32 vector registers
// leave after the blocks' k weight vectors and two temporaries (k > 8, or 0 for "any",
// reads its weights from memory: 8 pixels).
inline constexpr int64_t nhwc_tile_pixels(int64_t k, int64_t nb) {
  return k <= 0 || k > 8 ? 8 : std::min<int64_t>(16, (30 - k * nb) / nb);
}

// Output rows [row_begin, row_end) x columns [col_begin, col_end) of image `image`, output
// channel blocks [block, block + blocks) (in one convolution group). Each pixel tile runs
// all those blocks while its input is in the L1 cache.
void nhwc_conv_avx512(const NhwcConvTask& task, int64_t image, int64_t block, int64_t blocks, int64_t row_begin,
                      int64_t row_end, int64_t col_begin, int64_t col_end);

// Output rows [row_begin, row_end) of images [image, image + images), tiles across the
// images: each output position's pixels of those images form one tile (they read the same
// taps), so a small image at a large batch gets full tiles where its rows would give short
// ones (docs/engine.md, "Tiles across images").
void nhwc_conv_images_avx512(const NhwcConvTask& task, int64_t image, int64_t images, int64_t block, int64_t blocks,
                             int64_t row_begin, int64_t row_end);

}  // namespace domino::engine
