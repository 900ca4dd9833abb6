// The channels-last kernel (nhwc_kernel.h) for AVX-512. Compiled with -mavx512f -mfma
// (CMakeLists.txt) and called only when the CPU reports AVX-512F.
//
// A tile is P output pixels x 16 output channels (x NB blocks), one accumulator vector a
// pixel and block. Per chunk (16 input channels at one tap): the blocks' k weight vectors
// (their lanes in their low bits) are loaded once, then per pixel one aligned load of its
// 16 channels feeds k x NB permutes and FMAs — one load per k x NB FMAs, where the row
// kernel (spmm_vector.h) needs one per FMA.
#if defined(__x86_64__)
#include <immintrin.h>

#include <algorithm>
#include <cstdint>

#include "engine/nhwc_kernel.h"

namespace domino::engine {
namespace {

struct Tile {
  // The image, at the blocks' first input channel, and where in it (floats) the input pixel
  // (oy x stride, ox x stride) of the tile's first output pixel (oy, ox) lies; the chunks'
  // offsets are from there. An offset, not a pointer: with padding wider than half the kernel
  // that pixel can lie past the image, though every tap read lies inside.
  const float* x = nullptr;
  int64_t x_offset = 0;
  int64_t pixel_step = 0;    // floats between the tile's neighbouring pixels' inputs
  const float* w = nullptr;      // the first block's weights; the next block's follow
  int64_t block_stride = 0;      // weights of one block
  const int64_t* chunk_offset = nullptr;
  // The chunks the tile's pixels read (their taps inside the image): `runs` runs of
  // `chunk_count` consecutive chunks, the first at `chunk_first`, one every `run_step`.
  int64_t chunk_first = 0, chunk_count = 0, runs = 0, run_step = 0;
  int64_t k = 0;
  const float* bias = nullptr;  // the first block's bias, or null
  float* y = nullptr;  // the tile's first output, at the first block's first channel
  const float* residual = nullptr;  // what is added to y there (the same layout), or null
  int64_t y_step = 0;  // likewise their outputs
  bool relu = false;
  bool stream = false;
  bool prefetch_next = false;  // whether tiles prefetch the next tile's input
  // Floats from the tile's input to the next tile's, and the pixels of it this call prefetches.
  int64_t prefetch = 0, prefetch_begin = 0, prefetch_end = 0;
};

// The NB blocks of one call, `first` blocks past the tile's first: their weights, bias and
// outputs.
struct Blocks {
  const float* w;
  const float* bias;
  float* y;
  const float* residual;
};
inline Blocks blocks_at(const Tile& t, int64_t first) {
  return {t.w + first * t.block_stride, t.bias ? t.bias + first * kNhwcBlock : nullptr, t.y + first * kNhwcBlock,
          t.residual ? t.residual + first * kNhwcBlock : nullptr};
}

// The input channels that 16 weights multiply (nhwc_weight): vpermps reads only the low 4
// bits of each index, which are the weight's lane. All lanes kept: without
// _mm512_permutexvar_ps's undefined pass-through (GCC 12 warns on it).
inline __m512 select(__m512 weight, __m512 in) {
  return _mm512_maskz_permutexvar_ps(0xFFFF, _mm512_castps_si512(weight), in);
}

// A pixel's 16 input channels, loaded once into a register. Left to itself GCC folds the
// load into each permute that reads it (vpermps takes a memory operand), so a pixel's chunk
// was loaded once for every block and kept weight sharing it (twice a pixel at 1:16, three
// times at 3:16): with the layer in cache, 1:16 ran 12 % and 3:16 7 % slower for it
// (docs/benchmarks.md).
inline __m512 load_input(const float* x) {
  __m512 in = _mm512_loadu_ps(x);
  __asm__("" : "+v"(in));  // opaque to the compiler: `in` must be in a register here
  return in;
}

// The epilogue: + residual, ReLU, store (docs/engine.md, "Fused epilogue").
template <int NB, int P>
inline void store_tile(const Tile& t, const Blocks& c, __m512 (&acc)[NB][P]) {
  // Locals: the stores could alias the tile's fields, which the compiler would then reload
  // for every store.
  const int64_t step = t.y_step;
  float* const y = c.y;
  if (const float* const r = c.residual) {
#pragma GCC unroll 4
    for (int b = 0; b < NB; ++b)
#pragma GCC unroll 16
      for (int p = 0; p < P; ++p) acc[b][p] = _mm512_add_ps(acc[b][p], _mm512_loadu_ps(r + p * step + b * kNhwcBlock));
  }
  if (t.relu) {
    const __m512 zero = _mm512_setzero_ps();
#pragma GCC unroll 4
    for (int b = 0; b < NB; ++b)
#pragma GCC unroll 16
      for (int p = 0; p < P; ++p)  // a masked move: GCC 12 warns on _mm512_max_ps's undefined pass-through
        acc[b][p] = _mm512_maskz_mov_ps(_mm512_cmp_ps_mask(acc[b][p], zero, _CMP_GT_OQ), acc[b][p]);
  }
  if (t.stream) {  // outputs 64-byte aligned (nm_conv.cpp checks)
#pragma GCC unroll 4
    for (int b = 0; b < NB; ++b)
#pragma GCC unroll 16
      for (int p = 0; p < P; ++p) _mm512_stream_ps(y + p * step + b * kNhwcBlock, acc[b][p]);
    return;
  }
#pragma GCC unroll 4
  for (int b = 0; b < NB; ++b)
#pragma GCC unroll 16
    for (int p = 0; p < P; ++p) _mm512_storeu_ps(y + p * step + b * kNhwcBlock, acc[b][p]);
}

// f(weights, input) for each chunk the tile reads: the first of `blocks`' k weight vectors
// of that chunk, and the tile's first pixel's 16 channels of it.
template <typename F>
inline void for_each_chunk(const Tile& t, const Blocks& blocks, int64_t k, F&& f) {
  for (int64_t r = 0; r < t.runs; ++r) {
    const int64_t first = t.chunk_first + r * t.run_step;
    const float* w = blocks.w + first * k * 16;
    for (int64_t c = first; c < first + t.chunk_count; ++c, w += k * 16) f(w, t.x + (t.x_offset + t.chunk_offset[c]));
  }
}

template <int NB, int P>
inline void init_tile(const Blocks& c, __m512 (&acc)[NB][P]) {
#pragma GCC unroll 4
  for (int b = 0; b < NB; ++b) {
    const __m512 bias = c.bias ? _mm512_loadu_ps(c.bias + b * kNhwcBlock) : _mm512_setzero_ps();
#pragma GCC unroll 16
    for (int p = 0; p < P; ++p) acc[b][p] = bias;
  }
}

// K known at compile time: the blocks' weights stay in registers per chunk. NB blocks share
// each pixel's load (4 at K = 1, 2 at K = 2: nhwc_blocks_per_call). The call prefetches its
// share of the next tile's input, a line a pixel and chunk.
template <int K, int P, int NB>
void tile(const Tile& t, const Blocks& c) {
  __m512 acc[NB][P];
  init_tile<NB, P>(c, acc);
  for_each_chunk(t, c, K, [&](const float* w, const float* x) {
    __m512 weight[NB][K];
#pragma GCC unroll 4
    for (int b = 0; b < NB; ++b)
#pragma GCC unroll 16
      for (int j = 0; j < K; ++j) weight[b][j] = _mm512_load_ps(w + b * t.block_stride + j * 16);
    for (int64_t p = t.prefetch_begin; p < t.prefetch_end; ++p)
      _mm_prefetch(reinterpret_cast<const char*>(x + p * t.pixel_step + t.prefetch), _MM_HINT_T0);
#pragma GCC unroll 16
    for (int p = 0; p < P; ++p) {
      const __m512 in = load_input(x + p * t.pixel_step);
#pragma GCC unroll 4
      for (int b = 0; b < NB; ++b)
#pragma GCC unroll 16
        for (int j = 0; j < K; ++j) acc[b][p] = _mm512_fmadd_ps(weight[b][j], select(weight[b][j], in), acc[b][p]);
    }
  });
  store_tile<NB, P>(t, c, acc);
}

// Any k (dense-ish layers: correct, not tuned): weights read from memory per pixel.
template <int P>
void tile_any_k(const Tile& t, const Blocks& c) {
  __m512 acc[1][P];
  init_tile<1, P>(c, acc);
  for_each_chunk(t, c, t.k, [&](const float* w, const float* x) {
#pragma GCC unroll 16
    for (int p = 0; p < P; ++p) {
      const __m512 in = load_input(x + p * t.pixel_step);
      for (int64_t j = 0; j < t.k; ++j) {
        const __m512 weight = _mm512_load_ps(w + j * 16);
        acc[0][p] = _mm512_fmadd_ps(weight, select(weight, in), acc[0][p]);
      }
    }
  });
  store_tile<1, P>(t, c, acc);
}

template <int K, int P, int NB>
void run_tile(const Tile& t, const Blocks& c) {
  if constexpr (K > 0) tile<K, P, NB>(t, c);
  else tile_any_k<P>(t, c);
}

// A tile of `pixels` <= P pixels.
template <int K, int P, int NB>
void sized_tile(const Tile& t, const Blocks& c, int pixels) {
  if constexpr (P > 0) {
    if (pixels == P) run_tile<K, P, NB>(t, c);
    else sized_tile<K, P - 1, NB>(t, c, pixels);
  }
}

// `pixels` output pixels, `t.pixel_step` apart (along a row or down a column), in tiles of
// equal size (49: 13, 12, 12, 12, not 16, 16, 16, 1): every tile reads all the blocks'
// weights once, so a small tile wastes those reads. Each tile runs `calls` x NB blocks from
// block `first` on, one call after the other, while its input is in the L1 cache; the
// tile's outputs of all of them are then neighbours in memory (docs/engine.md, "Blocks
// inside the pixel tile").
template <int K, int NB>
void run(Tile t, int64_t first, int64_t calls, int64_t pixels) {
  constexpr int P = static_cast<int>(nhwc_tile_pixels(K, NB));
  if (calls == 0) return;
  const int64_t tiles = (pixels + P - 1) / P, size = pixels / tiles, larger = pixels % tiles;
  for (int64_t i = 0; i < tiles; ++i) {
    const int n = static_cast<int>(size + (i < larger));  // the first `larger` tiles take one pixel more
    // The calls share the prefetching of the next tile's input (docs/engine.md, "Prefetching").
    t.prefetch = t.prefetch_next && i + 1 < tiles ? n * t.pixel_step : 0;
    for (int64_t call = 0; call < calls; ++call) {
      t.prefetch_begin = t.prefetch ? P * call / calls : 0;
      t.prefetch_end = t.prefetch ? P * (call + 1) / calls : 0;
      sized_tile<K, P, NB>(t, blocks_at(t, first + call * NB), n);
    }
    t.x_offset += n * t.pixel_step;
    t.y += n * t.y_step;
    if (t.residual) t.residual += n * t.y_step;
  }
}

template <int NB>
void run_k(const Tile& t, int64_t first, int64_t calls, int64_t pixels) {
  if constexpr (NB == 4) {  // k = 1 only (nhwc_blocks_per_call)
    run<1, 4>(t, first, calls, pixels);
  } else if constexpr (NB == 2) {  // k <= 2 only
    if (t.k == 1) run<1, 2>(t, first, calls, pixels);
    else run<2, 2>(t, first, calls, pixels);
  } else {
    switch (t.k) {
      case 1: run<1, 1>(t, first, calls, pixels); break;
      case 2: run<2, 1>(t, first, calls, pixels); break;
      case 3: run<3, 1>(t, first, calls, pixels); break;
      case 4: run<4, 1>(t, first, calls, pixels); break;
      case 5: run<5, 1>(t, first, calls, pixels); break;
      case 6: run<6, 1>(t, first, calls, pixels); break;
      case 7: run<7, 1>(t, first, calls, pixels); break;
      case 8: run<8, 1>(t, first, calls, pixels); break;
      default: run<0, 1>(t, first, calls, pixels); break;
    }
  }
}

// The tile's `blocks` blocks, in fours or pairs sharing each pixel's load where the kernel
// groups them (those left over in pairs, then alone).
void run_blocks(const Tile& t, int64_t blocks, int64_t pixels) {
  const int64_t most = nhwc_blocks_per_call(t.k);
  int64_t first = 0;
  if (most >= 4) {
    run_k<4>(t, first, blocks / 4, pixels);
    first = blocks / 4 * 4;
  }
  if (most >= 2) {
    run_k<2>(t, first, (blocks - first) / 2, pixels);
    first += (blocks - first) / 2 * 2;
  }
  run_k<1>(t, first, blocks - first, pixels);
}

// The kernel taps [begin, end) that output position `o` (a row or a column) reads inside an
// input of `size` (the others fall on the zero padding).
struct TapRange {
  int64_t begin = 0, end = 0;
};
TapRange taps_inside(int64_t o, int64_t size, int64_t kernel, int64_t stride, int64_t pad) {
  const int64_t first = o * stride - pad;  // the input position of tap 0
  TapRange r;
  r.begin = std::clamp<int64_t>(-first, 0, kernel);
  r.end = std::clamp<int64_t>(size - first, r.begin, kernel);
  return r;
}

// The output positions in [begin, end) whose taps all fall inside the input: [lo, hi).
TapRange interior(int64_t begin, int64_t end, int64_t size, int64_t kernel, int64_t stride, int64_t pad) {
  const int64_t last = size + pad - kernel;  // o x stride <= last
  TapRange r;
  r.begin = std::clamp<int64_t>((pad + stride - 1) / stride, begin, end);
  r.end = last < 0 ? r.begin : std::clamp<int64_t>(last / stride + 1, r.begin, end);
  return r;
}

// Whether the interior rows run as one flat run of pixels, row ends included: possible for
// stride 1 with output rows as wide as input rows (then a pixel's flat index steps alike in
// both, and the border pixels the run passes through read memory inside the image; their
// wrong values are overwritten by the border-column tiles that run after them). Fewer,
// longer tiles, at the price of computing those border pixels twice: measured faster on
// 56 x 56 images at every N, slower on 7 x 7 (2/7 of a run's pixels wasted), mixed on 14 x 14
// (docs/engine.md); so where at most 1/8 of a run's pixels are border pixels.
bool wide_interior(const NhwcConvTask& a, TapRange rows, int64_t width, int64_t col_begin, int64_t col_end) {
  if (a.stride != 1 || a.wo != a.w || col_begin != 0 || col_end != a.wo || rows.end - rows.begin < 2) return false;
  return (a.w - width) * 8 <= a.w;
}

// One work item's layer, images and blocks: runs tiles of output pixels from an output
// position — along a row, down a column or across images (a pixel step and an output step
// say which) — reading the taps rows x cols of the kernel.
class Window {
 public:
  Window(const NhwcConvTask& a, int64_t image, int64_t block, int64_t blocks) : a_(a), blocks_(blocks) {
    const int64_t out_channel = block * kNhwcBlock;
    const int64_t in_channel = out_channel / a.group_out * a.group_in;  // the blocks' group's first input channel
    per_tap_ = a.chunks / (a.kh * a.kw);
    t_.block_stride = a.chunks * a.k * kNhwcBlock;
    t_.w = a.values + block * t_.block_stride;
    t_.chunk_offset = a.chunk_offset;
    t_.k = a.k;
    t_.bias = a.bias ? a.bias + out_channel : nullptr;
    t_.relu = a.relu;
    t_.stream = a.stream;
    t_.prefetch_next = a.prefetch;
    t_.x = a.x + image * a.h * a.w * a.channels + in_channel;
    out_ = image * a.ho * a.wo * a.cout + out_channel;
  }

