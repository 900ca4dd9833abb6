// What `domino finetune` does once its options are parsed: SR-STE fine-tuning of a dense
// checkpoint into a scheme on the shared training loop, then hard pruning and evaluation.
#pragma once

#include <string>

#include "domino/jobs/results.h"
#include "domino/sparse/finetune.h"

namespace domino {

struct FinetuneJob {
  std::string checkpoint;  // dense
  std::string scheme;      // scheme file (JSON or the authors' format)
  TrainConfig config;      // out, epochs, lr, ... (usually finetune_recipe + overrides)
  double decay = kSrSteDecay;
};

// Writes <out>/{checkpoint.pt (resumable, dense W), pruned.pt, scheme.json, config.json,
// metrics.jsonl, result.json}. A scheme that does not fit the checkpoint's model is
// refused before anything is written.
FinetuneResult run_finetune_job(const FinetuneJob& job);

}  // namespace domino
