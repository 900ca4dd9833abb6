// The portable kernel: plain C++ the compiler vectorises for the baseline instruction set
// (SSE2 on x86-64), for CPUs without AVX2 and as the reference the vector paths are tested against.
#include <algorithm>

#include "engine/spmm_kernel.h"

namespace domino::engine {

void spmm_portable(const SpmmTask& t, int64_t row_begin, int64_t row_end) {
  constexpr int64_t kTile = 256;  // outputs kept in L1 while a row's weights stream past
  for (int64_t q0 = 0; q0 < t.q_count; q0 += kTile) {
    const int64_t len = std::min(kTile, t.q_count - q0);
    for (int64_t r = row_begin; r < row_end; ++r) {
      float* y = t.y + r * t.y_stride + q0;
      const float b = t.bias ? t.bias[r] : 0.f;
      for (int64_t q = 0; q < len; ++q) y[q] = b;
      const int32_t* off = t.offsets + r * t.nnz;
      const float* val = t.values + r * t.nnz;
      for (int64_t k = 0; k < t.nnz; ++k) {
        const float v = val[k];
        const float* x = t.x + off[k] + q0;
        for (int64_t q = 0; q < len; ++q) y[q] += v * x[q];
      }
      if (t.relu)
        for (int64_t q = 0; q < len; ++q) y[q] = std::max(y[q], 0.f);
    }
  }
}

}  // namespace domino::engine
