// `domino latency-table`: each prunable layer's time under the N:M engine at every candidate
// N, measured on this machine and kept in a file that later runs reuse.
#include <filesystem>
#include <optional>

#include "commands.h"
#include "config_options.h"
#include "domino/core/runtime.h"
#include "domino/data/datasets.h"
#include "domino/engine/latency_table.h"
#include "domino/nm/baselines.h"
#include "domino/train/progress.h"
#include "io/files.h"

namespace domino::cli {
namespace {

void print_table(const engine::LatencyTable& t) {
  const auto& k = t.key;
  fmt::print("{} on {}, input {}, {} threads, {} kernels, {}; medians of {} timed forwards a round (ms)\n", k.model,
             k.dataset, fmt::join(k.input, "x"), k.threads, k.isa, k.cpu, t.repeats);
  fmt::print("{:<24}", "layer");
  for (int64_t n : k.candidates) fmt::print(" {:>9}", fmt::format("{}:{}", n, k.M));
  fmt::print(" {:>9}\n", "dense");
  std::map<int64_t, double> sums;
  for (const auto& l : t.layers) {
    fmt::print("{:<24}", l.name);
    for (int64_t n : k.candidates) {
      fmt::print(" {:>9.4f}", t.ms(l.name, n));
      sums[n] += t.ms(l.name, n);
    }
    fmt::print(" {:>9.4f}\n", l.dense_ms);
  }
  fmt::print("{:<24}", "sum");
  for (int64_t n : k.candidates) fmt::print(" {:>9.3f}", sums[n]);
  fmt::print(" {:>9.3f}\nwhole dense forward: {:.3f} ms\n", t.dense_ms(), t.model_dense_ms);
}

}  // namespace

void add_latency_table_command(CLI::App& app) {
  auto* command = app.add_subcommand("latency-table", "Measure each prunable layer's time under the N:M engine at every candidate N");
  command->footer(
      "The table is kept in --out and reused while the model, input, batch size, threads, CPU, kernels, M, layout\n"
      "and candidates are the same (--force measures again). A layer's time at N < M is the engine's (BatchNorm\n"
      "folded in), or LibTorch's where the engine keeps that layer dense; at N = M it is LibTorch's dense layer.\n"
      "Example: domino latency-table --model resnet20 --dataset fashion-mnist --M 16 --batch-size 1 --threads 2 --out lat.json");
  struct Args {
    std::string model = "resnet20", dataset = "fashion-mnist", layout = "nhwc", candidates = "pow2", out;
    engine::LatencyOptions latency;
    OptionFlags options;  // batch-size, threads: as train names them
    bool force = false, json = false;
  };
  auto a = std::make_shared<Args>();
  command->add_option("--model", a->model, "model from the zoo")->capture_default_str();
  command->add_option("--dataset", a->dataset, "dataset whose image size and classes the input has")->capture_default_str();
  command->add_option("--M", a->latency.M, "group size M")->check(CLI::IsMember({4, 8, 16, 32}))->capture_default_str();
  command->add_option("--layout", a->layout, "group layout: nhwc (along input channels) or nchw")->capture_default_str();
  command->add_option("--candidates", a->candidates, "which N to measure: pow2 (1, 2, 4, ... < M) or all (1 .. M-1)")
      ->check(CLI::IsMember(kCandidateSets.names()))
      ->capture_default_str();
  a->options.add(command, train_options(), inference_defaults(1), {"batch-size", "threads"});
  command->add_option("--repeats", a->latency.repeats, "timed forwards per candidate")->check(CLI::PositiveNumber)->capture_default_str();
  command->add_option("--warmup", a->latency.warmup, "untimed forwards first")->check(CLI::NonNegativeNumber)->capture_default_str();
  command->add_option("--rounds", a->latency.rounds, "rounds over the candidates, interleaved; the median round counts")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  command->add_option("--out", a->out, "the table's file (JSON): reused if it matches, else written")->required();
  command->add_flag("--force", a->force, "measure again even if --out holds a table for the same key");
  command->add_flag("--json", a->json, "print the table as JSON");
  command->callback([a] {
    refuse_launch("latency-table", "ranks timed side by side would measure each other's load");
    const auto options = merge_config(inference_defaults(1), a->options.given(), "command line");
    validate(options);
    set_threads(options.threads);
    const auto& spec = dataset_spec(a->dataset);
    a->latency.batch_size = options.batch_size;
    a->latency.layout = parse_layout(a->layout);
    a->latency.candidates.clear();
    for (int64_t n : candidate_ns(a->latency.M, kCandidateSets.parse(a->candidates, "candidates")))
      if (n < a->latency.M) a->latency.candidates.push_back(n);
    const auto key = engine::latency_key(a->model, a->dataset, spec.shape, a->latency);
    std::optional<engine::LatencyTable> table;
    if (!a->force && std::filesystem::exists(a->out)) {
      auto cached = engine::latency_table_from_json(read_json_file(a->out), a->out);
      if (const auto differences = engine::key_differences(cached.key, key); !differences.empty())
        fail("{} holds a latency table for another setting ({}): its times are not this run's; give another --out, "
             "or --force to measure again", a->out, fmt::join(differences, ", "));
      fmt::print(stderr, "cached: {} (--force measures again)\n", a->out);
      table = std::move(cached);
    } else {
      std::optional<Progress> progress;
      a->latency.on_step = [&](int64_t done, int64_t total) {
        if (!progress) progress.emplace("latency-table", total);
        if (done == total) progress->finish(done, "");
        else progress->update(done, fmt::format("{}:{} measured", a->latency.candidates[(done - 1) % a->latency.candidates.size()], a->latency.M));
      };
      make_model(a->model, {spec.shape.channels, spec.num_classes});  // an unknown model fails before any timing
      table = engine::measure_latency_table(a->model, {spec.shape.channels, spec.num_classes}, spec.shape, a->dataset, a->latency);
      write_json_file(a->out, engine::to_json(*table));
    }
    if (a->json) fmt::print("{}\n", json_text(engine::to_json(*table), 2));
    else print_table(*table);
  });
}

}  // namespace domino::cli
