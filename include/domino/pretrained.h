// Starting from published weights: zoo models filled from PyTorch state dicts (torchvision's
// .pth files, or any torch.save(model.state_dict(), f)), with every parameter and buffer,
// BatchNorm statistics included, taken as they are.
#pragma once

#include <memory>
#include <string>

#include "domino/checkpoint.h"
#include "domino/models.h"
#include "domino/train_config.h"

namespace domino {

// Loads the state dict in `file` into `model`: missing or mis-shaped entries are an error
// listing them; so are entries the model lacks, unless !strict.
void load_pretrained(Network& model, const std::string& file, bool strict);

// Builds zoo model `name` sized by the state dict (its classifier, the model's last
// linear layer, gives the number of classes) and loads it.
std::shared_ptr<Network> model_from_pretrained(const std::string& name, int64_t in_channels, const std::string& file,
                                               bool strict);

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
