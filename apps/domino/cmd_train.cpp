#include "commands.h"
#include "config_options.h"
#include "domino/jobs/eval_job.h"
#include "domino/jobs/train_job.h"
#include "domino/train/progress.h"

namespace domino::cli {

void add_train_command(CLI::App& app) {
  auto* command = app.add_subcommand("train", "Train a dense model from scratch (or --resume a run)");
  command->footer(
      "Defaults are the paper's CIFAR dense recipe (supplementary Table 7).\n"
      "Options are also read from a YAML file (--config), keys named as the flags: `batch-size: 64`.\n"
      "Precedence: defaults < config file < flags. With --resume, the run's saved config replaces the defaults.\n"
      "Writes to --out: checkpoint.pt (every epoch), metrics.jsonl, config.json, result.json.");
  auto options = std::make_shared<ConfigOptions>();
  options->add(command);
  command->callback([options] {
    const auto config = options->resolve(TrainConfig{});
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
