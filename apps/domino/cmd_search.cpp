#include "commands.h"
#include "config_options.h"
#include "domino/jobs/search_job.h"
#include "domino/search/search.h"
#include "domino/train/progress.h"

namespace domino::cli {

void add_search_command(CLI::App& app) {
  auto* command = app.add_subcommand("search", "DominoSearch: find layer-wise N:M schemes from a dense checkpoint or pretrained weights");
  command->footer(
      "Writes to --out: scheme.json (the result, also when the budget runs out), checkpoint.pt (the search's\n"
      "whole state, every epoch and on stop), metrics.jsonl, config.json. Defaults are the paper's (supplementary Table 5).\n"
      "--max-iters is the search's iteration budget; options not given are the dense run's (data, model), and\n"
      "the optimizer is plain SGD at the fixed --lr. With --resume, the search's saved config.json is the base.\n"
      "Example: domino search --checkpoint runs/demo/dense/checkpoint.pt --target params:0.875 --M 16 --out runs/search\n"
      "From published weights: domino search --pretrained resnet50.pth --model resnet50 --dataset imagenet \\\n"
      "  --data-dir /data/imagenet --target flops:0.8 --out runs/r50-search");
  struct Args {
    SearchJob job;
    std::string target, layout = "NHWC", policy = "fixed-m", candidates = "pow2";
    double beta1 = -1, beta2 = -1;
    bool no_eta = false;
  };
  auto a = std::make_shared<Args>();
  auto& j = a->job;
  auto& o = j.options;
  auto* checkpoint = command->add_option("--checkpoint", j.checkpoint, "dense checkpoint (from domino train)");
  add_pretrained_options(command, j.pretrained, checkpoint);
  command->add_option("--model", j.pretrained.model, "with --pretrained: the zoo model the weights are for");
  command->add_option("--target", a->target, "params:S (param sparsity) or flops:S (FLOPs reduction), e.g. params:0.875")->required();
  command->add_option("--M", o.M, "group size M")->check(CLI::IsMember({4, 8, 16, 32}))->capture_default_str();
  command->add_option("--layout", a->layout, "group formation: NHWC (along input channels) or NCHW")
      ->check(CLI::IsMember({"NHWC", "NCHW"}))->capture_default_str();
  command->add_option("--candidates", a->candidates, "N candidates: pow2 (1, 2, 4, ..., M) or all (1..M)")
      ->check(CLI::IsMember(kCandidateSets.names()))->capture_default_str();
  command->add_option("--beta1", a->beta1, "weight of computational complexity in eta (default 0.5 for params, 0.8 for flops)");
  command->add_option("--beta2", a->beta2, "weight of redundancy in eta (default 0.5 for params, 0.2 for flops)");
  command->add_flag("--no-eta", a->no_eta, "ablation: eta = 1 for every layer");
  command->add_option("--policy", a->policy, "fixed-m, or fixed-n (map N:M to 1:(M/N) at the end)")
      ->check(CLI::IsMember(kPolicies.names()))->capture_default_str();
  command->add_option("--lambda", o.lambda, "penalty factor lambda")->capture_default_str();
  command->add_option("--kp", o.kp, "apply the penalty every kp iterations")->check(CLI::PositiveNumber)->capture_default_str();
  command->add_option("--kc", o.kc, "check the layers every kc iterations")->check(CLI::PositiveNumber)->capture_default_str();
  command->add_option("--vr", o.vr, "vote ratio")->capture_default_str();
  command->add_option("--exclude", o.exclude, "layer-name globs to keep dense (repeatable), e.g. conv1 'layer3.*'");
  // Training and run options (batch size, lr, max-iters, seed, threads, device, out, resume, ...)
  // come from TrainConfig's key list: the same names, help and checks as train's.
  auto training = std::make_shared<ConfigOptions>();
  training->add(command, search_training_defaults(), search_training_keys());
  command->callback([a, command, training] {
    a->job.train = training->resolve(*command, search_training_defaults());
    auto& o = a->job.options;
    o.target = parse_target(a->target);
    o.layout = parse_layout(a->layout);
    o.policy = kPolicies.parse(a->policy, "policy");
    o.candidates = kCandidateSets.parse(a->candidates, "candidate set");
    o.use_eta = !a->no_eta;
    if (a->beta1 >= 0) o.beta1 = a->beta1;
    if (a->beta2 >= 0) o.beta2 = a->beta2;
    const auto result = run_search_job(a->job);
    fmt::print("{}", format_scheme_table(result.scheme));
    fmt::print("reached {} in {} iterations ({}), {} decisions\nscheme: {}\n", to_string(*result.scheme.target),
               result.iterations, Progress::format_duration(result.seconds), result.scheme.decisions.size(),
               result.scheme_path);
  });
}

}  // namespace domino::cli
