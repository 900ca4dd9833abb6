#include <filesystem>
#include <map>

#include "commands.h"
#include "domino/error.h"
#include "domino/jobs.h"
#include "domino/progress.h"
#include "domino/readers.h"

namespace domino::cli {
namespace {

struct TrainArgs {
  std::string config_file;
  std::map<std::string, std::string> values;  // option name -> text, for those given
};

nlohmann::json given_flags(const CLI::App& command, const TrainArgs& args) {
  nlohmann::json flags = nlohmann::json::object();
  for (const auto& [key, text] : args.values)
    if (command.get_option("--" + key)->count() > 0) flags[key] = parse_option_text(key, text);
  return flags;
}

// Defaults, then the config file, then flags. With --resume, the run's saved config
// stands in for the defaults, so a resumed run computes what the first one did.
TrainConfig resolve(const CLI::App& command, const TrainArgs& args) {
  const auto flags = given_flags(command, args);
  const auto file = args.config_file.empty() ? nlohmann::json::object() : load_yaml_file(args.config_file);
  TrainConfig config = merge_config(merge_config(TrainConfig{}, file, args.config_file), flags, "command line");
  if (!config.resume) return config;
  const auto saved = (std::filesystem::path(config.out) / "config.json").string();
  if (!std::filesystem::exists(saved)) fail("nothing to resume in {}: {} not found", config.out, saved);
  const auto bytes = read_file_bytes(saved);
  TrainConfig base = merge_config(TrainConfig{}, nlohmann::json::parse(bytes.begin(), bytes.end()), saved);
  return merge_config(merge_config(base, file, args.config_file), flags, "command line");
}

}  // namespace

void add_train_command(CLI::App& app) {
  auto* command = app.add_subcommand("train", "Train a dense model from scratch (or --resume a run)");
  command->footer(
      "Options are also read from a YAML file (--config), keys named as the flags: `batch-size: 64`.\n"
      "Precedence: defaults < config file < flags. With --resume, the run's saved config replaces the defaults.\n"
      "Writes to --out: checkpoint.pt (every epoch), metrics.jsonl, config.json, result.json.");
  auto args = std::make_shared<TrainArgs>();
  command->add_option("--config", args->config_file, "YAML file of options")->check(CLI::ExistingFile);
  const auto defaults = to_json(TrainConfig{});
  for (const auto& key : train_config_keys()) {
    const auto& value = defaults.at(key.name);
    const std::string shown = value.is_string() ? value.get<std::string>() : value.dump();
    if (value.is_boolean()) {
      command->add_flag("--" + key.name + "{true}", args->values[key.name], key.help + " (--" + key.name + "=false to turn off)")
          ->default_str(shown);
    } else {
      command->add_option("--" + key.name, args->values[key.name], key.help)->default_str(shown);
    }
  }
  command->callback([command, args] {
    const auto config = resolve(*command, *args);
    const auto result = run_train_job(config);
    fmt::print("trained {} on {} for {} iterations in {}\n", config.model, config.dataset, result.train.iterations,
               Progress::format_duration(result.train.seconds));
    if (result.train.validation)
      fmt::print("validation: top-1 {:.2f}%  top-5 {:.2f}%\n", 100 * result.train.validation->top1,
                 100 * result.train.validation->top5);
    fmt::print("test: top-1 {:.2f}%  top-5 {:.2f}%  loss {:.4f}  ({} images)\n", 100 * result.test.top1,
               100 * result.test.top5, result.test.loss, result.test.samples);
    fmt::print("checkpoint: {}\n", result.checkpoint);
  });
}

}  // namespace domino::cli
