// The channels-last kernel (nhwc_kernel.h) for AVX-512. Compiled with -mavx512f -mfma
// (CMakeLists.txt) and called only when the CPU reports AVX-512F.
//
// A tile is P output pixels x 16 output channels (x NB blocks), one accumulator vector a
// pixel and block. Per chunk (16 input channels at one tap): the blocks' k weight and index
// vectors are loaded once, then per pixel one aligned load of its 16 channels feeds k x NB
// permutes and FMAs — one load per k x NB FMAs, where the row kernel (spmm_vector.h) needs
// one per FMA.
#if defined(__x86_64__)
#include <immintrin.h>

#include <algorithm>
#include <cstdint>

#include "engine/nhwc_kernel.h"

namespace domino::engine {
namespace {

struct Tile {
  const float* x = nullptr;  // the tile's first pixel, at its blocks' first input channel
  int64_t pixel_step = 0;    // floats between neighbouring pixels' inputs (stride x C)
  const float* w = nullptr;      // the first block's weights; the next block's follow
  const uint8_t* lanes = nullptr;  // the first block's lane indices, likewise
  int64_t block_stride = 0;      // weights (and indices) of one block
  const int64_t* chunk_offset = nullptr;
  int64_t chunks = 0, k = 0;
  __m512 bias[2];
  float* y = nullptr;  // the tile's first output, at the first block's first channel
  int64_t y_step = 0;  // floats between neighbouring pixels' outputs (Cout)
  bool relu = false;
};

// All lanes kept: the same vpermps, without _mm512_permutexvar_ps's undefined pass-through
// (GCC 12 warns on it).
inline __m512 permute(__m512i lane, __m512 in) { return _mm512_maskz_permutexvar_ps(0xFFFF, lane, in); }

// 16 lane indices stored as bytes (a quarter of the int32s vpermps takes: at batch 1 the
// weights stream from memory once a forward, so their size is time).
inline __m512i lanes16(const uint8_t* l) { return _mm512_maskz_cvtepu8_epi32(0xFFFF, _mm_loadu_si128(reinterpret_cast<const __m128i*>(l))); }

template <int NB, int P>
inline void store_tile(const Tile& t, __m512 (&acc)[NB][P]) {
  const __m512 zero = _mm512_setzero_ps();
#pragma GCC unroll 2
  for (int b = 0; b < NB; ++b)
#pragma GCC unroll 16
    for (int p = 0; p < P; ++p) {
      // A masked move, not _mm512_max_ps: GCC 12 warns on that intrinsic's undefined pass-through.
      const __m512 v = acc[b][p];
      const __m512 out = t.relu ? _mm512_maskz_mov_ps(_mm512_cmp_ps_mask(v, zero, _CMP_GT_OQ), v) : v;
      _mm512_storeu_ps(t.y + p * t.y_step + b * kNhwcBlock, out);
    }
}

// K known at compile time: the blocks' weights and indices stay in registers per chunk.
// NB = 2 blocks share each pixel's load (where K is small, so that a load feeds few FMAs).
template <int K, int P, int NB>
void tile(const Tile& t) {
  __m512 acc[NB][P];
#pragma GCC unroll 2
  for (int b = 0; b < NB; ++b)
#pragma GCC unroll 16
    for (int p = 0; p < P; ++p) acc[b][p] = t.bias[b];
  const float* w = t.w;
  const uint8_t* l = t.lanes;
  for (int64_t c = 0; c < t.chunks; ++c, w += K * 16, l += K * 16) {
    __m512 value[NB][K];
    __m512i lane[NB][K];
#pragma GCC unroll 2
    for (int b = 0; b < NB; ++b)
#pragma GCC unroll 16
      for (int j = 0; j < K; ++j) {
        value[b][j] = _mm512_load_ps(w + b * t.block_stride + j * 16);
        lane[b][j] = lanes16(l + b * t.block_stride + j * 16);
      }
    const float* x = t.x + t.chunk_offset[c];
#pragma GCC unroll 16
    for (int p = 0; p < P; ++p) {
      const __m512 in = _mm512_loadu_ps(x + p * t.pixel_step);
#pragma GCC unroll 2
      for (int b = 0; b < NB; ++b)
#pragma GCC unroll 16
        for (int j = 0; j < K; ++j) acc[b][p] = _mm512_fmadd_ps(value[b][j], permute(lane[b][j], in), acc[b][p]);
    }
  }
  store_tile<NB, P>(t, acc);
}

// Any k (dense-ish layers: correct, not tuned): weights read from memory per pixel.
template <int P>
void tile_any_k(const Tile& t) {
  __m512 acc[1][P];
#pragma GCC unroll 16
  for (int p = 0; p < P; ++p) acc[0][p] = t.bias[0];
  const float* w = t.w;
  const uint8_t* l = t.lanes;
  for (int64_t c = 0; c < t.chunks; ++c, w += t.k * 16, l += t.k * 16) {
    const float* x = t.x + t.chunk_offset[c];
#pragma GCC unroll 16
    for (int p = 0; p < P; ++p) {
      const __m512 in = _mm512_loadu_ps(x + p * t.pixel_step);
      for (int64_t j = 0; j < t.k; ++j)
        acc[0][p] = _mm512_fmadd_ps(_mm512_load_ps(w + j * 16), permute(lanes16(l + j * 16), in), acc[0][p]);
    }
  }
  store_tile<1, P>(t, acc);
}

// Pixels a tile: as many accumulators as the 32 vector registers leave after the blocks'
// k weight and index vectors and two temporaries.
template <int K, int NB>
constexpr int tile_pixels() {
  return K <= 0 ? 8 : std::min(16, (30 - 2 * K * NB) / NB);
}

template <int K, int P, int NB>
void run_tile(const Tile& t) {
  if constexpr (K > 0) tile<K, P, NB>(t);
  else tile_any_k<P>(t);
}

// A tile of `pixels` <= P pixels.
template <int K, int P, int NB>
void sized_tile(const Tile& t, int pixels) {
  if constexpr (P > 0) {
    if (pixels == P) run_tile<K, P, NB>(t);
    else sized_tile<K, P - 1, NB>(t, pixels);
  }
}

// `pixels` consecutive output pixels of one output row, in tiles of equal size (49: 13,
// 12, 12, 12, not 16, 16, 16, 1): every tile reads all the blocks' weights once, so a
// small tile wastes those reads.
template <int K, int NB>
void run(Tile t, int64_t pixels) {
  constexpr int P = tile_pixels<K, NB>();
  for (int64_t tiles = (pixels + P - 1) / P; tiles > 0; --tiles) {
    const int64_t size = (pixels + tiles - 1) / tiles;
    sized_tile<K, P, NB>(t, static_cast<int>(size));
    t.x += size * t.pixel_step;
    t.y += size * t.y_step;
    pixels -= size;
  }
}

template <int NB>
void run_k(const Tile& t, int64_t pixels) {
  if constexpr (NB == 2) {  // k <= 2 only (nhwc_blocks_per_call)
    if (t.k == 1) run<1, 2>(t, pixels);
    else run<2, 2>(t, pixels);
  } else {
    switch (t.k) {
      case 1: run<1, 1>(t, pixels); break;
      case 2: run<2, 1>(t, pixels); break;
      case 3: run<3, 1>(t, pixels); break;
      case 4: run<4, 1>(t, pixels); break;
      case 5: run<5, 1>(t, pixels); break;
      case 6: run<6, 1>(t, pixels); break;
      case 7: run<7, 1>(t, pixels); break;
      case 8: run<8, 1>(t, pixels); break;
      default: run<0, 1>(t, pixels); break;
    }
  }
}

}  // namespace

void nhwc_conv_avx512(const NhwcConvTask& a, int64_t image, int64_t block, int64_t blocks, int64_t pixel_begin,
                      int64_t pixel_end) {
  const int64_t out_channel = block * kNhwcBlock;
  const int64_t in_channel = out_channel / a.group_out * a.group_in;  // the blocks' group's first input channel
  Tile t;
  t.pixel_step = a.stride * a.channels;
  t.block_stride = a.chunks * a.k * kNhwcBlock;
  t.w = a.values + block * t.block_stride;
  t.lanes = a.lanes + block * t.block_stride;
  t.chunk_offset = a.chunk_offset;
  t.chunks = a.chunks;
  t.k = a.k;
  for (int64_t b = 0; b < 2; ++b)
    t.bias[b] = a.bias && b < blocks ? _mm512_loadu_ps(a.bias + out_channel + b * kNhwcBlock) : _mm512_setzero_ps();
  t.y_step = a.cout;
  t.relu = a.relu;
  for (int64_t p = pixel_begin; p < pixel_end;) {
    const int64_t oy = p / a.wo, ox = p % a.wo;
    const int64_t pixels = std::min(pixel_end - p, a.wo - ox);  // the rest of this output row
    t.x = a.x + image * a.x_image + oy * a.stride * a.x_row + ox * t.pixel_step + in_channel;
    t.y = a.y + image * a.y_image + p * a.cout + out_channel;
    if (blocks == 2 && nhwc_blocks_per_call(a.k) == 2) {  // run_k<2> takes only such k
      run_k<2>(t, pixels);
    } else {
      for (int64_t b = 0; b < blocks; ++b) {
        Tile one = t;
        one.w += b * t.block_stride;
        one.lanes += b * t.block_stride;
        one.bias[0] = t.bias[b];
        one.y += b * kNhwcBlock;
        run_k<1>(one, pixels);
      }
    }
    p += pixels;
  }
}

}  // namespace domino::engine
#endif  // __x86_64__
