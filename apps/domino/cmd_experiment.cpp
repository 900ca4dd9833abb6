#include <filesystem>

#include "commands.h"
#include "config_options.h"
#include "domino/experiment/experiment.h"

namespace domino::cli {

void add_experiment_command(CLI::App& app) {
  auto* command = app.add_subcommand("experiment", "Run a grid: scheme source x budget x seed, fine-tune and compare");
  command->footer(
      "The YAML config names the dense model (dense: {checkpoint: FILE} or {train: CONFIG}), M, budgets\n"
      "(params:S / flops:S), schemes (dominosearch, dominosearch-no-eta, fixed-n, uniform, erk), seeds,\n"
      "search / finetune options, threads, device, precision and memory-format (flags given here replace the config's).\n"
      "Every cell's outputs are cached under out/ (or cache:):\n"
      "a killed experiment resumes where it stopped, and finished cells are never run again.\n"
      "Writes results.md, results.csv, report.html.");
  struct Args {
    std::string config;
    OptionFlags run;  // threads, device, precision, memory-format: as train names them
  };
  auto a = std::make_shared<Args>();
  command->add_option("--config", a->config, "experiment YAML (see configs/)")->required()->check(CLI::ExistingFile);
  const TrainConfig defaults;
  a->run.add(command, train_options(), defaults, experiment_run_keys());
  command->callback([a] {
    auto spec = load_experiment(a->config);
    apply_run_options(spec, a->run.given(), "command line");
    const auto result = run_experiment(spec);
    const auto out = std::filesystem::path(spec.out);
    fmt::print("{}\nresults: {}, {}\nreport:  {}\n", result.table_md, (out / "results.md").string(), (out / "results.csv").string(),
               (out / "report.html").string());
  });
}

}  // namespace domino::cli
