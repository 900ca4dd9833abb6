// The loaders a run's config implies, shared by every job that trains or evaluates.
#pragma once

#include <memory>

#include "domino/core/names.h"
#include "domino/data/loader.h"
#include "domino/train/train_config.h"

namespace domino {

// Evaluation batches: the size affects speed only (no batch statistics are used).
constexpr int64_t kEvalBatchSize = 256;

enum class EvalSplit { Train, Validation, Test };
inline constexpr EnumNames<EvalSplit, 3> kEvalSplits{
    {{{EvalSplit::Test, "test"}, {EvalSplit::Validation, "val"}, {EvalSplit::Train, "train"}}}};

// Training (augmented, shuffled) and the held-out validation split (when val-split > 0).
struct TrainData {
  std::shared_ptr<BatchLoader> train, validation;
};
TrainData make_train_data(const TrainConfig& config);
// Evaluation over one split of the config's dataset.
std::shared_ptr<BatchLoader> make_eval_loader(const TrainConfig& config, EvalSplit split,
                                              int64_t batch_size = kEvalBatchSize, int workers = -1);  // -1: config.workers

}  // namespace domino
