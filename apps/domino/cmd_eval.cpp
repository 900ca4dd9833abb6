#include "commands.h"
#include "config_options.h"
#include "domino/core/runtime.h"
#include "domino/jobs/eval_job.h"
#include "domino/jobs/results.h"
#include "domino/jobs/train_job.h"
#include "io/files.h"

namespace domino::cli {
namespace {

// data-dir empty: the run's. Evaluation is exact (fp32) unless asked otherwise.
const std::vector<std::string> kEvalOptions = {"data-dir", "batch-size", "workers", "threads", "device", "precision", "memory-format",
                                               "dist-timeout", "dist-backend"};

TrainConfig eval_defaults() {
  auto c = inference_defaults(kEvalBatchSize);
  c.precision = "fp32";  // as EvalJob's
  return c;
}

}  // namespace

void add_eval_command(CLI::App& app) {
  auto* command = app.add_subcommand("eval", "Evaluate a checkpoint or pretrained weights: top-1 and top-5 accuracy");
  struct Args {
    EvalJob job;
    std::string split = "test", engine = "libtorch";
    bool json = false;
    ConfigOptions options;  // data, batch and run options, as train names them
  };
  auto args = std::make_shared<Args>();
  add_inference_source_options(command, args->job.source);
  command->add_option("--split", args->split, "test, val (the run's held-out split) or train")
      ->check(CLI::IsMember(kEvalSplits.names()))
      ->capture_default_str();
  command->add_option("--model", args->job.expect_model, "fail unless the checkpoint holds this model; with --pretrained: the model");
  args->options.add(command, eval_defaults(), kEvalOptions);
  command->add_option("--engine", args->engine,
                      "libtorch, or nm: the N:M engine runs the N:M layers (of pruned.pt's scheme, --scheme or --nm; CPU, fp32)")
      ->check(CLI::IsMember(kEngines.names()))->capture_default_str();
  command->add_flag("--json", args->json, "print the result as JSON");
  command->callback([args] {
    const auto options = args->options.resolve(eval_defaults());
    validate(options);  // sizes, thread counts, precision and memory-format names
    args->job.source.data_dir = options.data_dir;
    args->job.batch_size = options.batch_size;
    args->job.precision = options.precision;
    args->job.run = options;  // its RunContext part
    args->job.source.pretrained.model = args->job.expect_model;
    args->job.split = kEvalSplits.parse(args->split, "split");
    args->job.engine = kEngines.parse(args->engine, "engine");
    const auto r = run_eval_job(args->job);
    if (args->json) {
      auto j = to_json(r);
      j["split"] = args->split;
      fmt::print("{}\n", json_text(j));
    } else {
      fmt::print("{}: top-1 {:.2f}%  top-5 {:.2f}%  loss {:.4f}  ({} images)\n", args->split, 100 * r.top1, 100 * r.top5,
                 r.loss, r.samples);
    }
  });
}

}  // namespace domino::cli
