// N:M groups and masks (docs/ALGORITHM.md §1). A layer's weight is cut into groups of M
// consecutive weights in a layout's order; the mask keeps, per group, the N weights of
// largest |w|, ties to the lower index — bit for bit a stable descending sort.
#pragma once

#include <ATen/Tensor.h>

#include <string>

namespace domino {

// NHWC: conv weights [Cout, Cin, Kh, Kw] are grouped along input channels (the reduction
// dimension sparse hardware uses); NCHW: in native order. Linear [out, in]: along `in`.
enum class Layout { NHWC, NCHW };
Layout parse_layout(const std::string& name);
std::string to_string(Layout layout);

// A weight of `numel` elements can be grouped iff numel % M == 0.
bool groupable(at::IntArrayRef shape, int64_t M);
// Groups cross rows (output channels) when the row length is not a multiple of M:
// allowed, but hardware cannot run such a layer as is.
bool groups_cross_rows(at::IntArrayRef shape, int64_t M);

// [numel / M, M]: the weight's groups in the layout's order (a contiguous copy).
at::Tensor to_groups(const at::Tensor& weight, int64_t M, Layout layout);
// The inverse of to_groups: back to `shape` in native order.
at::Tensor from_groups(const at::Tensor& groups, at::IntArrayRef shape, Layout layout);

// Per row of `groups` [G, M], true for the N largest |values|, ties to the lower index.
// CPU: a dedicated rank-count kernel; other devices: the same rule in tensor ops.
at::Tensor topn_mask(const at::Tensor& groups, int64_t N);
// Whether the CPU kernels may use AVX-512 where the CPU has it (default on; tests and
// benchmarks turn it off to check and measure the portable path).
void set_topn_vectorised(bool on);
// topn_mask's device-generic path (what runs on GPUs), callable on any device for tests.
at::Tensor topn_mask_tensor_ops(const at::Tensor& groups, int64_t N);
// The N:M mask of a weight, in its own shape and dtype (1 kept, 0 pruned).
at::Tensor nm_mask(const at::Tensor& weight, int64_t N, int64_t M, Layout layout);

}  // namespace domino
