#include <torch/torch.h>

#include "domino/models/models.h"
#include "domino/models/prunable.h"
#include "models/conv_bn_relu.h"

namespace domino {
namespace {

class CifarVgg : public Network {
 public:
  explicit CifarVgg(ModelOptions options) {
    constexpr int64_t kPool = 0;
    const int64_t config[] = {64, 64, kPool, 128, 128, kPool, 256, 256, 256, kPool, 512, 512, 512, kPool, 512, 512, 512, kPool};
    int64_t in = options.in_channels;
    for (int64_t width : config) {
      if (width == kPool) {
        features->push_back(torch::nn::MaxPool2d(torch::nn::MaxPool2dOptions(2).ceil_mode(true)));
        continue;
      }
      features->push_back(PrunableConv2d(torch::nn::Conv2dOptions(in, width, 3).padding(1).bias(false)));
      features->push_back(FoldableBatchNorm2d(width));
      features->push_back(torch::nn::ReLU(torch::nn::ReLUOptions(true)));
      in = width;
    }
    register_module("features", features);
    classifier = register_module("classifier", PrunableLinear(512, options.num_classes));
  }

  torch::Tensor forward(torch::Tensor x) override {
    x = torch::adaptive_avg_pool2d(forward_fused(features, x), {1, 1}).flatten(1);
    return classifier(x);
  }

  torch::nn::Sequential features;
  PrunableLinear classifier{nullptr};
};

}  // namespace

std::shared_ptr<Network> make_cifar_vgg16(ModelOptions options) { return std::make_shared<CifarVgg>(options); }

}  // namespace domino
