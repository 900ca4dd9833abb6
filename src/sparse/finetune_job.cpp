#include "domino/finetune.h"

#include <torch/torch.h>

#include <filesystem>

#include "domino/datasets.h"
#include "domino/error.h"
#include "domino/layer_table.h"
#include "domino/precision.h"
#include "domino/runtime.h"
#include "io/run_dir.h"
#include "util/files.h"

namespace fs = std::filesystem;

namespace domino {

TrainConfig finetune_recipe(const std::string& recipe, TrainConfig c) {
  c.momentum = 0.9;
  c.weight_decay = 5e-4;
  c.nesterov = false;
  c.lr = 0.01;
  c.warmup_epochs = 0;
  c.resume = false;
  c.max_iters = 0;
  c.precision = TrainConfig{}.precision;  // how the dense model was trained is no default for this run
  c.memory_format = TrainConfig{}.memory_format;
  if (recipe == "cifar") {
    c.epochs = 160;
    c.batch_size = 64;
    c.schedule = "multistep";
    c.milestones = {80, 120};
    c.gamma = 0.1;
  } else if (recipe == "imagenet") {
    c.epochs = 120;
    c.batch_size = 256;
    c.schedule = "cosine";
  } else {
    fail("unknown recipe '{}' (valid: cifar, imagenet)", recipe);
  }
  return c;
}

std::optional<Scheme> scheme_of(const Checkpoint& checkpoint, const std::string& source) {
  const auto found = checkpoint.extra.find("scheme");
  if (found == checkpoint.extra.end()) return std::nullopt;
  if (!found->value().isString()) fail("{}: its scheme entry is not text", source);
  return scheme_from_json(parse_json(found->value().toStringRef(), source + " (its scheme)"), source);
}

FinetuneResult run_finetune_job(const FinetuneJob& job) {
  TrainConfig c = job.config;
  validate(c);
  const auto dense = starting_checkpoint(job.checkpoint, c);
  if (c.model != dense.model) fail("checkpoint {} holds a {}, not a {}", job.checkpoint, dense.model, c.model);
  const auto& spec = dataset_spec(c.dataset);
  auto model = model_from_checkpoint(dense, job.checkpoint);
  const auto table = build_layer_table(*model, spec.shape);
  Scheme scheme = load_scheme(job.scheme, &table);
  if (!scheme.model.empty() && scheme.model != dense.model)
    fail("{} is a scheme for {}, but {} holds a {}", job.scheme, scheme.model, job.checkpoint, dense.model);
  check_scheme_fits(scheme, table, job.scheme);
  const RunDirLock lock(c.out, run_dir_mode(c.resume, c.force), checkpoint_path(c.out));  // nothing written before this
  if (scheme.model.empty()) scheme.model = c.model;
  if (scheme.dataset.empty()) scheme.dataset = c.dataset;

  set_threads(c.threads);
  const auto device = resolve_device(c.device);
  c.precision = to_string(resolve_precision(c.precision, device));  // config.json says what was computed
  auto data = make_train_data(c);
  auto test = make_eval_loader(c, EvalSplit::Test, 256, c.workers);
  fs::create_directories(c.out);
  save_scheme(scheme, (fs::path(c.out) / "scheme.json").string());
  write_json_file((fs::path(c.out) / "config.json").string(), to_json(c));

  model->to(device);
  install_srste(*model, scheme, job.decay);
  TrainSetup setup;
  setup.model = model;
  setup.model_name = dense.model;
  setup.model_options = dense.model_options;
  setup.config = c;
  setup.train = data.train;
  setup.validation = data.validation;
  setup.device = device;
  FinetuneResult result;
  result.train = train(setup);
  result.scheme = scheme;

  hard_prune(*model, scheme);
  result.test = evaluate(*model, *test, device, "test", Precision::FP32, parse_memory_format(c.memory_format));
  Checkpoint pruned;
  pruned.model = dense.model;
  pruned.model_options = dense.model_options;
  pruned.config = to_json(c);
  pruned.iteration = result.train.iterations;
  pruned.model_state = module_state(*model);
  pruned.extra.insert("scheme", json_text(to_json(scheme)));
  result.pruned = (fs::path(c.out) / "pruned.pt").string();
  save_checkpoint(pruned, result.pruned);
  write_json_file((fs::path(c.out) / "result.json").string(),
                  {{"iterations", result.train.iterations}, {"train_seconds", result.train.seconds},
                   {"param_sparsity", scheme.param_sparsity()}, {"flops_reduction", scheme.flops_reduction()},
                   {"test", {{"top1", result.test.top1}, {"top5", result.test.top5}, {"loss", result.test.loss}}}});
  return result;
}

}  // namespace domino
