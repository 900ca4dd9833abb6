// CIFAR-10/100 binary batches.
#include "domino/data/readers.h"
#include "fuzz_util.h"

namespace domino::fuzz {

void write_seeds(const std::string& dir) {
  std::string ten(2 * 3073, '\x07'), hundred(2 * 3074, '\x05');
  ten[0] = 3;
  write_seed(dir, "cifar10.bin", ten);
  write_seed(dir, "cifar100.bin", hundred);
}

void fuzz_one(const uint8_t* data, size_t size) {
  const auto file = as_file(data, size, ".bin");
  try {
    load_cifar({file}, CifarKind::Cifar10);
  } catch (const Error&) {
  }
  load_cifar({file}, CifarKind::Cifar100);
}

}  // namespace domino::fuzz
