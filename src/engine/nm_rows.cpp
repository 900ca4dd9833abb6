#include "engine/nm_rows.h"

#include <torch/torch.h>

#include "domino/core/error.h"

namespace domino::engine {

NmRows nm_rows(const NmLayer& weight) {
  const int64_t rows = weight.shape.at(0);
  const int64_t numel = c10::multiply_integers(weight.shape);
  const int64_t row_length = numel / rows;
  if (row_length % weight.M != 0)
    fail("{}: rows of {} weights do not split into groups of {}; the engine runs this layer dense", weight.name,
         row_length, weight.M);
  const int64_t groups = numel / weight.M;
  if (weight.values.sizes() != at::IntArrayRef{groups, weight.N} || weight.indices.sizes() != weight.values.sizes())
    fail("{}: compressed weight has {} groups of {}, its shape needs {}", weight.name, weight.values.size(0),
         weight.values.dim() > 1 ? weight.values.size(1) : 0, groups);
  const auto values = weight.values.to(torch::kFloat).contiguous();
  const auto indices = weight.indices.to(torch::kLong).contiguous();
  if (indices.ge(weight.M).any().item<bool>()) fail("{}: an in-group index is M={} or more", weight.name, weight.M);
  NmRows out;
  out.nnz = row_length / weight.M * weight.N;
  out.values.assign(values.data_ptr<float>(), values.data_ptr<float>() + values.numel());
  out.position.resize(static_cast<size_t>(values.numel()));
  const int64_t* index = indices.data_ptr<int64_t>();
  // Groups are stored row after row, so the i-th kept value of the table is row i / nnz's.
  for (int64_t i = 0; i < values.numel(); ++i) {
    const int64_t group_in_row = (i / weight.N) % (row_length / weight.M);
    out.position[i] = group_in_row * weight.M + index[i];
  }
  return out;
}

std::vector<float> bias_vector(const std::string& layer, const at::Tensor& bias, int64_t outputs) {
  if (!bias.defined()) return {};
  if (bias.numel() != outputs) fail("{}: bias has {} values for {} outputs", layer, bias.numel(), outputs);
  const auto b = bias.detach().to(torch::kCPU, torch::kFloat).contiguous();
  return {b.data_ptr<float>(), b.data_ptr<float>() + b.numel()};
}

OffsetCache::Offsets OffsetCache::get(int64_t a, int64_t b, const std::function<std::vector<int32_t>()>& make) const {
  std::lock_guard<std::mutex> lock(mutex_);
  if (!offsets_ || a != a_ || b != b_) {
    offsets_ = std::make_shared<const std::vector<int32_t>>(make());
    a_ = a;
    b_ = b;
  }
  return offsets_;
}

}  // namespace domino::engine
