// What each job returns, and its one JSON form: the same code writes a run's result.json
// and reads it back (the experiment's cache).
#pragma once

#include <nlohmann/json.hpp>

#include <string>

#include "domino/nm/scheme.h"
#include "domino/train/trainer.h"

namespace domino {

struct TrainJobResult {
  TrainResult train;
  EvalResult test;
  std::string checkpoint;
};

struct SearchResult {
  Scheme scheme;
  int64_t iterations = 0;
  double seconds = 0;
  std::string scheme_path;
};

struct FinetuneResult {
  TrainResult train;
  EvalResult test;
  Scheme scheme;
  std::string pruned;  // <out>/pruned.pt: the hard-pruned weights, scheme inside
};

nlohmann::json to_json(const EvalResult& result);
// result.json of `domino train` and of `domino finetune` (which adds the scheme's budgets).
nlohmann::json to_json(const TrainJobResult& result);
nlohmann::json to_json(const FinetuneResult& result);

// A finished fine-tuning run in `dir`: its result.json and scheme.json. A file that is
// not what finetune wrote is an error naming it.
FinetuneResult read_finetune_result(const std::string& dir);

}  // namespace domino
