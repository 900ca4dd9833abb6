// Conv2d and Linear whose forward may use a transformed weight (W ⊙ mask for the
// search, SR-STE for fine-tuning) while the module keeps the dense parameter. They are
// subclasses of LibTorch's modules, so parameter names and `as<Conv2dImpl>()` behave
// as for plain layers.
#pragma once

#include <torch/nn/modules/conv.h>
#include <torch/nn/modules/linear.h>

#include <functional>

namespace domino {

using WeightTransform = std::function<torch::Tensor(const torch::Tensor& weight)>;

class PrunableConv2dImpl : public torch::nn::Conv2dImpl {
 public:
  using torch::nn::Conv2dImpl::Conv2dImpl;
  torch::Tensor forward(const torch::Tensor& input);
  // An empty transform restores the dense forward.
  void set_weight_transform(WeightTransform transform) { transform_ = std::move(transform); }
  torch::Tensor effective_weight() const { return transform_ ? transform_(weight) : weight; }

 private:
  WeightTransform transform_;
};
TORCH_MODULE(PrunableConv2d);

class PrunableLinearImpl : public torch::nn::LinearImpl {
 public:
  using torch::nn::LinearImpl::LinearImpl;
  torch::Tensor forward(const torch::Tensor& input);
  void set_weight_transform(WeightTransform transform) { transform_ = std::move(transform); }
  torch::Tensor effective_weight() const { return transform_ ? transform_(weight) : weight; }

 private:
  WeightTransform transform_;
};
TORCH_MODULE(PrunableLinear);

// The prunable layer at module path `name` of `model`: its weight, and a setter for its
// weight transform. Throws if there is no such layer or it is not prunable.
struct PrunableHandle {
  std::function<void(WeightTransform)> set_transform;
  torch::Tensor weight;
};
PrunableHandle prunable_layer(torch::nn::Module& model, const std::string& name);

}  // namespace domino
