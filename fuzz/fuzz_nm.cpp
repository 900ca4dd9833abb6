// The compressed N:M format (docs/nm-format.md).
#include "domino/nm/baselines.h"
#include "domino/sparse/export.h"
#include "fuzz_seeds.h"
#include "fuzz_util.h"

namespace domino::fuzz {

void write_seeds(const std::string& dir) {
  auto model = make_model("resnet8", {1, 10});
  const auto scheme = uniform_scheme(resnet8_dense_scheme(), 2);
  write_nm(compress_nm(module_state(*model), scheme), dir + "/resnet8-2of16.nm");
}

void fuzz_one(const uint8_t* data, size_t size) {
  for (const auto& layer : read_nm(as_file(data, size, ".nm"))) decompress_nm(layer);
}

}  // namespace domino::fuzz
