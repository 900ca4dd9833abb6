#include "commands.h"
#include "config_options.h"
#include "domino/core/runtime.h"
#include "domino/jobs/eval_job.h"
#include "domino/jobs/train_job.h"
#include "io/files.h"

namespace domino::cli {

void add_eval_command(CLI::App& app) {
  auto* command = app.add_subcommand("eval", "Evaluate a checkpoint or pretrained weights: top-1 and top-5 accuracy");
  struct Args {
    EvalJob job;
    std::string split = "test", engine = "libtorch";
    int threads = 0;
    bool json = false;
  };
  auto args = std::make_shared<Args>();
  add_inference_source_options(command, args->job.source);
  command->add_option("--split", args->split, "test, val (the run's held-out split) or train")
      ->check(CLI::IsMember(kEvalSplits.names()))
      ->capture_default_str();
  command->add_option("--model", args->job.expect_model, "fail unless the checkpoint holds this model; with --pretrained: the model");
  command->add_option("--data-dir", args->job.source.data_dir, "dataset directory (default: the run's)");
  command->add_option("--batch-size", args->job.batch_size, "images per batch")->capture_default_str()->check(CLI::PositiveNumber);
  command->add_option("--workers", args->job.workers, "data-pipeline threads")->capture_default_str()->check(CLI::NonNegativeNumber);
  command->add_option("--threads", args->threads, "LibTorch threads (0: every core)")->capture_default_str()->check(CLI::NonNegativeNumber);
  command->add_option("--device", args->job.device, "auto, cpu, cuda or cuda:K")->capture_default_str();
  command->add_option("--precision", args->job.precision,
                      "fp32 (exact), bf16, fp16 (CUDA) or auto (bf16 where native): autocast for the forward")
      ->check(CLI::IsMember({"auto", "fp32", "bf16", "fp16"}))->capture_default_str();
  command->add_option("--memory-format", args->job.memory_format, "channels-last or contiguous (NCHW)")
      ->check(CLI::IsMember({"channels-last", "contiguous"}))->capture_default_str();
  command->add_option("--engine", args->engine,
                      "libtorch, or nm: the N:M engine runs the N:M layers (of pruned.pt's scheme, --scheme or --nm; CPU, fp32)")
      ->check(CLI::IsMember(kEngines.names()))->capture_default_str();
  command->add_flag("--json", args->json, "print the result as JSON");
  command->callback([args] {
    set_threads(args->threads);
    args->job.source.pretrained.model = args->job.expect_model;
    args->job.split = kEvalSplits.parse(args->split, "split");
    args->job.engine = kEngines.parse(args->engine, "engine");
    const auto r = run_eval_job(args->job);
    if (args->json)
      fmt::print("{}\n", json_text({{"split", args->split}, {"top1", r.top1}, {"top5", r.top5}, {"loss", r.loss},
                                    {"samples", r.samples}}));
    else
      fmt::print("{}: top-1 {:.2f}%  top-5 {:.2f}%  loss {:.4f}  ({} images)\n", args->split, 100 * r.top1, 100 * r.top5,
                 r.loss, r.samples);
  });
}

}  // namespace domino::cli
