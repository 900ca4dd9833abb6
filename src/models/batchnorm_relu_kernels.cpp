// Compiled with AVX-512 flags (CMakeLists.txt) on x86-64 only; called only where the CPU
// has AVX-512 (batchnorm_relu.cpp checks).
#include "models/batchnorm_relu_kernels.h"

#if defined(__x86_64__)
// GCC 12's AVX-512 intrinsics that start from _mm512_undefined_*() warn "may be used
// uninitialized" once inlined (GCC bug 105593, fixed in later releases); nothing here is.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif
#include <immintrin.h>

namespace domino::bn_kernels {

namespace {

// 16 values of a row as floats. bf16 is the top half of a float: widening is a shift;
// narrowing rounds to nearest even and keeps NaN a quiet NaN, as c10::BFloat16 does.
inline __m512 load(const float* p) { return _mm512_loadu_ps(p); }
inline __m512 load(const uint16_t* p) {
  const __m512i wide = _mm512_cvtepu16_epi32(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(p)));
  return _mm512_castsi512_ps(_mm512_slli_epi32(wide, 16));
}
inline void store(float* p, __m512 v) { _mm512_storeu_ps(p, v); }
inline void store(uint16_t* p, __m512 v) {
  const __m512i u = _mm512_castps_si512(v);
  const __m512i odd = _mm512_and_si512(_mm512_srli_epi32(u, 16), _mm512_set1_epi32(1));
  __m512i r = _mm512_srli_epi32(_mm512_add_epi32(u, _mm512_add_epi32(odd, _mm512_set1_epi32(0x7FFF))), 16);
  r = _mm512_mask_mov_epi32(r, _mm512_cmp_ps_mask(v, v, _CMP_UNORD_Q), _mm512_set1_epi32(0x7FC0));
  _mm256_storeu_si256(reinterpret_cast<__m256i*>(p), _mm512_cvtepi32_epi16(r));
}
// max(v, 0) that keeps NaN, as LibTorch's ReLU does (vmaxps returns its second operand
// where either is NaN).
inline __m512 relu(__m512 v) { return _mm512_max_ps(_mm512_setzero_ps(), v); }
// dz: dy except where the ReLU's output is <= 0, as LibTorch's threshold_backward.
inline __m512 relu_grad(__m512 y, __m512 dy) {
  return _mm512_maskz_mov_ps(_mm512_cmp_ps_mask(y, _mm512_setzero_ps(), _CMP_NLE_UQ), dy);
}

template <typename T>
void sums_avx512(const T* x, Chunk k, float* out) {
  for (int64_t j = 0; j < k.C; j += 16) {
    __m512 a = _mm512_setzero_ps(), b = _mm512_setzero_ps();  // two chains: half the add latency
    int64_t r = 0;
    for (; r + 1 < k.rows; r += 2) {
      a = _mm512_add_ps(a, load(x + r * k.C + j));
      b = _mm512_add_ps(b, load(x + (r + 1) * k.C + j));
    }
    if (r < k.rows) a = _mm512_add_ps(a, load(x + r * k.C + j));
    _mm512_storeu_ps(out + j, _mm512_add_ps(_mm512_loadu_ps(out + j), _mm512_add_ps(a, b)));
  }
}

template <typename T>
void square_deviations_avx512(const T* x, Chunk k, const float* mean, float* out) {
  for (int64_t j = 0; j < k.C; j += 16) {
    const __m512 m = _mm512_loadu_ps(mean + j);
    __m512 a = _mm512_setzero_ps(), b = _mm512_setzero_ps();
    int64_t r = 0;
    for (; r + 1 < k.rows; r += 2) {
      const __m512 d0 = _mm512_sub_ps(load(x + r * k.C + j), m), d1 = _mm512_sub_ps(load(x + (r + 1) * k.C + j), m);
      a = _mm512_fmadd_ps(d0, d0, a);
      b = _mm512_fmadd_ps(d1, d1, b);
    }
    if (r < k.rows) {
      const __m512 d = _mm512_sub_ps(load(x + r * k.C + j), m);
      a = _mm512_fmadd_ps(d, d, a);
    }
    _mm512_storeu_ps(out + j, _mm512_add_ps(_mm512_loadu_ps(out + j), _mm512_add_ps(a, b)));
  }
}

template <typename T>
void normalize_avx512(const T* x, const T* residual, Chunk k, const float* scale, const float* shift, T* y) {
  for (int64_t r = 0; r < k.rows; ++r)
    for (int64_t j = 0; j < k.C; j += 16) {
      const int64_t o = r * k.C + j;
      __m512 v = _mm512_fmadd_ps(load(x + o), _mm512_loadu_ps(scale + j), _mm512_loadu_ps(shift + j));
      if (residual) v = _mm512_add_ps(v, load(residual + o));
      store(y + o, relu(v));
    }
}

template <typename T>
void backward_sums_avx512(const T* dy, const T* y, const T* x, Chunk k, const float* mean, float* sum_dz,
                          float* sum_dz_xmu) {
  for (int64_t j = 0; j < k.C; j += 16) {
    const __m512 m = _mm512_loadu_ps(mean + j);
    __m512 a = _mm512_setzero_ps(), b = _mm512_setzero_ps();
    for (int64_t r = 0; r < k.rows; ++r) {
      const int64_t o = r * k.C + j;
      const __m512 dz = relu_grad(load(y + o), load(dy + o));
      a = _mm512_add_ps(a, dz);
      b = _mm512_fmadd_ps(dz, _mm512_sub_ps(load(x + o), m), b);
    }
    _mm512_storeu_ps(sum_dz + j, _mm512_add_ps(_mm512_loadu_ps(sum_dz + j), a));
    _mm512_storeu_ps(sum_dz_xmu + j, _mm512_add_ps(_mm512_loadu_ps(sum_dz_xmu + j), b));
  }
}

template <typename T>
void backward_dx_avx512(const T* dy, const T* y, const T* x, Chunk k, const float* mean, const float* a,
                        const float* b, const float* kx, T* dx, T* d_residual) {
  for (int64_t r = 0; r < k.rows; ++r)
    for (int64_t j = 0; j < k.C; j += 16) {
      const int64_t o = r * k.C + j;
      const __m512 dz = relu_grad(load(y + o), load(dy + o));
      const __m512 centred = _mm512_sub_ps(load(x + o), _mm512_loadu_ps(mean + j));
      const __m512 v = _mm512_fmsub_ps(_mm512_loadu_ps(a + j), dz, _mm512_loadu_ps(b + j));
      store(dx + o, _mm512_fnmadd_ps(centred, _mm512_loadu_ps(kx + j), v));
      if (d_residual) store(d_residual + o, dz);
    }
}

// Runs f(T{}) for the storage's element type: float, or bf16's 16 bits.
template <typename F>
void on_storage(Storage s, F f) {
  if (s == Storage::Float)
    f(float{});
  else
    f(uint16_t{});
}

}  // namespace

