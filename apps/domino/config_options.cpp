#include "config_options.h"

#include <algorithm>
#include <filesystem>

#include <fmt/ranges.h>

#include "domino/core/error.h"
#include "domino/core/names.h"
#include "domino/dist/launch_env.h"
#include "io/files.h"

namespace domino::cli {

namespace {

const char* type_name(OptionType type) {
  switch (type) {
    case OptionType::Int:
    case OptionType::IntList: return "INT";
    case OptionType::Count: return "UINT";
    case OptionType::Number: return "FLOAT";
    default: return "TEXT";
  }
}

}  // namespace

void OptionFlags::add_flag(CLI::App* command, const OptionKey& key, const nlohmann::json& shown) {
  auto& f = flags_.emplace_back();
  f.key = key;
  const std::string flag = "--" + key.name;
  if (key.type == OptionType::Bool) {
    const bool on = shown == true;
    f.option = command->add_flag(on ? flag + ",!--no-" + key.name : flag, f.on, key.help + (on ? " (default: on)" : ""));
    return;
  }
  if (key.type == OptionType::IntList || key.type == OptionType::TextList) {
    std::vector<std::string> items;
    for (const auto& item : shown) items.push_back(item.is_string() ? item.get<std::string>() : item.dump());
    f.option = command->add_option(flag, f.list, key.help)->delimiter(',')->default_str(fmt::format("{}", fmt::join(items, ",")));
  } else {
    f.option = command->add_option(flag, f.text, key.help)
                   ->default_str(shown.is_string() ? shown.get<std::string>() : shown.is_null() ? "" : shown.dump());
  }
  f.option->type_name(type_name(key.type));
}

nlohmann::json OptionFlags::given() const {
  nlohmann::json out = nlohmann::json::object();
  for (const auto& f : flags_) {
    if (f.option->count() == 0) continue;
    const std::string flag = "--" + f.key.name;
    if (f.key.type == OptionType::Bool) {
      out[f.key.name] = f.on;
    } else if (f.key.type == OptionType::IntList || f.key.type == OptionType::TextList) {
      const auto item_type = f.key.type == OptionType::IntList ? OptionType::Int : OptionType::Text;
      auto& list = out[f.key.name] = nlohmann::json::array();
      for (const auto& item : f.list)
        if (!item.empty()) list.push_back(parse_option_text(item_type, flag, item));
    } else {
      out[f.key.name] = parse_option_text(f.key.type, flag, f.text);
    }
  }
  return out;
}

void ConfigOptions::add(CLI::App* command, const TrainConfig& shown, const std::vector<std::string>& keys,
                        const std::vector<std::string>& also_in_file) {
  command->add_option("--config", config_file_, "YAML file of options (keys named as the flags)")->check(CLI::ExistingFile);
  keys_ = keys;
  also_in_file_ = also_in_file;
  flags_.add(command, train_options(), shown, keys);
}

nlohmann::json ConfigOptions::file() const {
  if (config_file_.empty()) return nlohmann::json::object();
  auto j = load_yaml_file(config_file_);
  auto valid = keys_.empty() ? train_options().names() : keys_;
  valid.insert(valid.end(), also_in_file_.begin(), also_in_file_.end());
  for (const auto& item : j.items())
    if (std::find(valid.begin(), valid.end(), item.key()) == valid.end())
      fail_unknown("option", item.key(), valid, config_file_);
  return j;
}

nlohmann::json ConfigOptions::file_part(const std::vector<std::string>& names) const {
  nlohmann::json out = nlohmann::json::object();
  const auto all = file();
  for (const auto& name : names)
    if (all.contains(name)) out[name] = all.at(name);
  return out;
}

TrainConfig inference_defaults(int64_t batch_size) {
  TrainConfig c;
  c.batch_size = batch_size;
  return c;
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

TrainConfig ConfigOptions::resolve(const TrainConfig& base) const {
  const auto flags = flags_.given();
  auto file = this->file();
  for (const auto& key : also_in_file_) file.erase(key);
  TrainConfig config = merge_config(merge_config(base, file, config_file_), flags, "command line");
  if (!config.resume) return config;
  const auto saved = (std::filesystem::path(config.out) / "config.json").string();
  if (!std::filesystem::exists(saved)) fail("nothing to resume in {}: {} not found", config.out, saved);
  TrainConfig resumed = merge_config(legacy_config_defaults(), read_json_file(saved), saved);
  resumed.force = false;  // how that run was started, not how this one continues
  resumed.resume = true;
  return merge_config(merge_config(resumed, file, config_file_), flags, "command line");
}

void refuse_launch(const char* command, const char* why) {
  const auto env = dist::launch_env();
  if (env && env->world_size > 1)
    fail("{} runs in one process ({}); this one was launched as rank {} of {}: run it without torchrun or `domino launch`",
         command, why, env->rank, env->world_size);
}

}  // namespace domino::cli
