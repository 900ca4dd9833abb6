// What `domino train` does once its options are parsed.
#pragma once

#include <string>

#include "domino/jobs/results.h"

namespace domino {

// Loads the data, builds (or resumes) the model, trains, evaluates on the test split,
// and writes <out>/{checkpoint.pt, metrics.jsonl, config.json, result.json}.
TrainJobResult run_train_job(TrainConfig config);

}  // namespace domino
