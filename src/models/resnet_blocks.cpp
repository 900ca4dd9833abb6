#include "models/resnet_blocks.h"

#include <torch/torch.h>

#include "models/conv_bn_relu.h"

namespace domino::blocks {

PrunableConv2d conv(int64_t in, int64_t out, int64_t kernel, int64_t stride, int64_t groups) {
  return PrunableConv2d(
      torch::nn::Conv2dOptions(in, out, kernel).stride(stride).padding(kernel / 2).groups(groups).bias(false));
}

torch::nn::Sequential projection(int64_t in, int64_t out, int64_t stride) {
  return torch::nn::Sequential(conv(in, out, 1, stride), FoldableBatchNorm2d(out));
}

BasicBlockImpl::BasicBlockImpl(int64_t in, int64_t planes, int64_t stride)
    : conv1(register_module("conv1", conv(in, planes, 3, stride))),
      bn1(register_module("bn1", FoldableBatchNorm2d(planes))),
      conv2(register_module("conv2", conv(planes, planes, 3, 1))),
      bn2(register_module("bn2", FoldableBatchNorm2d(planes))) {
  if (stride != 1 || in != planes) downsample = register_module("downsample", projection(in, planes, stride));
}

// The shortcut before the last convolution, whose epilogue can add it (conv_bn_relu).
torch::Tensor BasicBlockImpl::forward(const torch::Tensor& x) {
  const auto y = conv_bn_relu(*conv1, *bn1, x);
  return conv_bn_relu(*conv2, *bn2, y, downsample ? downsample->forward(x) : x);
}

BottleneckImpl::BottleneckImpl(int64_t in, int64_t planes, int64_t stride)
    : conv1(register_module("conv1", conv(in, planes, 1, 1))),
      bn1(register_module("bn1", FoldableBatchNorm2d(planes))),
      conv2(register_module("conv2", conv(planes, planes, 3, stride))),
      bn2(register_module("bn2", FoldableBatchNorm2d(planes))),
      conv3(register_module("conv3", conv(planes, planes * expansion, 1, 1))),
      bn3(register_module("bn3", FoldableBatchNorm2d(planes * expansion))) {
  if (stride != 1 || in != planes * expansion)
    downsample = register_module("downsample", projection(in, planes * expansion, stride));
}

torch::Tensor BottleneckImpl::forward(const torch::Tensor& x) {
  auto y = conv_bn_relu(*conv1, *bn1, x);
  y = conv_bn_relu(*conv2, *bn2, y);
  return conv_bn_relu(*conv3, *bn3, y, downsample ? downsample->forward(x) : x);
}

void init_resnet_weights(torch::nn::Module& model) {
  torch::NoGradGuard no_grad;
  for (auto& m : model.modules(/*include_self=*/false)) {
    if (auto* c = m->as<torch::nn::Conv2dImpl>()) {
      torch::nn::init::kaiming_normal_(c->weight, 0.0, torch::kFanOut, torch::kReLU);
    } else if (auto* bn = m->as<FoldableBatchNorm2dImpl>()) {
      bn->weight.fill_(1);
      bn->bias.zero_();
    }
  }
}

}  // namespace domino::blocks
