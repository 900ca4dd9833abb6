// Scheme files: our JSON and the authors' text format (read against ResNet-8's layers).
#include "domino/nm/baselines.h"
#include "domino/models/layer_table.h"
#include "domino/models/models.h"
#include "fuzz_seeds.h"
#include "fuzz_util.h"

namespace domino::fuzz {

void write_seeds(const std::string& dir) {
  const auto scheme = uniform_scheme(resnet8_dense_scheme(), 2);
  save_scheme(scheme, dir + "/uniform.json");
  write_seed(dir, "authors.txt", authors_text(scheme));
}

void fuzz_one(const uint8_t* data, size_t size) {
  static const LayerTable table = resnet8_table();
  const auto file = as_file(data, size, ".scheme");
  const auto scheme = load_scheme(file, &table);
  check_scheme_fits(scheme, table, file);
}

}  // namespace domino::fuzz
