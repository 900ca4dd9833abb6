// What `domino eval` does once its options are parsed.
#pragma once

#include <string>

#include "domino/core/run_context.h"
#include "domino/jobs/inference.h"
#include "domino/jobs/train_data.h"
#include "domino/train/trainer.h"

namespace domino {

struct EvalJob {
  InferenceSource source;    // checkpoint, or pretrained weights (with a scheme or .nm for the engine)
  EvalSplit split = EvalSplit::Test;
  std::string expect_model;  // when set, a checkpoint of another model is an error
  int64_t batch_size = kEvalBatchSize;
  std::string precision = "fp32";  // evaluation is exact unless asked otherwise
  Engine engine = Engine::LibTorch;
  RunContext run;  // threads, workers, device, memory format
};

EvalResult run_eval_job(const EvalJob& job);

}  // namespace domino
