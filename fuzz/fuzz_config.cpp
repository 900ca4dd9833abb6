// YAML configs: training configs (merged and validated) and experiment configs.
#include "domino/experiment/experiment.h"
#include "domino/train/train_config.h"
#include "fuzz_util.h"

namespace domino::fuzz {

void write_seeds(const std::string& dir) {
  write_seed(dir, "train.yaml",
             "model: resnet20\ndataset: fashion-mnist\nepochs: 2\nmilestones: [1, 2]\nlr: 0.1\nprecision: fp32\n"
             "seed: 3\naugment: false\n");
  write_seed(dir, "experiment.yaml",
             "name: e\ndense:\n  train: dense.yaml\nM: 16\nbudgets: [params:0.875, flops:0.5]\n"
             "schemes: [uniform, dominosearch]\nseeds: [0, 1]\nsearch:\n  max-iters: 20\n  kp: 0.5\n"
             "finetune:\n  recipe: cifar\n  epochs: 1\n");
  write_seed(dir, "anchors.yaml", "a: &a [1, 2]\nb: [*a, *a]\nmilestones: *a\n");
}

void fuzz_one(const uint8_t* data, size_t size) {
  const auto file = as_file(data, size, ".yaml");
  try {
    validate(merge_config(TrainConfig{}, load_yaml_file(file), file));
  } catch (const Error&) {
  }
  load_experiment(file);
}

}  // namespace domino::fuzz
