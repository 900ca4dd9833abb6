// What `domino eval` does once its options are parsed.
#pragma once

#include <string>

#include "domino/jobs/inference.h"
#include "domino/jobs/train_data.h"
#include "domino/train/trainer.h"

namespace domino {

struct EvalJob {
  InferenceSource source;    // checkpoint, or pretrained weights (with a scheme or .nm for the engine)
  EvalSplit split = EvalSplit::Test;
  std::string expect_model;  // when set, a checkpoint of another model is an error
  int64_t batch_size = kEvalBatchSize;
  int workers = 2;
  std::string device = "auto";
  std::string precision = "fp32";  // evaluation is exact unless asked otherwise
  std::string memory_format = "channels-last";
  Engine engine = Engine::LibTorch;
};

EvalResult run_eval_job(const EvalJob& job);

}  // namespace domino
