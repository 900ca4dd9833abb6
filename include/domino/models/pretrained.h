// Starting from published weights: zoo models filled from PyTorch state dicts (torchvision's
// .pth files, or any torch.save(model.state_dict(), f)), with every parameter and buffer,
// BatchNorm statistics included, taken as they are.
#pragma once

#include <memory>
#include <string>

#include "domino/io/checkpoint.h"
#include "domino/models/models.h"

namespace domino {

// Loads the state dict in `file` into `model`: missing or mis-shaped entries are an error
// listing them; so are entries the model lacks, unless !strict.
void load_pretrained(Network& model, const std::string& file, bool strict);

// Builds zoo model `name` sized by the state dict (its classifier, the model's last
// linear layer, gives the number of classes) and loads it.
std::shared_ptr<Network> model_from_pretrained(const std::string& name, int64_t in_channels, const std::string& file,
                                               bool strict);

// The classes a model tells apart: its last linear layer's outputs (0 without one).
int64_t num_outputs(torch::nn::Module& model);

// Builds the checkpoint's model (zoo name and options) and loads its weights.
std::shared_ptr<Network> model_from_checkpoint(const Checkpoint& checkpoint, const std::string& source);
// The other way: a checkpoint of `model` (zoo name, options, weights) with `config` as its
// run configuration; position, optimizer and RNG state are the caller's to fill.
Checkpoint checkpoint_of(const Network& model, const std::string& name, ModelOptions options, nlohmann::json config);

}  // namespace domino
