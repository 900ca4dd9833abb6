#include <filesystem>

#include "commands.h"
#include "domino/experiment/experiment.h"

namespace domino::cli {

void add_experiment_command(CLI::App& app) {
  auto* command = app.add_subcommand("experiment", "Run a grid: scheme source x budget x seed, fine-tune and compare");
  command->footer(
      "The YAML config names the dense model (dense: {checkpoint: FILE} or {train: CONFIG}), M, budgets\n"
      "(params:S / flops:S), schemes (dominosearch, dominosearch-no-eta, fixed-n, uniform, erk), seeds,\n"
      "search / finetune options, threads, device, precision and memory-format. Every cell's outputs are cached under out/ (or cache:):\n"
      "a killed experiment resumes where it stopped, and finished cells are never run again.\n"
      "Writes results.md, results.csv, report.html.");
  struct Args {
    std::string config;
    int threads = -1;
    std::string device, precision, memory_format;
  };
  auto a = std::make_shared<Args>();
  command->add_option("--config", a->config, "experiment YAML (see configs/)")->required()->check(CLI::ExistingFile);
  command->add_option("--threads", a->threads, "LibTorch threads (default: the config's, else every core)");
  command->add_option("--device", a->device, "auto, cpu, cuda or cuda:K (default: the config's, else auto)");
  command->add_option("--precision", a->precision,
                      "auto, fp32, bf16 or fp16 (CUDA) for every stage (default: the config's, else auto: bf16 where native)");
  command->add_option("--memory-format", a->memory_format, "channels-last or contiguous (default: the config's, else channels-last)");
  command->callback([a] {
    auto spec = load_experiment(a->config);
    if (a->threads >= 0) spec.threads = a->threads;
    if (!a->device.empty()) spec.device = a->device;
    if (!a->precision.empty()) spec.precision = a->precision;
    if (!a->memory_format.empty()) spec.memory_format = a->memory_format;
    const auto result = run_experiment(spec);
    const auto out = std::filesystem::path(spec.out);
    fmt::print("{}\nresults: {}, {}\nreport:  {}\n", result.table_md, (out / "results.md").string(), (out / "results.csv").string(),
               (out / "report.html").string());
  });
}

}  // namespace domino::cli
