// IDX arrays, plain or gzip (the MNIST family).
#include "domino/data/readers.h"
#include "fuzz_seeds.h"
#include "fuzz_util.h"

namespace domino::fuzz {

void write_seeds(const std::string& dir) {
  write_seed(dir, "images.idx", idx_seed({2, 4, 4}));
  write_seed(dir, "labels.idx", idx_seed({2}));
  write_seed(dir, "images.idx.gz", gzip(idx_seed({3, 5, 5})));
}

void fuzz_one(const uint8_t* data, size_t size) { read_idx(as_file(data, size, ".idx")); }

}  // namespace domino::fuzz
