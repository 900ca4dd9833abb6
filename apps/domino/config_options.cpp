#include "config_options.h"

#include <algorithm>
#include <filesystem>

#include "domino/core/error.h"
#include "domino/core/names.h"
#include "io/files.h"

namespace domino::cli {

void ConfigOptions::add(CLI::App* command, const TrainConfig& shown, const std::vector<std::string>& keys) {
  command->add_option("--config", config_file_, "YAML file of options (keys named as the flags)")->check(CLI::ExistingFile);
  keys_ = keys;
  const auto defaults = to_json(shown);
  for (const auto& key : train_config_keys()) {
    if (!keys_.empty() && std::find(keys_.begin(), keys_.end(), key.name) == keys_.end()) continue;
    const auto& value = defaults.at(key.name);
    const std::string shown = value.is_string() ? value.get<std::string>() : json_text(value);
    if (value.is_boolean())
      command->add_flag("--" + key.name + "{true}", values_[key.name], key.help + " (--" + key.name + "=false to turn off)");
    else
      command->add_option("--" + key.name, values_[key.name], key.help)->default_str(shown);
  }
}

void add_pretrained_options(CLI::App* command, PretrainedStart& start, CLI::Option* checkpoint) {
  auto* pretrained = command->add_option("--pretrained", start.file,
                                         "start from a PyTorch state dict (torch.save(model.state_dict(), f), e.g. "
                                         "torchvision's .pth) instead of a checkpoint; needs --model")
                         ->check(CLI::ExistingFile);
  checkpoint->excludes(pretrained);
  command->add_option("--dataset", start.dataset, "with --pretrained: the dataset (imagenet: any ImageFolder tree)")
      ->capture_default_str();
  command->add_option("--strict", start.strict, "with --pretrained: entries the model lacks are an error (false: ignored)")
      ->default_str("true");
}

void add_inference_source_options(CLI::App* command, InferenceSource& source) {
  auto* checkpoint = command->add_option("--checkpoint", source.checkpoint,
                                         "checkpoint from train, finetune (pruned.pt carries its N:M scheme), ...");
  add_pretrained_options(command, source.pretrained, checkpoint);
  auto* scheme = command->add_option("--scheme", source.scheme,
                                     "scheme file (JSON, or the authors' text format) the weights follow: their N:M layers")
                     ->check(CLI::ExistingFile);
  command->add_option("--nm", source.nm, "compressed N:M weights (export --format nm): they replace the model's N:M layers "
                                         "and say which those are")
      ->check(CLI::ExistingFile)
      ->excludes(scheme);
}

TrainConfig ConfigOptions::resolve(const CLI::App& command, const TrainConfig& base) const {
  nlohmann::json flags = nlohmann::json::object();
  for (const auto& [key, text] : values_)
    if (command.get_option("--" + key)->count() > 0) flags[key] = parse_option_text(key, text);
  const auto file = config_file_.empty() ? nlohmann::json::object() : load_yaml_file(config_file_);
  if (!keys_.empty() && file.is_object())
    for (const auto& item : file.items())
      if (std::find(keys_.begin(), keys_.end(), item.key()) == keys_.end())
        fail_unknown(fmt::format("option of {}", command.get_name()), item.key(), keys_, config_file_);
  TrainConfig config = merge_config(merge_config(base, file, config_file_), flags, "command line");
  if (!config.resume) return config;
  const auto saved = (std::filesystem::path(config.out) / "config.json").string();
  if (!std::filesystem::exists(saved)) fail("nothing to resume in {}: {} not found", config.out, saved);
  TrainConfig resumed = merge_config(legacy_config_defaults(), read_json_file(saved), saved);
  resumed.force = false;  // how that run was started, not how this one continues
  resumed.resume = true;
  return merge_config(merge_config(resumed, file, config_file_), flags, "command line");
}

}  // namespace domino::cli
