#include "domino/models/prunable.h"

#include <torch/torch.h>

#include "domino/core/error.h"
#include "models/activations.h"
#include "models/batchnorm_relu.h"

namespace domino {

torch::Tensor PrunableConv2dImpl::forward(const torch::Tensor& input) {
  return override_ ? override_(input) : dense_forward(input);
}

torch::Tensor PrunableLinearImpl::forward(const torch::Tensor& input) {
  return override_ ? override_(input) : torch::nn::functional::linear(input, effective_weight(), bias);
}

FoldableBatchNorm2dImpl::FoldableBatchNorm2dImpl(int64_t features, double eps, double momentum)
    : num_features(features), eps(eps), momentum(momentum) {
  reset();
}

void FoldableBatchNorm2dImpl::reset() {
  weight = register_parameter("weight", torch::ones({num_features}));
  bias = register_parameter("bias", torch::zeros({num_features}));
  running_mean = register_buffer("running_mean", torch::zeros({num_features}));
  running_var = register_buffer("running_var", torch::ones({num_features}));
  num_batches_tracked = register_buffer("num_batches_tracked", torch::tensor(0, torch::kLong));
}

torch::Tensor FoldableBatchNorm2dImpl::forward(const torch::Tensor& input) {
  if (folded_) return input;
  if (input.dim() != 4) fail("BatchNorm2d expects a 4-d input, got {}-d", input.dim());
  if (is_training()) num_batches_tracked += 1;
  if (is_training() && cross_sum_) return synced_forward(input);
  // What torch::nn::BatchNorm2d computes, through the same function.
  return torch::nn::functional::detail::batch_norm(input, running_mean, running_var, weight, bias, is_training(), momentum, eps);
}

torch::Tensor FoldableBatchNorm2dImpl::forward_relu(const torch::Tensor& input, const torch::Tensor& residual) {
  if (!folded_ && is_training() && !cross_sum_) {
    const BatchNormParams p{weight, bias, running_mean, running_var, momentum, eps};
    if (batchnorm_relu_applies(input, residual, p)) {
      num_batches_tracked += 1;
      return batchnorm_relu_train(input, residual, p);
    }
  }
  auto y = forward(input);
  return residual.defined() ? add_relu(y, residual) : relu_fresh(y);
}

torch::Tensor FoldableBatchNorm2dImpl::synced_forward(const torch::Tensor& input) {
  // Two passes, as a single process computes them: the mean over all ranks' samples, then
  // the variance about it (E[x^2] - mean^2 would lose digits to cancellation). fp32 throughout.
  const auto x = input.to(torch::kFloat);
  const int64_t channels = x.size(1);
  const std::vector<int64_t> reduced = {0, 2, 3};
  const auto count = torch::full({1}, static_cast<double>(x.numel() / channels), x.options());
  const auto sums = cross_sum_(torch::cat({x.sum(reduced), count}));
  const auto n = sums[channels];
  const auto mean = sums.narrow(0, 0, channels) / n;
  const auto centred = x - mean.view({1, channels, 1, 1});
  const auto var = cross_sum_(centred.square().sum(reduced)) / n;  // biased, as the normalisation uses
  {
    torch::NoGradGuard no_grad;
    running_mean.mul_(1 - momentum).add_(mean.detach(), momentum);
    running_var.mul_(1 - momentum).add_(var.detach() * n.detach() / (n.detach() - 1), momentum);
  }
  const auto scale = (torch::rsqrt(var + eps) * weight).view({1, channels, 1, 1});
  return centred * scale + bias.view({1, channels, 1, 1});
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
