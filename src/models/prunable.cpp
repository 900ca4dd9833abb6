#include "domino/prunable.h"

#include <torch/torch.h>

namespace domino {

torch::Tensor PrunableConv2dImpl::forward(const torch::Tensor& input) {
  return _conv_forward(input, effective_weight());
}

torch::Tensor PrunableLinearImpl::forward(const torch::Tensor& input) {
  return torch::nn::functional::linear(input, effective_weight(), bias);
}

}  // namespace domino
