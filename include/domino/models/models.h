// The model zoo. Every network is a `Network`: an image classifier whose prunable
// layers are PrunableConv2d / PrunableLinear.
#pragma once

#include <torch/nn/module.h>

#include <memory>
#include <string>
#include <vector>

#include "domino/core/types.h"

namespace domino {

class Network : public torch::nn::Module {
 public:
  virtual torch::Tensor forward(torch::Tensor x) = 0;
};

// CIFAR ResNet of depth 6n+2 (He et al. 2016), with 1x1-conv + BN projection shortcuts
// where the shape changes, as the DominoSearch authors' CIFAR models have.
std::shared_ptr<Network> make_cifar_resnet(int64_t depth, ModelOptions options);
// CIFAR VGG-16 with BatchNorm; its pools round up, so 28x28 inputs work too.
std::shared_ptr<Network> make_cifar_vgg16(ModelOptions options);

// ImageNet networks with torchvision's module names, so its state dicts load one to one:
// ResNet-18/34/50/101 and RegNetX-3.2GF.
std::shared_ptr<Network> make_imagenet_resnet(int64_t depth, ModelOptions options);
std::shared_ptr<Network> make_regnet_x_3_2gf(ModelOptions options);

std::shared_ptr<Network> make_model(const std::string& name, ModelOptions options);  // lists valid names if unknown
std::vector<std::string> model_names();
void check_model_name(const std::string& name);  // throws, listing the valid names

// Every parameter of the model (prunable or not).
int64_t count_parameters(const torch::nn::Module& model);

}  // namespace domino
