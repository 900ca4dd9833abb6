#include "domino/jobs/finetune_job.h"

#include <torch/torch.h>

#include "domino/core/error.h"
#include "domino/data/datasets.h"
#include "domino/jobs/starting_point.h"
#include "domino/models/layer_table.h"
#include "domino/models/pretrained.h"
#include "io/files.h"
#include "jobs/run.h"

namespace domino {

FinetuneResult run_finetune_job(const FinetuneJob& job) {
  TrainConfig c = job.config;
  validate(c);
  const auto dense = starting_checkpoint(job.checkpoint, c);
  if (c.model != dense.model) fail("checkpoint {} holds a {}, not a {}", job.checkpoint, dense.model, c.model);
  auto model = model_from_checkpoint(dense, job.checkpoint);
  const auto table = build_layer_table(*model, dataset_spec(c.dataset).shape);
  Scheme scheme = load_scheme(job.scheme, &table);
  if (!scheme.model.empty() && scheme.model != dense.model)
    fail("{} is a scheme for {}, but {} holds a {}", job.scheme, scheme.model, job.checkpoint, dense.model);
  check_scheme_fits(scheme, table, job.scheme);
  if (scheme.model.empty()) scheme.model = c.model;
  if (scheme.dataset.empty()) scheme.dataset = c.dataset;

  const Run run(c);  // nothing is written before this
  const auto data = make_train_data(c);
  const auto test = make_eval_loader(c, EvalSplit::Test);
  if (run.writes()) save_scheme(scheme, run.file("scheme.json"));
  run.write_config(c);

  model->to(run.device);
  install_srste(*model, scheme, job.decay);
  auto setup = make_train_setup(model, dense.model, dense.model_options, c, data, run.device, nullptr, run.group());
  FinetuneResult result;
  result.train = train(setup);
  result.scheme = scheme;

  hard_prune(*model, scheme);
  result.test = evaluate(*model, *test, run.device, "test", Precision::FP32, parse_memory_format(c.memory_format), run.group());
  Checkpoint pruned = checkpoint_of(*model, dense.model, dense.model_options, to_json(c));
  pruned.iteration = result.train.iterations;
  pruned.extra.insert("scheme", json_text(to_json(scheme)));
  result.pruned = run.file("pruned.pt");
  if (run.writes()) save_checkpoint(pruned, result.pruned);
  if (run.writes()) write_json_file(run.file("result.json"), to_json(result));
  return result;
}

}  // namespace domino
