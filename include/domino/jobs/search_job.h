// What `domino search` does once its options are parsed: from a dense checkpoint (or
// published weights), run DominoSearch on the shared training loop and write the scheme.
#pragma once

#include <string>

#include "domino/jobs/results.h"
#include "domino/jobs/starting_point.h"
#include "domino/search/search.h"

namespace domino {

struct SearchJob {
  std::string checkpoint;  // the dense model, or:
  PretrainedStart pretrained;
  SearchOptions options;
  std::string data_dir;    // overrides the checkpoint's
  int64_t batch_size = 64;
  double lr = 0.01;
  int64_t max_iters = 100000;  // the iteration budget
  uint64_t seed = 0;
  int threads = 0, workers = 2;
  std::string device = "auto";
  std::string precision = "auto";  // of the forward/backward; weights, masks, thresholds, votes stay fp32
  std::string memory_format = "channels-last";
  std::string out = "runs/search";
  bool resume = false;
  bool force = false;  // replace a run already in `out`
  int64_t checkpoint_every = 0;    // as TrainConfig's
  double checkpoint_minutes = 10;
  int64_t log_every = 100;
};

// Refuses unreachable targets before training; writes <out>/scheme.json (also when the
// budget runs out, then throws), checkpoint.pt and metrics.jsonl.
SearchResult run_search_job(const SearchJob& job);

}  // namespace domino