  void compute(int64_t oy, int64_t ox, int64_t pixels, int64_t pixel_step, int64_t y_step, TapRange rows,
               TapRange cols) const {
    if (pixels <= 0) return;
    Tile s = t_;
    s.x_offset = (oy * a_.w + ox) * a_.stride * a_.channels;
    const int64_t out = out_ + (oy * a_.wo + ox) * a_.cout;  // the output and the residual share a layout
    s.y = a_.y + out;
    s.residual = a_.residual ? a_.residual + out : nullptr;
    s.pixel_step = pixel_step;
    s.y_step = y_step;
    const int64_t tap_rows = rows.end - rows.begin, tap_cols = cols.end - cols.begin;
    s.run_step = a_.kw * per_tap_;
    s.chunk_first = (rows.begin * a_.kw + cols.begin) * per_tap_;
    const bool whole_rows = tap_cols == a_.kw;  // then the runs of consecutive tap rows join
    s.runs = tap_rows > 0 && tap_cols > 0 ? (whole_rows ? 1 : tap_rows) : 0;
    s.chunk_count = (whole_rows ? tap_rows : 1) * tap_cols * per_tap_;
    run_blocks(s, blocks_, pixels);
  }

 private:
  const NhwcConvTask& a_;
  int64_t blocks_ = 0, per_tap_ = 0;
  Tile t_;
  int64_t out_ = 0;  // floats from the output's start to the window's first output channel
};

}  // namespace

// The window is cut by which taps its pixels read: interior rows' interior pixels (all taps)
// in row tiles; each border column's pixels of those rows (the same taps) in one tile down
// the column; border rows piece by piece.
void nhwc_conv_avx512(const NhwcConvTask& a, int64_t image, int64_t block, int64_t blocks, int64_t row_begin,
                      int64_t row_end, int64_t col_begin, int64_t col_end) {
  const Window window(a, image, block, blocks);
  const int64_t along = a.stride * a.channels, down = a.w * along;  // pixel steps along a row, down a column
  const auto row = [&](int64_t oy, int64_t ox, int64_t pixels, TapRange rows, TapRange cols) {
    window.compute(oy, ox, pixels, along, a.cout, rows, cols);
  };
  const TapRange all_rows{0, a.kh}, all_cols{0, a.kw};
  const auto inner_rows = interior(row_begin, row_end, a.h, a.kh, a.stride, a.pad);
  const auto inner_cols = interior(col_begin, col_end, a.w, a.kw, a.stride, a.pad);
  // f(ox, its taps) for each border column of the window: left of the interior, then right.
  const auto for_each_border_column = [&](const auto& f) {
    for (int64_t ox = col_begin; ox < inner_cols.begin; ++ox) f(ox, taps_inside(ox, a.w, a.kw, a.stride, a.pad));
    for (int64_t ox = inner_cols.end; ox < col_end; ++ox) f(ox, taps_inside(ox, a.w, a.kw, a.stride, a.pad));
  };
  const int64_t inner_width = inner_cols.end - inner_cols.begin;
  const auto border_row = [&](int64_t oy) {
    const auto rows = taps_inside(oy, a.h, a.kh, a.stride, a.pad);
    row(oy, inner_cols.begin, inner_width, rows, all_cols);
    for_each_border_column([&](int64_t ox, TapRange cols) { row(oy, ox, 1, rows, cols); });
  };
  for (int64_t oy = row_begin; oy < inner_rows.begin; ++oy) border_row(oy);
  if (wide_interior(a, inner_rows, inner_width, col_begin, col_end)) {
    row(inner_rows.begin, inner_cols.begin, (inner_rows.end - inner_rows.begin - 1) * a.w + inner_width, all_rows,
        all_cols);
  } else {
    for (int64_t oy = inner_rows.begin; oy < inner_rows.end; ++oy)
      row(oy, inner_cols.begin, inner_width, all_rows, all_cols);
  }
  // After the interior: they overwrite the border pixels a wide interior run computed.
  const int64_t inner_height = inner_rows.end - inner_rows.begin;
  for_each_border_column([&](int64_t ox, TapRange cols) {
    window.compute(inner_rows.begin, ox, inner_height, down, a.wo * a.cout, all_rows, cols);
  });
  for (int64_t oy = inner_rows.end; oy < row_end; ++oy) border_row(oy);
  if (a.stream) _mm_sfence();  // streaming stores are weakly ordered: done before the threads join
}

// Every output position is one tile of the images' pixels there: a pixel step of one image.
void nhwc_conv_images_avx512(const NhwcConvTask& a, int64_t image, int64_t images, int64_t block, int64_t blocks,
                             int64_t row_begin, int64_t row_end) {
  const Window window(a, image, block, blocks);
  const int64_t x_image = a.h * a.w * a.channels, y_image = a.ho * a.wo * a.cout;
  for (int64_t oy = row_begin; oy < row_end; ++oy) {
    const auto rows = taps_inside(oy, a.h, a.kh, a.stride, a.pad);
    for (int64_t ox = 0; ox < a.wo; ++ox)
      window.compute(oy, ox, images, x_image, y_image, rows, taps_inside(ox, a.w, a.kw, a.stride, a.pad));
  }
  if (a.stream) _mm_sfence();
}

}  // namespace domino::engine
#endif  // __x86_64__
