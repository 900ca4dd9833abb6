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
      "A --config YAML file may hold any of these options, keys named as the flags (`kp: 5`).\n"
      "Example: domino search --checkpoint runs/demo/dense/checkpoint.pt --target params:0.875 --M 16 --out runs/search\n"
      "From published weights: domino search --pretrained resnet50.pth --model resnet50 --dataset imagenet \\\n"
      "  --data-dir /data/imagenet --target flops:0.8 --out runs/r50-search");
  struct Args {
    SearchJob job;
    std::string target;
    OptionFlags search;    // the search's own options (M, layout, lambda, ...)
    ConfigOptions training;  // training and run options: the same names, help and checks as train's
  };
  auto a = std::make_shared<Args>();
  auto& j = a->job;
  auto* checkpoint = command->add_option("--checkpoint", j.checkpoint, "dense checkpoint (from domino train)");
  add_pretrained_options(command, j.pretrained, checkpoint);
  command->add_option("--model", j.pretrained.model, "with --pretrained: the zoo model the weights are for");
  command->add_option("--target", a->target, "params:S (param sparsity), flops:S (FLOPs reduction) or latency:S (with --latency-table), e.g. params:0.875")->required();
  a->search.add(command, search_options(), SearchOptions{});
  a->training.add(command, search_training_defaults(), search_training_keys(), search_options().names());
  command->callback([a] {
    a->job.train = a->training.resolve(search_training_defaults());
    const auto& table = search_options();
    a->job.options = table.merge(table.merge(SearchOptions{}, a->training.file_part(table.names()), a->training.file_name()),
                                 a->search.given(), "command line");
    a->job.options.target = parse_target(a->target);
    validate(a->job.options);
    const auto result = run_search_job(a->job);
    fmt::print("{}", format_scheme_table(result.scheme));
    fmt::print("reached {} in {} iterations ({}), {} decisions\nscheme: {}\n", to_string(*result.scheme.target),
               result.iterations, Progress::format_duration(result.seconds), result.scheme.decisions.size(),
               result.scheme_path);
  });
}

}  // namespace domino::cli
