#include <torch/torch.h>

#include "domino/core/error.h"
#include "domino/core/report.h"
#include "domino/data/datasets.h"
#include "domino/engine/latency_table.h"
#include "domino/jobs/search_job.h"
#include "domino/models/layer_table.h"
#include "domino/models/pretrained.h"
#include "domino/nm/baselines.h"
#include "jobs/run.h"

namespace domino {
namespace {

// The dense run's config with the search's own options, and its optimizer: plain SGD at a
// fixed rate (docs/ALGORITHM.md §2.5).
TrainConfig search_config(const SearchJob& job, TrainConfig dense) {
  const std::string dense_data = dense.data_dir;
  auto c = copy_options(job.train, std::move(dense), search_training_keys());
  if (c.data_dir.empty()) c.data_dir = dense_data;
  c.momentum = 0;
  c.weight_decay = 0;
  c.nesterov = false;
  c.schedule = "constant";
  c.warmup_epochs = 0;
  return c;
}

void refuse_unreachable(const Scheme& scheme, const SearchOptions& o, int64_t smallest) {
  std::vector<std::string> kept;
  for (const auto& l : scheme.layers)
    if (!l.searchable) kept.push_back(fmt::format("{} ({})", l.name, l.note));
  if (!kept.empty()) note("not searched: {}", fmt::join(kept, "; "));
  const double best = reachable(scheme, o.target.kind, smallest);
  if (best < o.target.value - 0.001)
    fail("target {} cannot be reached: with every searchable layer at {}:{} the {} is {:.4f}{}", to_string(o.target),
         smallest, o.M, describe(o.target.kind), best,
         kept.empty() ? "" : fmt::format(" ({} layers kept dense)", kept.size()));
}

}  // namespace

const std::vector<std::string>& search_training_keys() {
  static const std::vector<std::string> keys = {
      "batch-size", "lr", "max-iters", "seed", "data-dir", "precision", "threads", "workers", "device", "memory-format",
      "out", "resume", "force", "log-every", "checkpoint-every", "checkpoint-minutes", "sync-bn", "dist-timeout", "dist-backend",
      "dist-overlap"};
  return keys;
}

TrainConfig search_training_defaults() {
  TrainConfig c;
  c.batch_size = 64;
  c.lr = 0.01;
  c.max_iters = 100000;
  c.out = "runs/search";
  c.log_every = 100;
  return c;
}

SearchResult run_search_job(const SearchJob& job) {
  const int64_t budget = job.train.max_iters;
  if (budget <= 0) fail("max-iters (the search's iteration budget) must be positive, got {}", budget);
  const auto checkpoint = starting_checkpoint(job.checkpoint, job.pretrained.config(job.train.data_dir));
  auto config = search_config(job, merge_config(TrainConfig{}, checkpoint.config, job.checkpoint));
  validate(config);
  const Run run(config);
  const auto& spec = dataset_spec(config.dataset);

  auto model = model_from_checkpoint(checkpoint, job.checkpoint);
  const auto table = build_layer_table(*model, spec.shape);  // dense forward, before masks
  Scheme scheme = dense_scheme(table, job.options.M, job.options.layout, job.options.exclude);
  scheme.model = checkpoint.model;
  scheme.dataset = config.dataset;
  scheme.source = "dominosearch";
  scheme.target = job.options.target;
  scheme.options = job.options.to_json();
  scheme.options["lr"] = config.lr;
  scheme.options["batch_size"] = config.batch_size;
  scheme.options["max_iters"] = budget;
  scheme.options["seed"] = config.seed;
  scheme.options["precision"] = config.precision;
  scheme.options["checkpoint"] = job.checkpoint.empty() ? job.pretrained.file : job.checkpoint;
  const auto candidates = candidate_ns(job.options.M, job.options.candidates);
  if (!job.options.latency_table.empty()) {
    engine::attach_latency_table(scheme, job.options.latency_table, candidates);
    // Listed with the other layers not searched (refuse_unreachable's note).
    if (job.options.target.kind == TargetKind::Latency) engine::keep_unaccelerated_layers_dense(scheme);
  } else if (job.options.target.kind == TargetKind::Latency)
    fail("target {} needs a latency table of the model: --latency-table FILE (made by `domino latency-table --model {} "
         "--dataset {} --M {}`)", to_string(job.options.target), checkpoint.model, config.dataset, job.options.M);
  refuse_unreachable(scheme, job.options, candidates.front());

  const auto data = make_train_data(config);
  config.epochs = (budget + data.train->batches_per_epoch() - 1) / data.train->batches_per_epoch();
  model->to(run.device);
  DominoSearch search(*model, scheme, job.options);
  search.on_decision = [](const Decision& d) {
    note("iteration {}: {} -> N={} (param sparsity {:.4f}, FLOPs reduction {:.4f})", d.iteration, d.layer, d.N,
         d.param_sparsity, d.flops_reduction);
  };
  auto setup = make_train_setup(model, checkpoint.model, checkpoint.model_options, config, TrainData{data.train, nullptr},
                                run.device, &search, run.group());
  run.write_config(config);  // what --resume continues with
  const auto trained = train(setup);

  SearchResult result;
  result.scheme = search.scheme();
  if (job.options.policy == Policy::FixedN) result.scheme = to_fixed_n(result.scheme);
  result.iterations = trained.iterations;
  result.seconds = trained.seconds;
  result.scheme_path = run.file("scheme.json");
  // Seconds of this invocation: a resumed search reports the part it ran.
  result.scheme.run = {{"iterations", trained.iterations}, {"seconds", trained.seconds}};
  if (run.writes()) save_scheme(result.scheme, result.scheme_path);
  if (!search.reached())
    fail("the search budget of {} iterations ran out at {} {:.4f} < target {}; the last scheme and decision log are in {}; "
         "continue with --resume and a larger --max-iters",
         budget, describe(job.options.target.kind), search.scheme().achieved(job.options.target.kind),
         to_string(job.options.target), result.scheme_path);
  return result;
}

}  // namespace domino
