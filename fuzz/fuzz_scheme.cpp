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
  auto timed = scheme;  // with a latency table's layer times, as a latency search writes it
  auto costs = std::make_shared<LatencyCosts>();
  costs->table = "lat.json";
  for (const auto& l : scheme.layers) costs->ms[l.name] = {{2, 0.25}, {16, 1.0}};
  timed.latency = costs;
  save_scheme(timed, dir + "/uniform-latency.json");
}

void fuzz_one(const uint8_t* data, size_t size) {
  static const LayerTable table = resnet8_table();
  const auto file = as_file(data, size, ".scheme");
  const auto scheme = load_scheme(file, &table);
  check_scheme_fits(scheme, table, file);
  if (scheme.latency) format_scheme_table(scheme);  // reads the times back, as `scheme show` does
}

}  // namespace domino::fuzz
