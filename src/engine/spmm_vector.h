// The vector kernels, written once over an instruction-set traits type (Avx2, Avx512) and
// instantiated in a unit compiled for that set. A block holds R rows x T vectors of
// outputs in registers while the rows' kept weights stream past: per weight, one
// broadcast, then per vector one load and one FMA — the loads are contiguous because the
// input was laid out for it. R x T is chosen so that ~8 independent accumulators hide the
// FMA latency whatever the number of outputs (q) left in the tile.
#pragma once

#include <algorithm>

#include "engine/spmm_kernel.h"

namespace domino::engine {
namespace {

template <class S, int R, int T>
inline void spmm_block(const SpmmTask& a, int64_t row, int64_t q0, typename S::Mask tail) {
  typename S::V acc[R][T];
  const int32_t* off[R];
  const float* val[R];
#pragma GCC unroll 8
  for (int r = 0; r < R; ++r) {
    off[r] = a.offsets + (row + r) * a.nnz;
    val[r] = a.values + (row + r) * a.nnz;
    const auto b = S::set1(a.bias ? a.bias[row + r] : 0.f);
#pragma GCC unroll 8
    for (int t = 0; t < T; ++t) acc[r][t] = b;
  }
  const float* x = a.x + q0;
  for (int64_t k = 0; k < a.nnz; ++k) {
#pragma GCC unroll 8
    for (int r = 0; r < R; ++r) {
      const auto v = S::set1(val[r][k]);
      const float* p = x + off[r][k];
#pragma GCC unroll 8
      for (int t = 0; t + 1 < T; ++t) acc[r][t] = S::fma(v, S::load(p + t * S::kLanes), acc[r][t]);
      acc[r][T - 1] = S::fma(v, S::load(tail, p + (T - 1) * S::kLanes), acc[r][T - 1]);
    }
  }
#pragma GCC unroll 8
  for (int r = 0; r < R; ++r) {
    float* y = a.y + (row + r) * a.y_stride + q0;
#pragma GCC unroll 8
    for (int t = 0; t < T; ++t) {
      const auto out = a.relu ? S::max0(acc[r][t]) : acc[r][t];
      if (t + 1 < T) S::store(y + t * S::kLanes, out);
      else S::store(tail, y + t * S::kLanes, out);
    }
  }
}

template <class S, int T>
inline void spmm_rows(const SpmmTask& a, int64_t row_begin, int64_t row_end, int64_t q0, typename S::Mask tail) {
  constexpr int R = T >= 8 ? 1 : (T >= 4 ? 2 : 8 / T);
  int64_t row = row_begin;
  for (; row + R <= row_end; row += R) spmm_block<S, R, T>(a, row, q0, tail);
  for (; row < row_end; ++row) spmm_block<S, 1, T>(a, row, q0, tail);
}

template <class S>
void spmm_vector(const SpmmTask& a, int64_t row_begin, int64_t row_end) {
  constexpr int64_t kTile = 8 * S::kLanes;
  for (int64_t q0 = 0; q0 < a.q_count; q0 += kTile) {
    const int64_t len = std::min(kTile, a.q_count - q0);
    const int vectors = static_cast<int>((len + S::kLanes - 1) / S::kLanes);
    const auto tail = S::tail_mask(static_cast<int>(len - (vectors - 1) * S::kLanes));
    switch (vectors) {
      case 1: spmm_rows<S, 1>(a, row_begin, row_end, q0, tail); break;
      case 2: spmm_rows<S, 2>(a, row_begin, row_end, q0, tail); break;
      case 3: spmm_rows<S, 3>(a, row_begin, row_end, q0, tail); break;
      case 4: spmm_rows<S, 4>(a, row_begin, row_end, q0, tail); break;
      case 5: spmm_rows<S, 5>(a, row_begin, row_end, q0, tail); break;
      case 6: spmm_rows<S, 6>(a, row_begin, row_end, q0, tail); break;
      case 7: spmm_rows<S, 7>(a, row_begin, row_end, q0, tail); break;
      default: spmm_rows<S, 8>(a, row_begin, row_end, q0, tail); break;
    }
  }
}

}  // namespace
}  // namespace domino::engine
