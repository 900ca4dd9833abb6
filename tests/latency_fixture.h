// A latency table of made-up times, for tests that need one to be exact rather than measured.
#pragma once

#include <fmt/format.h>

#include <string>

#include "domino/engine/engine.h"
#include "domino/engine/latency_table.h"
#include "domino/models/layer_table.h"
#include "domino/models/models.h"
#include "io/files.h"
#include "test_util.h"

namespace domino::test {

// resnet8 on 28x28 (MNIST's shape), M = 8, candidates 1, 2, 4: the layers of layer1 cost
// 10 ms dense, the rest 1 ms, and N:8 costs N/8 of that; the stem (one input channel, not
// in groups of 8) costs `stem_ms` at every N. Written to <dir>/lat-<stem_ms>.json.
inline std::string write_latency_table(const TempDir& dir, double stem_ms = 1.0) {
  engine::LatencyTable t;
  t.key = {"resnet8", "mnist", {1, 1, 28, 28}, "test", "portable", engine::kEngineRevision, 1, 8, Layout::NHWC, {1, 2, 4}};
  t.warmup = 1, t.repeats = 3, t.rounds = 1;  // what an experiment's end-to-end timing takes from it
  auto model = make_model("resnet8", {1, 10});
  for (const auto& l : build_layer_table(*model, {1, 28, 28}).layers) {
    engine::LayerLatency row;
    row.name = l.name;
    row.dense_ms = l.name == "conv1" ? stem_ms : l.name.rfind("layer1", 0) == 0 ? 10.0 : 1.0;
    for (int64_t n : {1, 2, 4}) row.ms[n] = l.name == "conv1" ? stem_ms : row.dense_ms * static_cast<double>(n) / 8;
    t.layers.push_back(row);
  }
  const auto path = dir / fmt::format("lat-{}.json", stem_ms);
  write_json_file(path, engine::to_json(t));
  return path;
}

}  // namespace domino::test
