// A model's measured latency, layer by layer, at every candidate N: what each prunable layer
// costs under the N:M engine on this machine, at a batch size and thread count — the
// budget that DominoSearch can optimise instead of FLOPs (a 1x1 conv and a 3x3 stem at 2:16
// save the same share of MACs, not the same milliseconds).
#pragma once

#include <nlohmann/json.hpp>

#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "domino/core/types.h"
#include "domino/nm/scheme.h"

namespace domino::engine {

// What a table is valid for: the same model and input on the same CPU, kernels (instruction
// set and engine revision), threads, M, layout and candidates. A table measured under another
// key is not reused.
struct LatencyKey {
  std::string model, dataset;
  std::vector<int64_t> input;  // [batch, channels, height, width]
  std::string cpu, isa;
  std::string engine;  // kEngineRevision of the build that measured it ("" : not recorded)
  int threads = 0;
  int64_t M = 16;
  Layout layout = Layout::NHWC;
  std::vector<int64_t> candidates;  // the Ns measured (M, dense, always)
  bool operator==(const LatencyKey& o) const;
  bool operator!=(const LatencyKey& o) const { return !(*this == o); }
};

// Each field in which `cached` differs from `wanted`, as "threads 1 (here 2)" ("engine
// revision 'not recorded' (here '...')" for a table without one); empty when the keys match.
std::vector<std::string> key_differences(const LatencyKey& cached, const LatencyKey& wanted);

struct LayerLatency {
  std::string name;
  double dense_ms = 0;          // LibTorch's convolution / linear layer (N = M)
  std::map<int64_t, double> ms;  // at each candidate N < M: the engine's time (BatchNorm folded in),
                                 // or the dense time where the engine keeps the layer dense
};

struct LatencyTable {
  LatencyKey key;
  int64_t warmup = 0, repeats = 0, rounds = 0;
  double model_dense_ms = 0;  // the whole dense forward (prunable layers and the rest)
  std::vector<LayerLatency> layers;

  // A layer's time at N (N = M: dense); fails naming the layer or N the table lacks.
  double ms(const std::string& layer, int64_t N) const;
  // Σ over the scheme's layers at their N; layers kept dense count their dense time.
  double scheme_ms(const Scheme& scheme) const;
  double dense_ms() const;  // Σ of the layers' dense times
};

struct LatencyOptions {
  int64_t batch_size = 1;
  int64_t M = 16;
  Layout layout = Layout::NHWC;
  std::vector<int64_t> candidates;  // Ns below M to measure
  int64_t warmup = 3, repeats = 20;  // per candidate and round
  // Rounds over all the candidates, interleaved: a burst of load from another process lands
  // in one round of some candidates, and the median over the rounds leaves it out.
  int64_t rounds = 3;
  std::function<void(int64_t, int64_t)> on_step;  // (done, total) candidate measurements
};

// Measures `model_name` (untrained weights made N:M at each candidate N in turn; the engine's
// speed depends on shapes and N, not on values) on a random input of `shape`: each layer
// timed inside the running model, the median of `repeats` forwards, in `rounds` interleaved
// rounds whose median is the table's.
LatencyTable measure_latency_table(const std::string& model_name, ModelOptions model_options, ImageShape shape,
                                   const std::string& dataset, const LatencyOptions& options);

// Whole forwards of `model_name` under each scheme: the engine's (untrained weights made N:M
// as the scheme says, BatchNorm folded) and LibTorch's dense forward of the same input, each
// the median of `repeats` forwards, in `rounds` rounds over the schemes, interleaved, whose
// median is kept — what a model of that scheme takes end to end, where a table's sum covers
// only the prunable layers. Runs on LibTorch's current thread count.
struct ForwardLatencies {
  double dense_ms = 0;             // LibTorch's dense forward (median over every run)
  std::vector<double> engine_ms;   // per scheme, in order
};
ForwardLatencies measure_forward_latencies(const std::string& model_name, ModelOptions model_options, ImageShape shape,
                                           const std::vector<Scheme>& schemes, const LatencyOptions& options);

// The key this machine and these options give (what a cached table must match).
LatencyKey latency_key(const std::string& model_name, const std::string& dataset, ImageShape shape,
                       const LatencyOptions& options);

std::string cpu_name();  // the processor's model name (/proc/cpuinfo), or "unknown"

// Reads the table in `path` and gives `scheme` its layer times (Scheme::latency), after
// checking that it was measured for the scheme's model, input, M and layout and holds every
// layer at every N in `candidates` (with M, dense, always): a search fails before training,
// not half-way.
void attach_latency_table(Scheme& scheme, const std::string& path, const std::vector<int64_t>& candidates);

// Under a latency target, a layer whose measured time is the same at every N (the engine
// runs it dense: the 3-channel stem, a layer whose rows do not split into groups of M) gains
// nothing from pruning and would only lose accuracy: it is kept dense, not searched, with a
// note saying why. Needs the times (attach_latency_table).
void keep_unaccelerated_layers_dense(Scheme& scheme);

nlohmann::json to_json(const LatencyTable& table);
// A table from its JSON (a file `source`); fails naming the file on anything else.
LatencyTable latency_table_from_json(const nlohmann::json& j, const std::string& source);

}  // namespace domino::engine
