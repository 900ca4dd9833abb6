// What `domino search` does once its options are parsed: from a dense checkpoint (or
// published weights), run DominoSearch on the shared training loop and write the scheme.
#pragma once

#include <string>

#include "domino/jobs/results.h"
#include "domino/jobs/starting_point.h"
#include "domino/search/search.h"

namespace domino {

// The training options a search takes as its own (search_training_keys(): batch-size, lr,
// max-iters (the iteration budget), seed, data-dir (empty: the dense run's), precision and
// how to run: threads, workers, device, memory-format, out, resume, force, log-every,
// checkpoint-every, checkpoint-minutes; data-parallel: sync-bn, dist-timeout). Every other option is the dense run's; the
// optimizer is plain SGD at a fixed rate (docs/ALGORITHM.md §2.5).
const std::vector<std::string>& search_training_keys();
TrainConfig search_training_defaults();  // batch 64, lr 0.01, 100000 iterations, runs/search

struct SearchJob {
  std::string checkpoint;  // the dense model, or:
  PretrainedStart pretrained;
  SearchOptions options;
  TrainConfig train = search_training_defaults();  // only search_training_keys() are read
};

// Refuses unreachable targets before training; writes <out>/scheme.json (also when the
// budget runs out, then throws), checkpoint.pt and metrics.jsonl.
SearchResult run_search_job(const SearchJob& job);

}  // namespace domino
