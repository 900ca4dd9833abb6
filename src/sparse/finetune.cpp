#include "domino/sparse/finetune.h"

#include <torch/torch.h>

#include "domino/core/error.h"
#include "io/files.h"

namespace domino {

TrainConfig finetune_recipe(const std::string& recipe, TrainConfig c) {
  c.momentum = 0.9;
  c.weight_decay = 5e-4;
  c.nesterov = false;
  c.lr = 0.01;
  c.warmup_epochs = 0;
  c.resume = false;
  c.max_iters = 0;
  c.precision = TrainConfig{}.precision;  // how the dense model was trained is no default for this run
  c.memory_format = TrainConfig{}.memory_format;
  if (recipe == "cifar") {
    c.epochs = 160;
    c.batch_size = 64;
    c.schedule = "multistep";
    c.milestones = {80, 120};
    c.gamma = 0.1;
  } else if (recipe == "imagenet") {
    c.epochs = 120;
    c.batch_size = 256;
    c.schedule = "cosine";
  } else {
    fail("unknown recipe '{}' (valid: cifar, imagenet)", recipe);
  }
  return c;
}

std::optional<Scheme> scheme_of(const Checkpoint& checkpoint, const std::string& source) {
  const auto found = checkpoint.extra.find("scheme");
  if (found == checkpoint.extra.end()) return std::nullopt;
  if (!found->value().isString()) fail("{}: its scheme entry is not text", source);
  return scheme_from_json(parse_json(found->value().toStringRef(), source + " (its scheme)"), source);
}

}  // namespace domino
