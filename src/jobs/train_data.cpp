#include "domino/jobs/train_data.h"

#include <torch/torch.h>

#include "domino/core/error.h"
#include "domino/data/datasets.h"

namespace domino {
namespace {

HoldoutSplit training_split(const TrainConfig& c, const DatasetSpec& spec) {
  return split_holdout(load_dataset(spec, Split::Train, c.data_dir), c.val_split, c.seed);
}

// Evaluation: every sample once; in a data-parallel run each rank takes its shard.
LoaderOptions eval_options(const RunContext& run, int64_t batch_size, int workers) {
  LoaderOptions o;
  o.batch_size = batch_size;
  o.shuffle = false;
  o.drop_last = false;
  o.workers = workers;
  o.rank = run.rank;
  o.world_size = run.world_size;
  return o;
}

}  // namespace

TrainData make_train_data(const TrainConfig& c) {
  const auto& spec = dataset_spec(c.dataset);
  auto split = training_split(c, spec);
  LoaderOptions o;
  o.batch_size = c.batch_size / c.world_size;  // batch-size is the global batch
  o.seed = c.seed;
  o.workers = c.workers;
  o.rank = c.rank;
  o.world_size = c.world_size;
  TrainData data;
  data.train = std::make_shared<BatchLoader>(split.train, train_pipeline(spec, c.augment), o);
  if (split.validation)
    data.validation = std::make_shared<BatchLoader>(split.validation, eval_pipeline(spec), eval_options(c, kEvalBatchSize, c.workers));
  return data;
}

std::shared_ptr<BatchLoader> make_eval_loader(const TrainConfig& c, EvalSplit split, int64_t batch_size, int workers) {
  const auto& spec = dataset_spec(c.dataset);
  std::shared_ptr<const Dataset> data;
  if (split == EvalSplit::Test) {
    data = load_dataset(spec, Split::Test, c.data_dir);
  } else {
    auto parts = training_split(c, spec);
    if (split == EvalSplit::Validation && !parts.validation)
      fail("this run held out no validation split (train with --val-split)");
    data = split == EvalSplit::Train ? parts.train : parts.validation;
  }
  return std::make_shared<BatchLoader>(data, eval_pipeline(spec), eval_options(c, batch_size, workers < 0 ? c.workers : workers));
}

}  // namespace domino
