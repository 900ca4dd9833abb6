// Conv2d and Linear whose forward may use a transformed weight (W ⊙ mask for the
// search, SR-STE for fine-tuning) while the module keeps the dense parameter, or be
// replaced outright (the N:M inference engine); BatchNorm that can be folded into the
// convolution before it. They are subclasses of LibTorch's modules, so parameter names
// and `as<Conv2dImpl>()` behave as for plain layers.
#pragma once

#include <torch/nn/cloneable.h>
#include <torch/nn/modules/conv.h>
#include <torch/nn/modules/linear.h>

#include <functional>

namespace domino {

using WeightTransform = std::function<torch::Tensor(const torch::Tensor& weight)>;
// A whole forward computed elsewhere (input -> output); empty restores the module's own.
using ForwardOverride = std::function<torch::Tensor(const torch::Tensor& input)>;
// relu(forward(input) + residual) computed at once (residual undefined: none), where an
// override can fuse them (the N:M engine adds and clamps as it stores).
using FusedReluForward = std::function<torch::Tensor(const torch::Tensor& input, const torch::Tensor& residual)>;

class PrunableConv2dImpl : public torch::nn::Conv2dImpl {
 public:
  using torch::nn::Conv2dImpl::Conv2dImpl;
  torch::Tensor forward(const torch::Tensor& input);
  // The module's own convolution (effective weight), whatever the override.
  torch::Tensor dense_forward(const torch::Tensor& input) { return _conv_forward(input, effective_weight()); }
  // An empty transform restores the dense forward.
  void set_weight_transform(WeightTransform transform) { transform_ = std::move(transform); }
  torch::Tensor effective_weight() const { return transform_ ? transform_(weight) : weight; }
  // `fused`, if given, is the same forward with the ReLU (and a residual add) in it
  // (conv_bn_relu uses it); it goes with the override it is given with.
  void set_forward_override(ForwardOverride forward, FusedReluForward fused = {}) {
    override_ = std::move(forward);
    fused_ = std::move(fused);
  }
  const ForwardOverride& forward_override() const { return override_; }
  const FusedReluForward& fused_relu_forward() const { return fused_; }

 private:
  WeightTransform transform_;
  ForwardOverride override_;
  FusedReluForward fused_;
};
TORCH_MODULE(PrunableConv2d);

class PrunableLinearImpl : public torch::nn::LinearImpl {
 public:
  using torch::nn::LinearImpl::LinearImpl;
  torch::Tensor forward(const torch::Tensor& input);
  void set_weight_transform(WeightTransform transform) { transform_ = std::move(transform); }
  torch::Tensor effective_weight() const { return transform_ ? transform_(weight) : weight; }
  void set_forward_override(ForwardOverride forward) { override_ = std::move(forward); }
  const ForwardOverride& forward_override() const { return override_; }

 private:
  WeightTransform transform_;
  ForwardOverride override_;
};
TORCH_MODULE(PrunableLinear);

// BatchNorm2d (torch.nn.BatchNorm2d's parameters, buffers, names and arithmetic) that
// becomes the identity once its affine map has been folded into the convolution that
// feeds it (inference only). Its own module, not a subclass of LibTorch's: that class's
// virtual members are not exported by Debian's libtorch, so a subclass does not link.
class FoldableBatchNorm2dImpl : public torch::nn::Cloneable<FoldableBatchNorm2dImpl> {
 public:
  explicit FoldableBatchNorm2dImpl(int64_t features, double eps = 1e-5, double momentum = 0.1);
  void reset() override;
  torch::Tensor forward(const torch::Tensor& input);
  // relu(forward(input) + residual) (no residual: relu(forward(input))). In training, on
  // channels-last CPU tensors in float or bf16, one fused autograd node
  // (src/models/batchnorm_relu.h); otherwise LibTorch's BatchNorm, add and ReLU.
  torch::Tensor forward_relu(const torch::Tensor& input, const torch::Tensor& residual = {});
  void set_folded(bool folded) { folded_ = folded; }
  bool folded() const { return folded_; }
  // SyncBatchNorm: in training, the batch statistics are over every rank's batch. `sum`
  // sums a tensor over the ranks, differentiably (its gradient is the same sum of the
  // gradients); empty: the statistics of this batch alone, as BatchNorm2d.
  void set_cross_batch_sum(ForwardOverride sum) { cross_sum_ = std::move(sum); }

  int64_t num_features;
  double eps, momentum;
  torch::Tensor weight, bias, running_mean, running_var, num_batches_tracked;

 private:
  torch::Tensor synced_forward(const torch::Tensor& input);

  bool folded_ = false;
  ForwardOverride cross_sum_;
};
TORCH_MODULE(FoldableBatchNorm2d);

// The prunable layer at module path `name` of `model`: its weight, and a setter for its
// weight transform. Throws if there is no such layer or it is not prunable.
struct PrunableHandle {
  std::function<void(WeightTransform)> set_transform;
  torch::Tensor weight;
};
PrunableHandle prunable_layer(torch::nn::Module& model, const std::string& name);

}  // namespace domino