void channel_sums(Storage s, const void* x, Chunk k, float* out) {
  on_storage(s, [&](auto t) { sums_avx512(static_cast<const decltype(t)*>(x), k, out); });
}
void channel_square_deviations(Storage s, const void* x, Chunk k, const float* mean, float* out) {
  on_storage(s, [&](auto t) { square_deviations_avx512(static_cast<const decltype(t)*>(x), k, mean, out); });
}
void normalize_relu(Storage s, const void* x, const void* residual, Chunk k, const float* scale, const float* shift, void* y) {
  on_storage(s, [&](auto t) {
    using T = decltype(t);
    normalize_avx512(static_cast<const T*>(x), static_cast<const T*>(residual), k, scale, shift, static_cast<T*>(y));
  });
}
void backward_sums(Storage s, const void* dy, const void* y, const void* x, Chunk k, const float* mean, float* sum_dz,
                   float* sum_dz_xmu) {
  on_storage(s, [&](auto t) {
    using T = decltype(t);
    backward_sums_avx512(static_cast<const T*>(dy), static_cast<const T*>(y), static_cast<const T*>(x), k, mean, sum_dz,
                         sum_dz_xmu);
  });
}
void backward_dx(Storage s, const void* dy, const void* y, const void* x, Chunk k, const float* mean, const float* a,
                 const float* b, const float* kx, void* dx, void* d_residual) {
  on_storage(s, [&](auto t) {
    using T = decltype(t);
    backward_dx_avx512(static_cast<const T*>(dy), static_cast<const T*>(y), static_cast<const T*>(x), k, mean, a, b, kx,
                       static_cast<T*>(dx), static_cast<T*>(d_residual));
  });
}

}  // namespace domino::bn_kernels

#else  // not x86-64: never called (batchnorm_relu.cpp runs LibTorch's ops there)

namespace domino::bn_kernels {
void channel_sums(Storage, const void*, Chunk, float*) {}
void channel_square_deviations(Storage, const void*, Chunk, const float*, float*) {}
void normalize_relu(Storage, const void*, const void*, Chunk, const float*, const float*, void*) {}
void backward_sums(Storage, const void*, const void*, const void*, Chunk, const float*, float*, float*) {}
void backward_dx(Storage, const void*, const void*, const void*, Chunk, const float*, const float*, const float*, const float*,
                 void*, void*) {}
}  // namespace domino::bn_kernels
#endif
