// Checkpoints and weight files (torch::pickle_load behind the pickle scan).
#include "domino/io/checkpoint.h"
#include "domino/models/pretrained.h"
#include "domino/sparse/export.h"
#include "fuzz_seeds.h"
#include "fuzz_util.h"

namespace domino::fuzz {

void write_seeds(const std::string& dir) {
  for (const auto& [name, zip] : seed_archives()) write_seed(dir, name + ".pt", zip);
}

void fuzz_one(const uint8_t* data, size_t size) {
  const auto file = as_file(data, size, ".pt");
  const auto weights = read_weight_file(file);
  if (weights.checkpoint) model_from_checkpoint(*weights.checkpoint, file);
}

}  // namespace domino::fuzz
