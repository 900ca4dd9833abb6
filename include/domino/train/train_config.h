// The configuration of a training run. One struct; YAML files and CLI flags both arrive
// as JSON objects whose keys are the flag names (`batch-size: 64` <-> `--batch-size 64`),
// are checked against the known keys, and are merged in order: defaults, file, flags.
#pragma once

#include <nlohmann/json.hpp>

#include <string>
#include <vector>

namespace domino {

struct TrainConfig {
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
  uint64_t seed = 0;
  // Precision of the forward/backward: auto (bf16 where the device runs it natively),
  // fp32, bf16 or fp16 (CUDA). Part of what is computed; a run records the resolved name.
  std::string precision = "auto";
  // How the run executes; these do not change what is computed (beyond float
  // reduction order for `threads`), so a resumed run takes them from its command line.
  int threads = 0;  // 0: every core
  int workers = 2;  // data-pipeline threads
  std::string device = "auto";
  std::string memory_format = "channels-last";  // of activations and conv weights
  int64_t max_iters = 0;  // 0: no cap
  int64_t log_every = 50;
  // Checkpoints besides the one at each epoch's end: an ImageNet epoch is hours of work.
  int64_t checkpoint_every = 0;     // iterations; 0: off
  double checkpoint_minutes = 10;   // since the last checkpoint; 0: off
  std::string out = "runs/train";
  bool resume = false;
  bool force = false;  // replace a run already in `out`
};

struct ConfigKey {
  std::string name;
  std::string help;
  bool run_only;  // how to run, not what to compute (see TrainConfig)
};
const std::vector<ConfigKey>& train_config_keys();

nlohmann::json to_json(const TrainConfig& config);
// Applies `overrides` on top of `base`; unknown keys and wrong types are errors that
// name the key and `source` (a file name or "command line").
TrainConfig merge_config(const TrainConfig& base, const nlohmann::json& overrides, const std::string& source);
// `to` with the options named in `keys` taken from `from`: how a stage takes some of its
// settings from its own options and the rest from the run it starts from.
TrainConfig copy_options(const TrainConfig& from, TrainConfig to, const std::vector<std::string>& keys);
// A command-line value typed as the option `key` expects ("3" -> 3, "80,120" -> [80, 120]).
nlohmann::json parse_option_text(const std::string& key, const std::string& text);
// A YAML mapping as JSON (scalars typed as YAML would read them).
nlohmann::json load_yaml_file(const std::string& path);
// The config of a run written before `precision` was recorded: such runs computed in fp32.
TrainConfig legacy_config_defaults();
// Range and name checks (model, dataset, schedule, positive sizes, ...).
void validate(const TrainConfig& config);

}  // namespace domino
