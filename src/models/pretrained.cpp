#include "domino/pretrained.h"

#include <torch/torch.h>

#include "domino/datasets.h"
#include "domino/error.h"
#include "domino/state_dict.h"

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

int64_t num_outputs(torch::nn::Module& model) {
  const auto name = classifier_name(model);
  return name.empty() ? 0 : model.named_modules()[name]->as<torch::nn::LinearImpl>()->options.out_features();
}

}  // namespace

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

Checkpoint checkpoint_from_pretrained(const TrainConfig& config) {
  const auto& spec = dataset_spec(config.dataset);
  auto model = model_from_pretrained(config.model, spec.shape.channels, config.pretrained, config.strict);
  Checkpoint c;
  c.model = config.model;
  c.model_options = {spec.shape.channels, num_outputs(*model)};
  const auto classes = dataset_classes(spec, config.data_dir);
  if (c.model_options.num_classes != classes)
    fail("{}: its classifier has {} classes, but dataset {} has {}", config.pretrained, c.model_options.num_classes,
         config.dataset, classes);
  c.config = to_json(config);
  c.model_state = module_state(*model);
  return c;
}

TrainConfig PretrainedStart::config(const std::string& data_dir) const {
  TrainConfig c;
  c.model = model;
  c.dataset = dataset;
  c.data_dir = data_dir;
  c.pretrained = file;
  c.strict = strict;
  return c;
}

Checkpoint starting_checkpoint(const std::string& checkpoint, const TrainConfig& config) {
  if (!checkpoint.empty()) return load_checkpoint(checkpoint);
  if (config.pretrained.empty()) fail("no model to start from: give --checkpoint FILE, or --pretrained FILE with --model and --dataset");
  if (config.model.empty()) fail("--pretrained needs --model: which zoo model the weights are for");
  return checkpoint_from_pretrained(config);
}

}  // namespace domino
