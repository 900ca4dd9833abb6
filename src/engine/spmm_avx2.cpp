// The AVX2 + FMA kernel (8 floats a vector). Compiled with -mavx2 -mfma (CMakeLists.txt)
// and called only when the CPU reports both (isa.cpp).
#if defined(__x86_64__)
#include <immintrin.h>

#include "engine/spmm_vector.h"

namespace domino::engine {
namespace {

struct Avx2 {
  static constexpr int64_t kLanes = 8;
  using V = __m256;
  using Mask = __m256i;
  static Mask tail_mask(int n) { return _mm256_cmpgt_epi32(_mm256_set1_epi32(n), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7)); }
  static V set1(float v) { return _mm256_set1_ps(v); }
  static V load(const float* p) { return _mm256_loadu_ps(p); }
  static V load(Mask m, const float* p) { return _mm256_maskload_ps(p, m); }
  static V fma(V a, V b, V c) { return _mm256_fmadd_ps(a, b, c); }
  static V max0(V v) { return _mm256_max_ps(v, _mm256_setzero_ps()); }
  static void store(float* p, V v) { _mm256_storeu_ps(p, v); }
  static void store(Mask m, float* p, V v) { _mm256_maskstore_ps(p, m, v); }
};

}  // namespace

void spmm_avx2(const SpmmTask& task, int64_t row_begin, int64_t row_end) {
  spmm_vector<Avx2>(task, row_begin, row_end);
}

}  // namespace domino::engine
#endif  // __x86_64__
