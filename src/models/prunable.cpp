#include "domino/prunable.h"

#include <torch/torch.h>

#include "domino/error.h"

namespace domino {

torch::Tensor PrunableConv2dImpl::forward(const torch::Tensor& input) {
  return _conv_forward(input, effective_weight());
}

torch::Tensor PrunableLinearImpl::forward(const torch::Tensor& input) {
  return torch::nn::functional::linear(input, effective_weight(), bias);
}

PrunableHandle prunable_layer(torch::nn::Module& model, const std::string& name) {
  const auto modules = model.named_modules("", /*include_self=*/false);
  if (!modules.contains(name)) fail("the model has no layer {}", name);
  const auto& module = modules[name];
  if (auto* conv = module->as<PrunableConv2dImpl>())
    return {[conv](WeightTransform t) { conv->set_weight_transform(std::move(t)); }, conv->weight};
  if (auto* linear = module->as<PrunableLinearImpl>())
    return {[linear](WeightTransform t) { linear->set_weight_transform(std::move(t)); }, linear->weight};
  fail("layer {} is not a PrunableConv2d or PrunableLinear: it cannot be masked", name);
}

}  // namespace domino
