// Options as flags, from their tables (core/options.h): the flags of any table's options,
// and for training options also --config FILE and --resume, resolved as base < file < flags.
#pragma once

#include <algorithm>
#include <deque>
#include <string>
#include <vector>

#include "commands.h"
#include "domino/core/options.h"
#include "domino/jobs/inference.h"
#include "domino/jobs/starting_point.h"
#include "domino/models/pretrained.h"
#include "domino/train/train_config.h"

namespace domino::cli {

// Flags of a table's options (those in `keys`; empty: every one): --NAME VALUE; a yes/no
// option is --NAME or --NAME=false, and also --no-NAME when it is on by default; a list
// takes several values or one comma-separated. --help shows `shown`'s values as defaults.
class OptionFlags {
 public:
  template <typename C>
  void add(CLI::App* command, const OptionTable<C>& table, const C& shown, const std::vector<std::string>& keys = {}) {
    const auto defaults = table.to_json(shown);
    for (const auto& key : table.keys())
      if (keys.empty() || std::find(keys.begin(), keys.end(), key.name) != keys.end())
        add_flag(command, key, defaults.at(key.name));
  }
  // The options given on the command line, as JSON values of their types.
  nlohmann::json given() const;

 private:
  struct Flag {
    OptionKey key;
    CLI::Option* option = nullptr;
    bool on = false;  // a yes/no option's value
    std::string text;
    std::vector<std::string> list;
  };
  void add_flag(CLI::App* command, const OptionKey& key, const nlohmann::json& shown);
  std::deque<Flag> flags_;  // CLI11 writes into them: their addresses must not move
};

// Training options (TrainConfig's table) as flags, with --config FILE.
class ConfigOptions {
 public:
  // `keys`: the options this command takes (empty: every one); `shown` gives the defaults
  // --help shows (the `base` that resolve() will get). A config file may also hold the keys
  // in `also_in_file` (another table's, which the command reads through file_part()).
  void add(CLI::App* command, const TrainConfig& shown = TrainConfig{}, const std::vector<std::string>& keys = {},
           const std::vector<std::string>& also_in_file = {});
  // With --resume, the run's saved <out>/config.json replaces `base`, so a resumed run
  // computes what the first one did.
  TrainConfig resolve(const TrainConfig& base) const;
  // The config file's entries among `names` (empty object without --config).
  nlohmann::json file_part(const std::vector<std::string>& names) const;
  const std::string& file_name() const { return config_file_; }

 private:
  nlohmann::json file() const;  // checked against the keys this command takes

  std::string config_file_;
  std::vector<std::string> keys_;  // empty: every key
  std::vector<std::string> also_in_file_;
  OptionFlags flags_;
};

// TrainConfig's defaults with `batch_size` images a batch: what eval, predict and
// bench-infer start from and --help shows for the training options they take.
TrainConfig inference_defaults(int64_t batch_size);

// --pretrained, --dataset, --strict of the commands that otherwise start from `checkpoint`
// (which becomes optional, and excluded by --pretrained); --model is the command's own.
void add_pretrained_options(CLI::App* command, PretrainedStart& start, CLI::Option* checkpoint);

// The model of the commands that run one (eval, predict, bench-infer): --checkpoint, the
// --pretrained options, and --scheme / --nm, which say which layers are N:M for the engine.
// --model is the command's own.
void add_inference_source_options(CLI::App* command, InferenceSource& source);

}  // namespace domino::cli
