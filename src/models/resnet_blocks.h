// Residual blocks shared by the CIFAR and the ImageNet (torchvision) ResNets. Module
// names are torchvision's (conv1, bn1, ..., downsample.0/1), so state dicts map one to one.
#pragma once

#include <torch/nn/modules/batchnorm.h>
#include <torch/nn/modules/container/sequential.h>

#include "domino/models/prunable.h"

namespace domino::blocks {

// Bias-free convolution padded to keep the size at stride 1 (torchvision's conv1x1/conv3x3).
PrunableConv2d conv(int64_t in, int64_t out, int64_t kernel, int64_t stride, int64_t groups = 1);

// 1x1 conv + BN, for shortcuts whose shape changes.
torch::nn::Sequential projection(int64_t in, int64_t out, int64_t stride);

class BasicBlockImpl : public torch::nn::Module {
 public:
  static constexpr int64_t expansion = 1;
  BasicBlockImpl(int64_t in, int64_t planes, int64_t stride);
  torch::Tensor forward(const torch::Tensor& x);

  PrunableConv2d conv1{nullptr};
  FoldableBatchNorm2d bn1{nullptr};
  PrunableConv2d conv2{nullptr};
  FoldableBatchNorm2d bn2{nullptr};
  torch::nn::Sequential downsample{nullptr};
};
TORCH_MODULE(BasicBlock);

// ResNet v1.5 bottleneck: the stride sits on the 3x3 conv, as in torchvision.
class BottleneckImpl : public torch::nn::Module {
 public:
  static constexpr int64_t expansion = 4;
  BottleneckImpl(int64_t in, int64_t planes, int64_t stride);
  torch::Tensor forward(const torch::Tensor& x);

  PrunableConv2d conv1{nullptr};
  FoldableBatchNorm2d bn1{nullptr};
  PrunableConv2d conv2{nullptr};
  FoldableBatchNorm2d bn2{nullptr};
  PrunableConv2d conv3{nullptr};
  FoldableBatchNorm2d bn3{nullptr};
  torch::nn::Sequential downsample{nullptr};
};
TORCH_MODULE(Bottleneck);

// He (fan-out) initialisation of every convolution, BN weight 1 and bias 0: torchvision's.
void init_resnet_weights(torch::nn::Module& model);

}  // namespace domino::blocks
