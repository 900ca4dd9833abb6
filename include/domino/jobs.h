// The commands' work, callable without the CLI: what `domino train` and `domino eval`
// do once their options are parsed.
#pragma once

#include <string>

#include "domino/datasets.h"
#include "domino/inference.h"
#include "domino/trainer.h"

namespace domino {

struct TrainJobResult {
  TrainResult train;
  EvalResult test;
  std::string checkpoint;
};

// Loads the data, builds (or resumes) the model, trains, evaluates on the test split,
// and writes <out>/{checkpoint.pt, metrics.jsonl, config.json, result.json}.
TrainJobResult run_train_job(TrainConfig config);

enum class EvalSplit { Train, Validation, Test };

struct EvalJob {
  InferenceSource source;    // checkpoint, or pretrained weights (with a scheme or .nm for the engine)
  EvalSplit split = EvalSplit::Test;
  std::string expect_model;  // when set, a checkpoint of another model is an error
  int64_t batch_size = 256;
  int workers = 2;
  std::string device = "auto";
  std::string precision = "fp32";  // evaluation is exact unless asked otherwise
  std::string memory_format = "channels-last";
  // "libtorch", or "nm": the N:M engine (docs/engine.md) runs the layers of the source's
  // scheme, on the CPU, in fp32.
  std::string engine = "libtorch";
};

EvalResult run_eval_job(const EvalJob& job);

// The loaders a config implies: training (augmented, shuffled) and the held-out
// validation split (when val-split > 0), or evaluation over a split.
struct TrainData {
  std::shared_ptr<BatchLoader> train, validation;
};
TrainData make_train_data(const TrainConfig& config);
std::shared_ptr<BatchLoader> make_eval_loader(const TrainConfig& config, EvalSplit split, int64_t batch_size, int workers);

}  // namespace domino
