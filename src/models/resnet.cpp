// ResNets, CIFAR-style (He et al. 2016: a 3x3 stem and three stages of width 16/32/64,
// 1x1-conv + BN projection shortcuts, as the DominoSearch authors' CIFAR models have) and
// torchvision's ImageNet ResNet-18/34/50/101 (7x7 stem + max-pool, four stages, v1.5
// bottlenecks), with torchvision's module names so its state dicts load one to one.
#include <torch/torch.h>

#include "domino/core/error.h"
#include "domino/models/models.h"
#include "models/conv_bn_relu.h"
#include "models/resnet_blocks.h"

namespace domino {
namespace {

struct ResNetShape {
  int64_t stem_width, stem_kernel, stem_stride;
  bool stem_pool;
  std::vector<int64_t> widths, depths;  // per stage; the first block of every stage but the first has stride 2
};

template <typename Block>
class ResNet : public Network {
 public:
  ResNet(const ResNetShape& shape, ModelOptions options)
      : conv1(register_module("conv1", blocks::conv(options.in_channels, shape.stem_width, shape.stem_kernel, shape.stem_stride))),
        bn1(register_module("bn1", FoldableBatchNorm2d(shape.stem_width))),
        pool_(shape.stem_pool) {
    int64_t in = shape.stem_width;
    for (size_t s = 0; s < shape.widths.size(); ++s) {
      torch::nn::Sequential stage;
      for (int64_t b = 0; b < shape.depths[s]; ++b) {
        stage->push_back(Block(in, shape.widths[s], (s > 0 && b == 0) ? 2 : 1));
        in = shape.widths[s] * Block::Impl::expansion;
      }
      stages.push_back(register_module(fmt::format("layer{}", s + 1), stage));
    }
    fc = register_module("fc", PrunableLinear(in, options.num_classes));  // last: layers are listed in forward order
    blocks::init_resnet_weights(*this);
  }

  torch::Tensor forward(torch::Tensor x) override {
    x = conv_bn_relu(*conv1, *bn1, x);
    if (pool_) x = torch::max_pool2d(x, 3, 2, 1);
    for (auto& stage : stages) x = stage->forward(x);
    x = torch::adaptive_avg_pool2d(x, {1, 1}).flatten(1);
    return fc(x);
  }

  PrunableConv2d conv1;
  FoldableBatchNorm2d bn1;
  std::vector<torch::nn::Sequential> stages;
  PrunableLinear fc{nullptr};

 private:
  bool pool_;
};

}  // namespace

std::shared_ptr<Network> make_cifar_resnet(int64_t depth, ModelOptions options) {
  if (depth < 8 || (depth - 2) % 6 != 0) fail("CIFAR ResNet depth must be 6n+2 (8, 20, 32, ...), got {}", depth);
  const int64_t n = (depth - 2) / 6;
  return std::make_shared<ResNet<blocks::BasicBlock>>(ResNetShape{16, 3, 1, false, {16, 32, 64}, {n, n, n}}, options);
}

std::shared_ptr<Network> make_imagenet_resnet(int64_t depth, ModelOptions options) {
  const std::vector<int64_t> widths = {64, 128, 256, 512};
  switch (depth) {
    case 18: return std::make_shared<ResNet<blocks::BasicBlock>>(ResNetShape{64, 7, 2, true, widths, {2, 2, 2, 2}}, options);
    case 34: return std::make_shared<ResNet<blocks::BasicBlock>>(ResNetShape{64, 7, 2, true, widths, {3, 4, 6, 3}}, options);
    case 50: return std::make_shared<ResNet<blocks::Bottleneck>>(ResNetShape{64, 7, 2, true, widths, {3, 4, 6, 3}}, options);
    case 101: return std::make_shared<ResNet<blocks::Bottleneck>>(ResNetShape{64, 7, 2, true, widths, {3, 4, 23, 3}}, options);
    default: fail("ImageNet ResNet depth must be 18, 34, 50 or 101, got {}", depth);
  }
}

}  // namespace domino
