#include "commands.h"
#include "config_options.h"
#include "domino/io/checkpoint.h"
#include "domino/jobs/finetune_job.h"
#include "domino/sparse/finetune.h"
#include "domino/train/progress.h"

namespace domino::cli {

void add_finetune_command(CLI::App& app) {
  auto* command = app.add_subcommand("finetune", "Train a dense checkpoint (or pretrained weights) into an N:M scheme with SR-STE");
  command->footer(
      "Defaults: the paper's fine-tuning recipe (--recipe cifar: multi-step from 0.01; imagenet: cosine from 0.01),\n"
      "on the dense run's data settings; any training option overrides it, as for `domino train`.\n"
      "Writes to --out: checkpoint.pt (resumable), pruned.pt (hard-pruned weights with the scheme), scheme.json,\n"
      "metrics.jsonl, config.json, result.json.\n"
      "From published weights: --pretrained resnet18.pth --model resnet18 --dataset imagenet --data-dir DIR.");
  struct Args {
    FinetuneJob job;
    std::string recipe = "cifar";
    ConfigOptions options;
  };
  auto a = std::make_shared<Args>();
  auto* checkpoint = command->add_option("--checkpoint", a->job.checkpoint, "dense checkpoint (or --pretrained, --model, --dataset)");
  command->add_option("--scheme", a->job.scheme, "scheme file (JSON, or the authors' format)")->required();
  command->add_option("--recipe", a->recipe, "cifar or imagenet")->check(CLI::IsMember({"cifar", "imagenet"}))->capture_default_str();
  command->add_option("--srste-decay", a->job.decay, "SR-STE's lambda_w on pruned weights")->capture_default_str();
  a->options.add(command);
  checkpoint->excludes(command->get_option("--pretrained"));
  command->callback([a] {
    TrainConfig base;
    if (!a->job.checkpoint.empty()) base = merge_config(TrainConfig{}, load_checkpoint(a->job.checkpoint).config, a->job.checkpoint);
    base.out = "runs/finetune";
    a->job.config = a->options.resolve(finetune_recipe(a->recipe, base));
    const auto r = run_finetune_job(a->job);
    fmt::print("fine-tuned {} into {} ({:.4f} param sparsity, {:.4f} FLOPs reduction) in {} iterations, {}\n",
               a->job.config.model, a->job.scheme, r.scheme.param_sparsity(), r.scheme.flops_reduction(),
               r.train.iterations, Progress::format_duration(r.train.seconds));
    fmt::print("test: top-1 {:.2f}%  top-5 {:.2f}%  loss {:.4f}  ({} images)\npruned weights: {}\n", 100 * r.test.top1,
               100 * r.test.top5, r.test.loss, r.test.samples, r.pruned);
  });
}

}  // namespace domino::cli
