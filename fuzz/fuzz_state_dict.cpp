// read_pytorch_state_dict: PyTorch's zip archives and our unpickler.
#include "domino/io/state_dict.h"
#include "fuzz_seeds.h"
#include "fuzz_util.h"

namespace domino::fuzz {

void write_seeds(const std::string& dir) {
  for (const auto& [name, zip] : seed_archives()) write_seed(dir, name + ".pt", zip);
}

void fuzz_one(const uint8_t* data, size_t size) { read_pytorch_state_dict(as_file(data, size, ".pt")); }

}  // namespace domino::fuzz
