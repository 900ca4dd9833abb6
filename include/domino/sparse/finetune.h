// Sparse fine-tuning's parts that are not the job (jobs/finetune_job.h): the paper's
// recipes, and the scheme a pruned checkpoint carries.
#pragma once

#include <string>

#include "domino/io/checkpoint.h"
#include "domino/nm/scheme.h"
#include "domino/sparse/srste.h"
#include "domino/train/train_config.h"

namespace domino {

// The paper's fine-tuning recipes (supplementary Tables 6 and 8) on top of the dense run's
// data settings: "cifar": SGD 0.9, wd 5e-4, lr 0.01 x0.1 at epochs 80 and 120, batch 64,
// 160 epochs; "imagenet": SGD 0.9, wd 5e-4, cosine from 0.01, batch 256, 120 epochs.
TrainConfig finetune_recipe(const std::string& recipe, TrainConfig dense);

// The scheme stored in a pruned checkpoint (extra "scheme"), if any.
std::optional<Scheme> scheme_of(const Checkpoint& checkpoint, const std::string& source);

}  // namespace domino
