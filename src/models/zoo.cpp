#include <torch/torch.h>

#include <functional>

#include "domino/core/error.h"
#include "domino/core/names.h"
#include "domino/models/models.h"

namespace domino {
namespace {

struct ZooEntry {
  std::string name;
  std::function<std::shared_ptr<Network>(ModelOptions)> make;
};

const std::vector<ZooEntry>& zoo() {
  static const std::vector<ZooEntry> entries = [] {
    std::vector<ZooEntry> e;
    for (int depth : {8, 20, 32, 44, 56, 110})  // resnet8: tiny, for tests and smoke runs
      e.push_back({fmt::format("resnet{}", depth), [depth](ModelOptions o) { return make_cifar_resnet(depth, o); }});
    e.push_back({"vgg16", make_cifar_vgg16});
    for (int depth : {18, 34, 50, 101})
      e.push_back({fmt::format("resnet{}", depth), [depth](ModelOptions o) { return make_imagenet_resnet(depth, o); }});
    e.push_back({"regnet_x_3_2gf", make_regnet_x_3_2gf});
    return e;
  }();
  return entries;
}

}  // namespace

std::vector<std::string> model_names() {
  std::vector<std::string> names;
  for (const auto& e : zoo()) names.push_back(e.name);
  return names;
}

std::shared_ptr<Network> make_model(const std::string& name, ModelOptions options) {
  if (options.in_channels <= 0 || options.num_classes <= 0)
    fail("model {} needs positive input channels and classes, got {} and {}", name, options.in_channels, options.num_classes);
  check_model_name(name);
  for (const auto& e : zoo())
    if (e.name == name) return e.make(options);
  return nullptr;  // unreachable: the name was checked
}

void check_model_name(const std::string& name) {
  for (const auto& e : zoo())
    if (e.name == name) return;
  fail_unknown("model", name, model_names());
}

int64_t count_parameters(const torch::nn::Module& model) {
  int64_t n = 0;
  for (const auto& p : model.parameters()) n += p.numel();
  return n;
}

}  // namespace domino
