#include <torch/torch.h>

#include <optional>

#include "commands.h"
#include "config_options.h"
#include "domino/core/error.h"
#include "domino/core/runtime.h"
#include "domino/data/datasets.h"
#include "domino/engine/infer_bench.h"
#include "domino/sparse/export.h"
#include "domino/train/precision.h"
#include "domino/train/progress.h"
#include "io/files.h"

namespace domino::cli {
namespace {

std::string shape_text(const std::vector<int64_t>& shape) { return fmt::format("{}", fmt::join(shape, "x")); }

double speedup(double dense_ms, double nm_ms) { return nm_ms > 0 ? dense_ms / nm_ms : 0.0; }

nlohmann::json to_json(const engine::InferenceTiming& t, const std::string& dense_format) {
  nlohmann::json layers = nlohmann::json::array();
  for (const auto& l : t.layers)
    layers.push_back({{"name", l.name}, {"input", l.input_shape}, {"weight", l.weight_shape}, {"N", l.N}, {"M", l.M},
                      {"dense_ms", l.dense_ms}, {"nm_ms", l.nm_ms}, {"speedup", speedup(l.dense_ms, l.nm_ms)}});
  const double images = static_cast<double>(t.batch_size);
  return {{"batch_size", t.batch_size}, {"threads", t.threads}, {"isa", t.isa}, {"blas", t.blas}, {"dense_format", dense_format},
          {"dense", {{"ms", t.dense_ms}, {"images_per_second", 1000 * images / t.dense_ms}}},
          {"nm", {{"ms", t.nm_ms}, {"images_per_second", 1000 * images / t.nm_ms}}},
          {"speedup", speedup(t.dense_ms, t.nm_ms)}, {"layers", layers}, {"dense_layers", t.switched.dense},
          {"folded_batchnorms", t.switched.folded_batchnorms}, {"max_abs_diff", t.max_abs_diff}, {"same_top1", t.same_top1}};
}

// What the scheme's latency table predicted for its prunable layers against what was just
// measured for them (the engine's layers, and LibTorch's time of those it kept dense): the
// truth check of a latency budget. Null without a table in the scheme.
nlohmann::json table_check(const engine::InferenceTiming& t, const Scheme& scheme) {
  if (!scheme.latency) return nullptr;
  std::map<std::string, double> measured = t.dense_layer_ms;  // layers kept dense: LibTorch's time
  for (const auto& l : t.layers) measured[l.name] = l.nm_ms;
  double predicted = 0, got = 0;
  for (const auto& l : scheme.layers) {
    const auto it = measured.find(l.name);
    if (it == measured.end()) continue;  // not timed alone (rare): left out of both sums
    predicted += scheme.latency->at(l.name, std::min(l.N, l.M));
    got += it->second;
  }
  return {{"table", scheme.latency->table}, {"predicted_ms", predicted}, {"measured_ms", got}};
}

void print_table(const engine::InferenceTiming& t, const std::string& model, int64_t repeats, const std::string& dense_format) {
  fmt::print("{}: batch {}, {} threads, engine kernels {}, dense forward {}, BLAS {}; medians of {} timed forwards\n",
             model, t.batch_size, t.threads, t.isa, dense_format, t.blas, repeats);
  fmt::print("{:<24} {:>15} {:>15} {:>6} {:>10} {:>10} {:>8}\n", "layer", "input", "weight", "N:M", "dense ms", "N:M ms",
             "speed-up");
  for (const auto& l : t.layers)
    fmt::print("{:<24} {:>15} {:>15} {:>6} {:>10.3f} {:>10.3f} {:>7.2f}x\n", l.name, shape_text(l.input_shape),
               shape_text(l.weight_shape), fmt::format("{}:{}", l.N, l.M), l.dense_ms, l.nm_ms, speedup(l.dense_ms, l.nm_ms));
  if (!t.switched.dense.empty()) fmt::print("kept dense (LibTorch): {}\n", fmt::join(t.switched.dense, ", "));
  const double images = static_cast<double>(t.batch_size);
  fmt::print("whole model: dense {:.2f} ms ({:.1f} images/s), N:M engine {:.2f} ms ({:.1f} images/s): {:.2f}x\n", t.dense_ms,
             1000 * images / t.dense_ms, t.nm_ms, 1000 * images / t.nm_ms, speedup(t.dense_ms, t.nm_ms));
  fmt::print("engine against dense: max |difference| of the outputs {:.2e}; same top-1 class for {} of {} images\n",
             t.max_abs_diff, t.same_top1, t.batch_size);
}

constexpr int64_t kBatchSize = 1;

}  // namespace

void add_bench_infer_command(CLI::App& app) {
  auto* command = app.add_subcommand("bench-infer", "Time inference: LibTorch's dense forward against the N:M engine, per layer and whole");
  command->footer(
      "Both run in this process on the same random input of the dataset's image size, one after the other.\n"
      "The N:M ms of a layer includes the BatchNorm folded into it. docs/engine.md says what the engine runs.\n"
      "Example: domino bench-infer --checkpoint runs/f/pruned.pt --batch-size 1 --threads 2\n"
      "         domino bench-infer --model resnet50 --dataset imagenet --scheme configs/schemes/resnet50_M16_0.80.txt --prune");
  struct Args {
    InferenceSource source;
    engine::BenchOptions bench;
    int64_t image_size = 0;
    OptionFlags options;  // batch-size, threads: as train names them
    std::string isa, dense_format = "contiguous";
    bool prune = false, json = false;
  };
  auto a = std::make_shared<Args>();
  add_inference_source_options(command, a->source);
  command->add_option("--model", a->source.pretrained.model,
                      "with --pretrained: the zoo model the weights are for; alone: that model untrained (with --scheme and --prune)");
  const auto defaults = inference_defaults(kBatchSize);
  a->options.add(command, train_options(), defaults, {"batch-size", "threads"});
  command->add_option("--image-size", a->image_size, "input height and width (default: the dataset's)")
      ->check(CLI::PositiveNumber);
  command->add_option("--repeats", a->bench.repeats, "timed forwards per mode")->check(CLI::PositiveNumber)->capture_default_str();
  command->add_option("--warmup", a->bench.warmup, "untimed forwards first")->check(CLI::NonNegativeNumber)->capture_default_str();
  command->add_option("--max-density", a->bench.max_density, "engine runs layers with N/M up to this; denser stay LibTorch")
      ->check(CLI::Range(0.0, 1.0))
      ->capture_default_str();
  command->add_option("--dense-format", a->dense_format, "memory format of LibTorch's dense forward: contiguous (NCHW) or channels-last")
      ->check(CLI::IsMember(kMemoryFormats.names()))
      ->capture_default_str();
  command->add_option("--isa", a->isa, "limit the engine's kernels: portable, avx2 or avx512 (default: the best the CPU has)")
      ->check(CLI::IsMember({"portable", "avx2", "avx512"}));
  command->add_flag("--prune", a->prune,
                    "first set each layer's smallest weights to zero as the scheme says (for speed only: dense weights "
                    "pruned without fine-tuning lose their accuracy)");
  command->add_flag("--json", a->json, "print the timings as JSON");
  command->callback([a] {
    refuse_launch("bench-infer", "ranks timed side by side would measure each other's load");
    const auto options = merge_config(inference_defaults(kBatchSize), a->options.given(), "command line");
    validate(options);
    set_threads(options.threads);  // the engine's too
    if (!a->isa.empty()) engine::limit_isa(engine::parse_isa(a->isa));
    a->bench.dense_channels_last = a->dense_format == "channels-last";
    a->source.classes_from_weights = true;  // only timing: the dataset's class count does not matter
    a->source.allow_untrained = true;
    auto m = load_inference_model(a->source);
    const auto& scheme = engine_scheme(m);
    if (a->prune) load_module_state(*m.model, pruned_state(module_state(*m.model), scheme), m.source);
    const auto shape = dataset_spec(m.config.dataset).shape;
    const int64_t h = a->image_size ? a->image_size : shape.height, w = a->image_size ? a->image_size : shape.width;
    torch::manual_seed(0);
    const auto input = torch::randn({options.batch_size, shape.channels, h, w});
    std::optional<Progress> progress;
    a->bench.on_forward = [&](int64_t done, int64_t total) {
      if (!progress) progress.emplace("bench-infer", total);
      if (done == total) progress->finish(done, "");
      else progress->update(done, done <= total / 2 ? "dense" : "N:M engine");
    };
    const auto timing = engine::bench_inference(*m.model, scheme, input, a->bench);
    const auto check = table_check(timing, scheme);
    if (a->json) {
      auto j = to_json(timing, a->dense_format);
      j["latency_table"] = check;
      fmt::print("{}\n", json_text(j, 2));
      return;
    }
    print_table(timing, m.config.model, a->bench.repeats, a->dense_format);
    if (!check.is_null())
      fmt::print("latency table {}: predicted {:.3f} ms for the prunable layers, measured {:.3f} ms ({:+.1f} %)\n",
                 check["table"].get<std::string>(), check["predicted_ms"].get<double>(), check["measured_ms"].get<double>(),
                 100 * (check["measured_ms"].get<double>() / check["predicted_ms"].get<double>() - 1));
  });
}

}  // namespace domino::cli
