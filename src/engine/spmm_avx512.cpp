// The AVX-512 kernel (16 floats a vector). Compiled with -mavx512f -mfma (CMakeLists.txt)
// and called only when the CPU reports AVX-512F (isa.cpp), so the build never needs -march=native.
#if defined(__x86_64__)
#include <immintrin.h>

#include "engine/spmm_vector.h"

namespace domino::engine {
namespace {

struct Avx512 {
  static constexpr int64_t kLanes = 16;
  using V = __m512;
  using Mask = __mmask16;
  static Mask tail_mask(int n) { return static_cast<Mask>(n >= 16 ? 0xFFFF : (1u << n) - 1); }
  static V set1(float v) { return _mm512_set1_ps(v); }
  static V load(const float* p) { return _mm512_loadu_ps(p); }
  static V load(Mask m, const float* p) { return _mm512_maskz_loadu_ps(m, p); }
  static V fma(V a, V b, V c) { return _mm512_fmadd_ps(a, b, c); }
  // A masked move, not _mm512_max_ps: GCC 12 warns on that intrinsic's undefined pass-through.
  static V max0(V v) { return _mm512_maskz_mov_ps(_mm512_cmp_ps_mask(v, _mm512_setzero_ps(), _CMP_GT_OQ), v); }
  static void store(float* p, V v) { _mm512_storeu_ps(p, v); }
  static void store(Mask m, float* p, V v) { _mm512_mask_storeu_ps(p, m, v); }
};

}  // namespace

void spmm_avx512(const SpmmTask& task, int64_t row_begin, int64_t row_end) {
  spmm_vector<Avx512>(task, row_begin, row_end);
}

}  // namespace domino::engine
#endif  // __x86_64__
