#include "domino/nm.h"

#include <ATen/Parallel.h>
#include <torch/torch.h>

#include "domino/error.h"

namespace domino {

Layout parse_layout(const std::string& name) {
  if (name == "NHWC" || name == "nhwc") return Layout::NHWC;
  if (name == "NCHW" || name == "nchw") return Layout::NCHW;
  fail("unknown layout '{}' (valid: NHWC, NCHW)", name);
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
template <typename T, int64_t kM>
void topn_group(const T* x, bool* out, int64_t M, int64_t N) {
  constexpr int64_t kMax = kM > 0 ? kM : 256;
  const int64_t m = kM > 0 ? kM : M;
  T a[kMax];
  for (int64_t j = 0; j < m; ++j) a[j] = std::abs(x[j]);
  for (int64_t i = 0; i < m; ++i) {
    const T ai = a[i];
    int32_t rank = 0;
    for (int64_t j = 0; j < m; ++j) rank += a[j] > ai;
    for (int64_t j = 0; j < i; ++j) rank += a[j] == ai;
    out[i] = rank < N;
  }
}

template <typename T, int64_t kM>
void topn_cpu(const T* values, bool* keep, int64_t groups, int64_t M, int64_t N) {
  at::parallel_for(0, groups, 1024, [&](int64_t begin, int64_t end) {
    for (int64_t g = begin; g < end; ++g) topn_group<T, kM>(values + g * M, keep + g * M, M, N);
  });
}

template <typename T>
void topn_dispatch(const T* values, bool* keep, int64_t groups, int64_t M, int64_t N) {
  switch (M) {
    case 4: return topn_cpu<T, 4>(values, keep, groups, M, N);
    case 8: return topn_cpu<T, 8>(values, keep, groups, M, N);
    case 16: return topn_cpu<T, 16>(values, keep, groups, M, N);
    case 32: return topn_cpu<T, 32>(values, keep, groups, M, N);
    default: return topn_cpu<T, 0>(values, keep, groups, M, N);
  }
}

}  // namespace

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
    topn_dispatch<scalar_t>(x.data_ptr<scalar_t>(), keep.data_ptr<bool>(), G, M, N);
  });
  return keep;
}

at::Tensor nm_mask(const at::Tensor& weight, int64_t N, int64_t M, Layout layout) {
  if (N >= M) return torch::ones_like(weight);
  const auto keep = topn_mask(to_groups(weight, M, layout), N);
  return from_groups(keep, weight.sizes(), layout).to(weight.scalar_type());
}

}  // namespace domino
