// What search, finetune and eval start from: a dense checkpoint, or published weights
// (a PyTorch state dict) turned into one in memory.
#pragma once

#include <string>

#include "domino/io/checkpoint.h"
#include "domino/train/train_config.h"

namespace domino {

// A dense checkpoint of config.model holding config.pretrained's weights, with `config` as
// its run configuration: what search, finetune and eval start from in place of a
// checkpoint file. The classifier must have as many classes as config.dataset.
Checkpoint checkpoint_from_pretrained(const TrainConfig& config);

// The dense model a job starts from: `checkpoint` if given (config.pretrained is then the
// one its dense run started from, if any), else config.pretrained.
Checkpoint starting_checkpoint(const std::string& checkpoint, const TrainConfig& config);

// `--pretrained FILE --model NAME --dataset NAME [--strict false]` of the commands that
// otherwise start from a checkpoint (search, eval).
struct PretrainedStart {
  std::string file, model, dataset = "imagenet";
  bool strict = true;
  TrainConfig config(const std::string& data_dir) const;  // a run configuration naming them
};

}  // namespace domino
