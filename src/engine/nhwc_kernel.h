// The channels-last N:M convolution kernel (docs/engine.md, "The channels-last kernel"):
// one vector load of 16 input channels of a pixel serves every output channel of a block
// of 16, each selecting its kept channels with an in-register permute. It needs groups
// along input channels (layout NHWC) of M in {4, 8, 16} and AVX-512.
// No LibTorch here: the kernel unit is compiled for AVX-512 only.
#pragma once

#include <algorithm>
#include <cstdint>

namespace domino::engine {

constexpr int64_t kNhwcBlock = 16;  // output channels a block, input channels a chunk

// One convolution's operands. A "chunk" is 16 input channels at one tap; a block of 16
// output channels keeps exactly k of each chunk's channels (k = N x 16 / M), stored as k
// pairs of vectors: 16 weights (one per output channel) and 16 lane indices (which of the
// chunk's channels each weight multiplies, a byte each). Chunks run tap by tap (row-major in
// the kernel window), 16 channels at a time within a tap.
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
  const float* values = nullptr;   // [blocks][chunks][k][16], 64-byte aligned
  const uint8_t* lanes = nullptr;  // [blocks][chunks][k][16]: which of the chunk's channels
  int64_t group_out = 0, group_in = 0;  // output and input channels of one convolution group
  const float* bias = nullptr;          // [Cout] or null
  float* y = nullptr;                   // NHWC: [B][Ho][Wo][Cout]
  int64_t ho = 0, wo = 0, cout = 0;     // output rows, columns, channels
  bool relu = false;
};

// Blocks of output channels a tile computes together (sharing each pixel's load): two
// where a block keeps at most 2 weights of a chunk (a pixel's load would feed only one or
// two FMAs), else one.
inline constexpr int64_t nhwc_blocks_per_call(int64_t k) { return k <= 2 ? 2 : 1; }

// Output pixels a tile of `nb` blocks holds: as many accumulators as the 32 vector registers
// leave after the blocks' k weight and index vectors and two temporaries (k > 8, or 0 for
// "any", reads its weights from memory: 8 pixels).
inline constexpr int64_t nhwc_tile_pixels(int64_t k, int64_t nb) {
  return k <= 0 || k > 8 ? 8 : std::min<int64_t>(16, (30 - 2 * k * nb) / nb);
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
