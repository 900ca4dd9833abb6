// torchvision's ResNet-18/34/50/101 (v1.5: the bottleneck's stride on its 3x3 conv), with
// torchvision's module names, so `torch.save(model.state_dict())` files load one to one.
#include <torch/torch.h>

#include "domino/error.h"
#include "domino/models.h"
#include "models/resnet_blocks.h"

namespace domino {
namespace {

template <typename Block>
class ImageNetResNet : public Network {
 public:
  ImageNetResNet(const std::array<int64_t, 4>& depths, ModelOptions options)
      : conv1(register_module("conv1", PrunableConv2d(torch::nn::Conv2dOptions(options.in_channels, 64, 7)
                                                          .stride(2).padding(3).bias(false)))),
        bn1(register_module("bn1", torch::nn::BatchNorm2d(64))) {
    int64_t in = 64;
    for (size_t s = 0; s < depths.size(); ++s) {
      const int64_t planes = 64 << s;
      torch::nn::Sequential stage;
      for (int64_t b = 0; b < depths[s]; ++b) {
        stage->push_back(Block(in, planes, (s > 0 && b == 0) ? 2 : 1));
        in = planes * Block::Impl::expansion;
      }
      stages.push_back(register_module(fmt::format("layer{}", s + 1), stage));
    }
    fc = register_module("fc", PrunableLinear(in, options.num_classes));
    blocks::init_resnet_weights(*this);
  }

  torch::Tensor forward(torch::Tensor x) override {
    x = torch::relu(bn1(conv1(x)));
    x = torch::max_pool2d(x, 3, 2, 1);
    for (auto& stage : stages) x = stage->forward(x);
    x = torch::adaptive_avg_pool2d(x, {1, 1}).flatten(1);
    return fc(x);
  }

  PrunableConv2d conv1;
  torch::nn::BatchNorm2d bn1;
  std::vector<torch::nn::Sequential> stages;
  PrunableLinear fc{nullptr};
};

}  // namespace

std::shared_ptr<Network> make_imagenet_resnet(int64_t depth, ModelOptions options) {
  switch (depth) {
    case 18: return std::make_shared<ImageNetResNet<blocks::BasicBlock>>(std::array<int64_t, 4>{2, 2, 2, 2}, options);
    case 34: return std::make_shared<ImageNetResNet<blocks::BasicBlock>>(std::array<int64_t, 4>{3, 4, 6, 3}, options);
    case 50: return std::make_shared<ImageNetResNet<blocks::Bottleneck>>(std::array<int64_t, 4>{3, 4, 6, 3}, options);
    case 101: return std::make_shared<ImageNetResNet<blocks::Bottleneck>>(std::array<int64_t, 4>{3, 4, 23, 3}, options);
    default: fail("ImageNet ResNet depth must be 18, 34, 50 or 101, got {}", depth);
  }
}

}  // namespace domino
