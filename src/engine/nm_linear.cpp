// An N:M linear layer: the same product with the input transposed to [in][B], so each kept
// weight reads a run of B values (one per sample).
#include <torch/torch.h>

#include <limits>

#include "core/shape.h"
#include "domino/core/error.h"
#include "domino/engine/engine.h"
#include "engine/nm_rows.h"
#include "engine/spmm_kernel.h"

namespace domino::engine {

NmLinear::NmLinear(const NmLayer& weight, const at::Tensor& bias) {
  if (weight.shape.size() != 2) fail("{}: an N:M linear layer needs a 2-d weight, not {}-d", weight.name, weight.shape.size());
  out_ = weight.shape[0];
  in_ = weight.shape[1];
  auto rows = nm_rows(weight);
  nnz_ = rows.nnz;
  values_ = std::move(rows.values);
  column_.assign(rows.position.begin(), rows.position.end());
  bias_ = bias_vector(weight.name, bias, out_);
  offsets_ = std::make_shared<OffsetCache>();
}

at::Tensor NmLinear::forward(const at::Tensor& input, bool relu) const {
  if (input.dim() != 2 || input.size(1) != in_) fail("N:M linear layer: expected input [B, {}], got {}", in_, shape_str(input.sizes()));
  if (!input.is_cpu()) fail("N:M linear layer: the engine runs on the CPU, the input is on {}", input.device().str());
  const int64_t batch = input.size(0);
  if (in_ * batch > std::numeric_limits<int32_t>::max()) fail("N:M linear layer: input too large for 32-bit offsets");
  const auto xt = input.to(torch::kFloat).t().contiguous();
  const auto offsets = offsets_->get(batch, 0, [&] {
    std::vector<int32_t> made(column_.size());
    for (size_t i = 0; i < made.size(); ++i) made[i] = static_cast<int32_t>(column_[i] * batch);
    return made;
  });
  auto y = torch::empty({out_, batch}, torch::kFloat);
  const SpmmTask task{xt.data_ptr<float>(), offsets->data(), values_.data(), bias_.empty() ? nullptr : bias_.data(),
                      y.data_ptr<float>(), batch, nnz_, batch, relu};
  run_spmm(&task, 1, out_);
  return y.t().contiguous();
}

}  // namespace domino::engine
