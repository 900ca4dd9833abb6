#include "domino/nm/nm.h"

#include <ATen/Parallel.h>
#include <torch/torch.h>

#include <atomic>
#include <type_traits>

#if defined(__x86_64__)
#include <immintrin.h>
#endif

#include "domino/core/error.h"
#include "domino/core/names.h"

namespace domino {

Layout parse_layout(const std::string& name) {
  if (name == "NHWC" || name == "nhwc") return Layout::NHWC;
  if (name == "NCHW" || name == "nchw") return Layout::NCHW;
  fail_unknown("layout", name, {"NHWC", "NCHW"});
}

std::string to_string(Layout layout) { return layout == Layout::NHWC ? "NHWC" : "NCHW"; }

bool groupable(at::IntArrayRef shape, int64_t M) { return c10::multiply_integers(shape) % M == 0; }

bool groups_cross_rows(at::IntArrayRef shape, int64_t M) {
  return (c10::multiply_integers(shape) / shape[0]) % M != 0;
}

at::Tensor to_groups(const at::Tensor& weight, int64_t M, Layout layout) {
  if (!groupable(weight.sizes(), M)) fail("a weight of {} elements cannot be cut into groups of {}", weight.numel(), M);
  const auto ordered = (weight.dim() == 4 && layout == Layout::NHWC) ? weight.permute({0, 2, 3, 1}) : weight;
  return ordered.contiguous().view({-1, M});
}

at::Tensor from_groups(const at::Tensor& groups, at::IntArrayRef shape, Layout layout) {
  if (shape.size() == 4 && layout == Layout::NHWC)
    return groups.reshape({shape[0], shape[2], shape[3], shape[1]}).permute({0, 3, 1, 2}).contiguous();
  return groups.reshape(shape);
}

namespace {

// rank(i) = #{j : |x_j| > |x_i|} + #{j < i : |x_j| == |x_i|}: x_i's position in a
// stable descending sort. Keep iff rank < N. For the small M of N:M sparsity this
// branch-free O(M^2) count beats sorting; with M known at compile time the loops unroll
// and vectorise. The tie term is split out as #{j < i : |x_j| >= |x_i|} - #{j < i : >}.
template <typename T, typename Out, int64_t kM>
void topn_group(const T* x, Out* out, int64_t M, int64_t N) {
  constexpr int64_t kMax = kM > 0 ? kM : 256;
  const int64_t m = kM > 0 ? kM : M;
  T a[kMax];
  for (int64_t j = 0; j < m; ++j) a[j] = std::abs(x[j]);
  for (int64_t i = 0; i < m; ++i) {
    const T ai = a[i];
    int32_t rank = 0;
    for (int64_t j = 0; j < m; ++j) rank += a[j] > ai;
    for (int64_t j = 0; j < i; ++j) rank += a[j] == ai;
    out[i] = static_cast<Out>(rank < N);
  }
}

#if defined(__x86_64__)
// The same rank count with AVX-512, for float groups of M = 16k: the lanes are the
// group's positions i, and each j adds (|x_j| > |x_i|) or (j < i and |x_j| == |x_i|) to
// rank_i, sixteen ranks at a time. Ordered compares: NaN ranks as the scalar code does.
template <typename Out>
__attribute__((target("avx512f"))) void topn_range_avx512(const float* values, Out* keep, int64_t begin, int64_t end,
                                                           int64_t M, int64_t N) {
  const __m512i one = _mm512_set1_epi32(1), n = _mm512_set1_epi32(static_cast<int>(N));
  const int64_t vectors = M / 16;
  __m512 a[16];  // M <= 256
  for (int64_t g = begin; g < end; ++g) {
    const float* x = values + g * M;
    for (int64_t v = 0; v < vectors; ++v) a[v] = _mm512_abs_ps(_mm512_loadu_ps(x + 16 * v));
    for (int64_t v = 0; v < vectors; ++v) {
      __m512i rank = _mm512_setzero_si512();
      for (int64_t j = 0; j < M; ++j) {
        const __m512 b = _mm512_set1_ps(std::abs(x[j]));
        const int64_t d = j - 16 * v;  // lane l is position 16v + l: later than j when l > d
        const auto later = static_cast<__mmask16>(d < 0 ? 0xFFFF : d >= 15 ? 0 : (0xFFFF << (d + 1)) & 0xFFFF);
        const __mmask16 gt = _mm512_cmp_ps_mask(b, a[v], _CMP_GT_OQ);
        const __mmask16 eq = _mm512_mask_cmp_ps_mask(later, b, a[v], _CMP_EQ_OQ);
        rank = _mm512_mask_add_epi32(rank, static_cast<__mmask16>(gt | eq), rank, one);
      }
      const __mmask16 kept = _mm512_cmplt_epi32_mask(rank, n);
      Out* out = keep + g * M + 16 * v;
      if constexpr (std::is_same_v<Out, float>)
        _mm512_storeu_ps(out, _mm512_maskz_mov_ps(kept, _mm512_set1_ps(1.0f)));
      else
        _mm_storeu_si128(reinterpret_cast<__m128i*>(out), _mm512_maskz_cvtepi32_epi8(kept, one));
    }
  }
}
#endif

std::atomic<bool> g_vectorised{true};

bool use_avx512(int64_t M) {
#if defined(__x86_64__)
  static const bool available = __builtin_cpu_supports("avx512f");
  return available && g_vectorised.load() && M % 16 == 0;
#else
  (void)M;
  return false;
#endif
}

// 256 groups a task: a mid-sized layer (a few thousand groups) already uses every thread.
template <typename T, typename Out, int64_t kM>
void topn_cpu(const T* values, Out* keep, int64_t groups, int64_t M, int64_t N) {
#if defined(__x86_64__)
  if constexpr (std::is_same_v<T, float> && (std::is_same_v<Out, float> || std::is_same_v<Out, bool>)) {
    if (use_avx512(M)) {
      at::parallel_for(0, groups, 256, [&](int64_t begin, int64_t end) {
        topn_range_avx512<Out>(values, keep, begin, end, M, N);
      });
      return;
    }
  }
#endif
  at::parallel_for(0, groups, 256, [&](int64_t begin, int64_t end) {
    for (int64_t g = begin; g < end; ++g) topn_group<T, Out, kM>(values + g * M, keep + g * M, M, N);
  });
}

template <typename T, typename Out>
void topn_dispatch(const T* values, Out* keep, int64_t groups, int64_t M, int64_t N) {
  switch (M) {
    case 4: return topn_cpu<T, Out, 4>(values, keep, groups, M, N);
    case 8: return topn_cpu<T, Out, 8>(values, keep, groups, M, N);
    case 16: return topn_cpu<T, Out, 16>(values, keep, groups, M, N);
    case 32: return topn_cpu<T, Out, 32>(values, keep, groups, M, N);
    default: return topn_cpu<T, Out, 0>(values, keep, groups, M, N);
  }
}

// Whether the weight's groups of `layout` are runs of M consecutive elements in memory:
// NHWC groups of a channels-last 4-d weight, NCHW groups (or any 2-d weight) of a
// contiguous one.
bool groups_in_memory_order(const at::Tensor& weight, Layout layout) {
  if (weight.dim() == 4 && layout == Layout::NHWC) return weight.is_contiguous(c10::MemoryFormat::ChannelsLast);
  return weight.is_contiguous();
}

}  // namespace

void set_topn_vectorised(bool on) { g_vectorised = on; }

at::Tensor topn_mask_tensor_ops(const at::Tensor& groups, int64_t N) {
  const int64_t M = groups.size(1);
  const auto a = groups.abs();
  const auto ai = a.unsqueeze(2), aj = a.unsqueeze(1);  // [G, M(i), 1], [G, 1, M(j)]
  const auto idx = torch::arange(M, groups.options().dtype(torch::kLong));
  const auto earlier = idx.unsqueeze(0) < idx.unsqueeze(1);  // [i, j]: j < i
  const auto rank = ((aj > ai) | ((aj == ai) & earlier)).sum(2);
  return rank < N;
}

at::Tensor topn_mask(const at::Tensor& groups, int64_t N) {
  TORCH_CHECK(groups.dim() == 2, "topn_mask expects [G, M] groups");
  const int64_t G = groups.size(0), M = groups.size(1);
  if (N >= M) return torch::ones({G, M}, groups.options().dtype(torch::kBool));
  if (N < 1) fail("N must be at least 1, got {}", N);
  if (M > 256) fail("M must be at most 256, got {}", M);
  if (!groups.device().is_cpu()) return topn_mask_tensor_ops(groups, N);
  const auto x = groups.contiguous();
  auto keep = torch::empty({G, M}, groups.options().dtype(torch::kBool));
  AT_DISPATCH_FLOATING_TYPES(x.scalar_type(), "topn_mask", [&] {
    topn_dispatch<scalar_t, bool>(x.data_ptr<scalar_t>(), keep.data_ptr<bool>(), G, M, N);
  });
  return keep;
}

at::Tensor nm_mask(const at::Tensor& weight, int64_t N, int64_t M, Layout layout) {
  if (N >= M) return torch::ones_like(weight);
  if (weight.device().is_cpu() && groups_in_memory_order(weight, layout) && groupable(weight.sizes(), M) && N >= 1 &&
      M <= 256) {
    // The mask straight into a tensor laid out as the weight: no group copy, no bool pass.
    auto mask = at::empty_like(weight);
    AT_DISPATCH_FLOATING_TYPES(weight.scalar_type(), "nm_mask", [&] {
      topn_dispatch<scalar_t, scalar_t>(weight.data_ptr<scalar_t>(), mask.data_ptr<scalar_t>(), weight.numel() / M, M, N);
    });
    return mask;
  }
  const auto keep = topn_mask(to_groups(weight, M, layout), N).to(weight.scalar_type());
  // Groups are cut from the logical shape; the mask takes the weight's memory layout (a
  // channels-last weight's NHWC groups already lie in memory order: no copy either way).
  const auto sizes = weight.sizes();
  const auto mask = (sizes.size() == 4 && layout == Layout::NHWC)
                        ? keep.view({sizes[0], sizes[2], sizes[3], sizes[1]}).permute({0, 3, 1, 2})
                        : keep.view(sizes);
  return mask.contiguous(weight.suggest_memory_format());
}

}  // namespace domino
