#include <torch/torch.h>

#include "domino/error.h"
#include "domino/models.h"
#include "models/resnet_blocks.h"

namespace domino {
namespace {

using blocks::BasicBlock;
using blocks::conv;

class CifarResNet : public Network {
 public:
  CifarResNet(int64_t blocks_per_stage, ModelOptions options)
      : conv1(register_module("conv1", conv(options.in_channels, 16, 3, 1))),
        bn1(register_module("bn1", torch::nn::BatchNorm2d(16))) {
    int64_t in = 16;
    const int64_t widths[3] = {16, 32, 64};
    for (int s = 0; s < 3; ++s) {
      torch::nn::Sequential stage;
      for (int64_t b = 0; b < blocks_per_stage; ++b) {
        stage->push_back(BasicBlock(in, widths[s], (s > 0 && b == 0) ? 2 : 1));
        in = widths[s];
      }
      stages.push_back(register_module(fmt::format("layer{}", s + 1), stage));
    }
    fc = register_module("fc", PrunableLinear(64, options.num_classes));  // last: layers are listed in forward order
    blocks::init_resnet_weights(*this);
  }

  torch::Tensor forward(torch::Tensor x) override {
    x = torch::relu(bn1(conv1(x)));
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

std::shared_ptr<Network> make_cifar_resnet(int64_t depth, ModelOptions options) {
  if (depth < 8 || (depth - 2) % 6 != 0) fail("CIFAR ResNet depth must be 6n+2 (8, 20, 32, ...), got {}", depth);
  return std::make_shared<CifarResNet>((depth - 2) / 6, options);
}

}  // namespace domino
