// A convolution, its BatchNorm and the ReLU after them (with a residual block's shortcut
// added before the ReLU), as one call: where the N:M engine runs the convolution with that
// BatchNorm folded into it, the add and the ReLU happen as its outputs are stored, so the
// output is written once instead of being read and written again by each of them
// (docs/engine.md, "Fused epilogue"); anywhere else (training, dense layers), the
// BatchNorm's forward_relu (in training one fused node where it can).
#pragma once

#include <torch/nn/modules/container/sequential.h>

#include "domino/models/prunable.h"

namespace domino {

inline torch::Tensor conv_bn_relu(PrunableConv2dImpl& conv, FoldableBatchNorm2dImpl& bn, const torch::Tensor& x,
                                  const torch::Tensor& residual = {}) {
  // A folded BatchNorm is the identity: relu(bn(conv(x)) + r) = relu(conv(x) + r).
  if (bn.folded() && conv.fused_relu_forward()) return conv.fused_relu_forward()(x, residual);
  return bn.forward_relu(conv.forward(x), residual);
}

// `seq` (modules that take and return one tensor) run in order, each PrunableConv2d,
// FoldableBatchNorm2d, ReLU triple through conv_bn_relu: torchvision's Conv2dNormActivation,
// a VGG's features. With a `residual`, relu(seq(x) + residual) for a `seq` that ends in a
// PrunableConv2d and its FoldableBatchNorm2d (a residual branch): the add and the ReLU
// happen in that convolution's call.
torch::Tensor forward_fused(torch::nn::Sequential& seq, torch::Tensor x, const torch::Tensor& residual = {});

}  // namespace domino
