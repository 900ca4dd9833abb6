#include "domino/jobs/starting_point.h"

#include <torch/torch.h>

#include "domino/core/error.h"
#include "domino/data/datasets.h"
#include "domino/models/pretrained.h"

namespace domino {

Checkpoint checkpoint_from_pretrained(const TrainConfig& config) {
  const auto& spec = dataset_spec(config.dataset);
  auto model = model_from_pretrained(config.model, spec.shape.channels, config.pretrained, config.strict);
  const ModelOptions options{spec.shape.channels, num_outputs(*model)};
  const auto classes = dataset_classes(spec, config.data_dir);
  if (options.num_classes != classes)
    fail("{}: its classifier has {} classes, but dataset {} has {}", config.pretrained, options.num_classes,
         config.dataset, classes);
  return checkpoint_of(*model, config.model, options, to_json(config));
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
