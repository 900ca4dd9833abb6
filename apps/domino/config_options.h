// TrainConfig options as flags, from its one key list (name, type, help): all of them for
// `train` and `finetune`, the search's own for `search`; plus --config FILE. Resolved as
// base < config file < flags.
#pragma once

#include <map>
#include <string>
#include <vector>

#include "commands.h"
#include "domino/jobs/inference.h"
#include "domino/jobs/starting_point.h"
#include "domino/models/pretrained.h"
#include "domino/train/train_config.h"

namespace domino::cli {

class ConfigOptions {
 public:
  // `keys`: the options this command takes (empty: every one); `shown` gives the defaults
  // --help shows (the `base` that resolve() will get).
  void add(CLI::App* command, const TrainConfig& shown = TrainConfig{}, const std::vector<std::string>& keys = {});
  // With --resume, the run's saved <out>/config.json replaces `base`, so a resumed run
  // computes what the first one did.
  TrainConfig resolve(const CLI::App& command, const TrainConfig& base) const;

 private:
  std::string config_file_;
  std::vector<std::string> keys_;  // empty: every key
  std::map<std::string, std::string> values_;  // option name -> text, for those given
};

// --pretrained, --dataset, --strict of the commands that otherwise start from `checkpoint`
// (which becomes optional, and excluded by --pretrained); --model is the command's own.
void add_pretrained_options(CLI::App* command, PretrainedStart& start, CLI::Option* checkpoint);

// The model of the commands that run one (eval, predict, bench-infer): --checkpoint, the
// --pretrained options, and --scheme / --nm, which say which layers are N:M for the engine.
// --model is the command's own.
void add_inference_source_options(CLI::App* command, InferenceSource& source);

}  // namespace domino::cli
