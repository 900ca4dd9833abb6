// The configuration of a training run. One struct; YAML files and CLI flags both arrive
// as JSON objects whose keys are the flag names (`batch-size: 64` <-> `--batch-size 64`),
// are checked against the known keys, and are merged in order: defaults, file, flags.
#pragma once

#include <nlohmann/json.hpp>

#include <string>
#include <vector>

#include "domino/core/options.h"
#include "domino/core/run_context.h"

namespace domino {

// What a training run computes, and (its RunContext base) how it runs: one flat set of keys,
// as YAML files, flags and config.json write them.
struct TrainConfig : RunContext {
  std::string model = "resnet20";
  std::string dataset = "fashion-mnist";
  std::string data_dir;  // empty: the dataset's default location
  std::string pretrained;  // a PyTorch state dict (torch.save(model.state_dict())) to start from
  bool strict = true;      // false: entries of `pretrained` the model lacks are ignored
  // Defaults: the paper's CIFAR dense recipe (supplementary Table 7).
  int64_t epochs = 160;
  int64_t batch_size = 64;
  double lr = 0.1;
  double momentum = 0.9;
  double weight_decay = 1e-4;
  bool nesterov = false;
  std::string schedule = "multistep";
  std::vector<int64_t> milestones = {80, 120};
  double gamma = 0.1;
  double warmup_epochs = 0.0;
  bool augment = true;
  double val_split = 0.0;  // fraction of the training set held out for validation
  bool sync_bn = false;    // data-parallel: BatchNorm statistics over every rank's batch
  uint64_t seed = 0;
  // Precision of the forward/backward: auto (bf16 where the device runs it natively),
  // fp32, bf16 or fp16 (CUDA). Part of what is computed; a run records the resolved name.
  std::string precision = "auto";
};

// Its options: name, type, help, and which only say how to run.
const OptionTable<TrainConfig>& train_options();

nlohmann::json to_json(const TrainConfig& config);
// Applies `overrides` on top of `base`; unknown keys and wrong types are errors that
// name the key and `source` (a file name or "command line").
TrainConfig merge_config(const TrainConfig& base, const nlohmann::json& overrides, const std::string& source);
// `to` with the options named in `keys` taken from `from`: how a stage takes some of its
// settings from its own options and the rest from the run it starts from.
TrainConfig copy_options(const TrainConfig& from, TrainConfig to, const std::vector<std::string>& keys);
// A YAML mapping as JSON (scalars typed as YAML would read them).
nlohmann::json load_yaml_file(const std::string& path);
// The config of a run written before `precision` was recorded: such runs computed in fp32.
TrainConfig legacy_config_defaults();
// Range and name checks (model, dataset, schedule, positive sizes, ...).
void validate(const TrainConfig& config);

}  // namespace domino
