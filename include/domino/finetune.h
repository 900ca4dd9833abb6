// Sparse fine-tuning: from a dense checkpoint and a scheme, train the N:M network with
// SR-STE on the shared training loop, then hard-prune and evaluate.
#pragma once

#include <string>

#include "domino/checkpoint.h"
#include "domino/jobs.h"
#include "domino/scheme.h"
#include "domino/srste.h"

namespace domino {

// The paper's fine-tuning recipes (supplementary Tables 6 and 8) on top of the dense run's
// data settings: "cifar": SGD 0.9, wd 5e-4, lr 0.01 x0.1 at epochs 80 and 120, batch 64,
// 160 epochs; "imagenet": SGD 0.9, wd 5e-4, cosine from 0.01, batch 256, 120 epochs.
TrainConfig finetune_recipe(const std::string& recipe, TrainConfig dense);

struct FinetuneJob {
  std::string checkpoint;  // dense
  std::string scheme;      // scheme file (JSON or the authors' format)
  TrainConfig config;      // out, epochs, lr, ... (usually finetune_recipe + overrides)
  double decay = kSrSteDecay;
};

struct FinetuneResult {
  TrainResult train;
  EvalResult test;
  Scheme scheme;
  std::string pruned;  // <out>/pruned.pt: the hard-pruned weights, scheme inside
};

// Writes <out>/{checkpoint.pt (resumable, dense W), pruned.pt, scheme.json, config.json,
// metrics.jsonl, result.json}. A scheme that does not fit the checkpoint's model is
// refused before anything is written.
FinetuneResult run_finetune_job(const FinetuneJob& job);

// The scheme stored in a pruned checkpoint (extra "scheme"), if any.
std::optional<Scheme> scheme_of(const Checkpoint& checkpoint, const std::string& source);

}  // namespace domino
