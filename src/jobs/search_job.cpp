#include <torch/torch.h>

#include "domino/core/error.h"
#include "domino/core/report.h"
#include "domino/data/datasets.h"
#include "domino/jobs/search_job.h"
#include "domino/models/layer_table.h"
#include "domino/models/pretrained.h"
#include "domino/nm/baselines.h"
#include "jobs/run.h"

namespace domino {
namespace {

// The search trains with plain SGD at a fixed rate (docs/ALGORITHM.md §2.5) on the dense
// run's training split, with the dense run's data settings.
TrainConfig search_config(const SearchJob& job, TrainConfig dense) {
  dense.lr = job.lr;
  dense.momentum = 0;
  dense.weight_decay = 0;
  dense.nesterov = false;
  dense.schedule = "constant";
  dense.warmup_epochs = 0;
  dense.batch_size = job.batch_size;
  dense.seed = job.seed;
  dense.threads = job.threads;
  dense.workers = job.workers;
  dense.device = job.device;
  dense.precision = job.precision;
  dense.memory_format = job.memory_format;
  dense.max_iters = job.max_iters;
  dense.out = job.out;
  dense.resume = job.resume;
  dense.force = job.force;
  dense.checkpoint_every = job.checkpoint_every;
  dense.checkpoint_minutes = job.checkpoint_minutes;
  dense.log_every = job.log_every;
  if (!job.data_dir.empty()) dense.data_dir = job.data_dir;
  return dense;
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

SearchResult run_search_job(const SearchJob& job) {
  if (job.max_iters <= 0) fail("max-iters (the search's iteration budget) must be positive, got {}", job.max_iters);
  const auto checkpoint = starting_checkpoint(job.checkpoint, job.pretrained.config(job.data_dir));
  auto config = search_config(job, merge_config(TrainConfig{}, checkpoint.config, job.checkpoint));
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
  scheme.options["lr"] = job.lr;
  scheme.options["batch_size"] = job.batch_size;
  scheme.options["max_iters"] = job.max_iters;
  scheme.options["seed"] = job.seed;
  scheme.options["precision"] = config.precision;
  scheme.options["checkpoint"] = job.checkpoint.empty() ? job.pretrained.file : job.checkpoint;
  const auto candidates = candidate_ns(job.options.M, job.options.candidates);
  refuse_unreachable(scheme, job.options, candidates.front());

  const auto data = make_train_data(config);
  config.epochs = (job.max_iters + data.train->batches_per_epoch() - 1) / data.train->batches_per_epoch();
  model->to(run.device);
  DominoSearch search(*model, scheme, job.options);
  search.on_decision = [](const Decision& d) {
    note("iteration {}: {} -> N={} (param sparsity {:.4f}, FLOPs reduction {:.4f})", d.iteration, d.layer, d.N,
         d.param_sparsity, d.flops_reduction);
  };
  auto setup = make_train_setup(model, checkpoint.model, checkpoint.model_options, config, TrainData{data.train, nullptr},
                                run.device, &search);
  const auto trained = train(setup);

  SearchResult result;
  result.scheme = search.scheme();
  if (job.options.policy == Policy::FixedN) result.scheme = to_fixed_n(result.scheme);
  result.iterations = trained.iterations;
  result.seconds = trained.seconds;
  result.scheme_path = run.file("scheme.json");
  // Seconds of this invocation: a resumed search reports the part it ran.
  result.scheme.run = {{"iterations", trained.iterations}, {"seconds", trained.seconds}};
  save_scheme(result.scheme, result.scheme_path);
  if (!search.reached())
    fail("the search budget of {} iterations ran out at {} {:.4f} < target {}; the last scheme and decision log are in {}; "
         "continue with --resume and a larger --max-iters",
         job.max_iters, describe(job.options.target.kind), search.scheme().achieved(job.options.target.kind),
         to_string(job.options.target), result.scheme_path);
  return result;
}

}  // namespace domino
