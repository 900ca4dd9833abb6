// Checkpoints: one file holding the model, optimizer state, position, RNG state and the
// run's config, pickled as a dict (so Python's torch.load opens it too) and written
// atomically (temp file + rename): a crash mid-write never leaves a broken checkpoint.
#pragma once

#include <ATen/Tensor.h>
#include <ATen/core/Dict.h>
#include <ATen/core/ivalue.h>
#include <nlohmann/json.hpp>

#include <string>

#include "domino/core/types.h"

namespace torch::nn {
class Module;
}

namespace domino {

using TensorDict = c10::Dict<std::string, at::Tensor>;

// A string-keyed dict of any values (GenericDict needs its types spelled out).
c10::impl::GenericDict make_generic_dict();

struct Checkpoint {
  std::string model;             // zoo name
  ModelOptions model_options;
  nlohmann::json config;         // the run's configuration
  int64_t iteration = 0;         // optimizer steps taken
  int64_t epoch = 0;             // epochs completed (informative: resume works from `iteration`)
  TensorDict model_state;        // parameters and buffers by module path
  TensorDict optimizer_state;
  at::Tensor rng_state;          // LibTorch's default CPU generator
  c10::impl::GenericDict extra = make_generic_dict();  // state of later stages (search, fine-tuning)
};

void save_checkpoint(const Checkpoint& checkpoint, const std::string& path);
Checkpoint load_checkpoint(const std::string& path);
// The checkpoint in an already unpickled dict; `path` names it in errors.
Checkpoint checkpoint_from_dict(const c10::impl::GenericDict& dict, const std::string& path);

// Parameters and buffers by module path, as CPU tensors.
TensorDict module_state(const torch::nn::Module& module);
// Copies `state` into the module; a missing, unexpected or mis-shaped entry is an error
// that lists them all, naming `source` (unexpected entries are only listed, on stderr,
// when `allow_unexpected`).
void load_module_state(torch::nn::Module& module, const TensorDict& state, const std::string& source,
                       bool allow_unexpected = false);

}  // namespace domino
