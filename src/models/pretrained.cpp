#include "domino/models/pretrained.h"

#include <torch/torch.h>

#include "domino/core/error.h"
#include "domino/io/state_dict.h"

namespace domino {
namespace {

TensorDict to_tensor_dict(const StateDict& state) {
  TensorDict out;
  for (const auto& [name, tensor] : state) out.insert(name, tensor);
  return out;
}

// The module path of the model's last linear layer (its classifier).
std::string classifier_name(const torch::nn::Module& model) {
  std::string name;
  for (const auto& item : model.named_modules())
    if (item.value()->as<torch::nn::LinearImpl>()) name = item.key();
  return name;
}

}  // namespace

int64_t num_outputs(torch::nn::Module& model) {
  const auto name = classifier_name(model);
  return name.empty() ? 0 : model.named_modules()[name]->as<torch::nn::LinearImpl>()->options.out_features();
}

void load_pretrained(Network& model, const std::string& file, bool strict) {
  load_module_state(model, to_tensor_dict(read_pytorch_state_dict(file)), file, !strict);
}

std::shared_ptr<Network> model_from_pretrained(const std::string& name, int64_t in_channels, const std::string& file,
                                               bool strict) {
  const auto state = to_tensor_dict(read_pytorch_state_dict(file));
  int64_t classes = 1000;
  const auto probe = make_model(name, {in_channels, 1});
  const auto classifier = state.find(classifier_name(*probe) + ".weight");
  if (classifier != state.end() && classifier->value().dim() == 2) classes = classifier->value().size(0);
  auto model = make_model(name, {in_channels, classes});
  load_module_state(*model, state, file, !strict);
  return model;
}

std::shared_ptr<Network> model_from_checkpoint(const Checkpoint& checkpoint, const std::string& source) {
  auto model = make_model(checkpoint.model, checkpoint.model_options);
  load_module_state(*model, checkpoint.model_state, source);
  return model;
}

Checkpoint checkpoint_of(const Network& model, const std::string& name, ModelOptions options, nlohmann::json config) {
  Checkpoint c;
  c.model = name;
  c.model_options = options;
  c.config = std::move(config);
  c.model_state = module_state(model);
  return c;
}

}  // namespace domino
