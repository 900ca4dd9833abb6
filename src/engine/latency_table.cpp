// Per-layer latency at every candidate N (docs/engine.md, "Latency tables").
#include "domino/engine/latency_table.h"

#include <torch/torch.h>

#include <algorithm>
#include <fstream>

#include "domino/core/error.h"
#include "domino/engine/engine.h"
#include "domino/engine/infer_bench.h"
#include "domino/models/layer_table.h"
#include "domino/models/models.h"
#include "domino/nm/baselines.h"
#include "domino/sparse/export.h"
#include "io/files.h"

namespace domino::engine {
namespace {

constexpr const char* kFormat = "domino-latency-table";
constexpr int kVersion = 1;

nlohmann::json key_json(const LatencyKey& k) {
  return {{"model", k.model}, {"dataset", k.dataset}, {"input", k.input}, {"cpu", k.cpu}, {"isa", k.isa},
          {"engine", k.engine}, {"threads", k.threads}, {"M", k.M}, {"layout", to_string(k.layout)},
          {"candidates", k.candidates}};
}

// The zoo model's untrained weights made N:M as `scheme` says, timed dense and under the
// engine. A fresh model each time: a switch to the engine is not undone.
InferenceTiming bench_scheme(const std::string& model_name, const ModelOptions& model_options, const Scheme& scheme,
                             const at::Tensor& input, const BenchOptions& bench) {
  auto model = make_model(model_name, model_options);
  load_module_state(*model, pruned_state(module_state(*model), scheme), model_name);
  return bench_inference(*model, scheme, input, bench);
}

}  // namespace

bool LatencyKey::operator==(const LatencyKey& o) const { return key_json(*this) == key_json(o); }

std::vector<std::string> key_differences(const LatencyKey& cached, const LatencyKey& wanted) {
  const auto a = key_json(cached), b = key_json(wanted);
  const auto text = [](const std::string& field, const nlohmann::json& v) -> std::string {
    if (field == "engine" && v.get<std::string>().empty()) return "'not recorded'";
    if (field == "input") return fmt::format("{}", fmt::join(v.get<std::vector<int64_t>>(), "x"));
    if (field == "candidates") return fmt::format("N {}", fmt::join(v.get<std::vector<int64_t>>(), ", "));
    return v.is_string() ? fmt::format("'{}'", v.get<std::string>()) : v.dump();
  };
  const std::map<std::string, std::string> names{{"engine", "engine revision"}, {"isa", "kernels"}};
  std::vector<std::string> out;
  for (const auto& [field, value] : a.items()) {
    if (value == b.at(field)) continue;
    const auto name = names.count(field) ? names.at(field) : field;
    out.push_back(fmt::format("{} {} (here {})", name, text(field, value), text(field, b.at(field))));
  }
  return out;
}

std::string cpu_name() {
  std::ifstream in("/proc/cpuinfo");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("model name", 0) != 0) continue;
    const auto colon = line.find(':');
    const auto value = colon == std::string::npos ? colon : line.find_first_not_of(" \t", colon + 1);
    if (value != std::string::npos) return line.substr(value);
  }
  return "unknown";
}

LatencyKey latency_key(const std::string& model_name, const std::string& dataset, ImageShape shape,
                       const LatencyOptions& o) {
  LatencyKey k;
  k.model = model_name;
  k.dataset = dataset;
  k.input = {o.batch_size, shape.channels, shape.height, shape.width};
  k.cpu = cpu_name();
  k.isa = to_string(active_isa());
  k.engine = kEngineRevision;
  k.threads = at::get_num_threads();
  k.M = o.M;
  k.layout = o.layout;
  k.candidates = o.candidates;
  return k;
}

double LatencyTable::ms(const std::string& layer, int64_t N) const {
  const auto it = std::find_if(layers.begin(), layers.end(), [&](const LayerLatency& l) { return l.name == layer; });
  if (it == layers.end()) fail("the latency table ({} on {}) has no layer '{}'", key.model, key.dataset, layer);
  if (N == key.M) return it->dense_ms;
  const auto at = it->ms.find(N);
  if (at == it->ms.end())
    fail("the latency table has no time for {} at {}:{}: it holds N = {} (`domino latency-table --candidates all` "
         "measures every N)", layer, N, key.M, fmt::join(key.candidates, ", "));
  return at->second;
}

double LatencyTable::scheme_ms(const Scheme& scheme) const {
  if (scheme.M != key.M) fail("a scheme of M = {} cannot be timed by a latency table of M = {}", scheme.M, key.M);
  double sum = 0;
  for (const auto& l : scheme.layers) sum += ms(l.name, l.N >= l.M ? key.M : l.N);
  return sum;
}

double LatencyTable::dense_ms() const {
  double sum = 0;
  for (const auto& l : layers) sum += l.dense_ms;
  return sum;
}

LatencyTable measure_latency_table(const std::string& model_name, ModelOptions model_options, ImageShape shape,
                                   const std::string& dataset, const LatencyOptions& o) {
  if (o.batch_size <= 0) fail("batch-size must be positive, got {}", o.batch_size);
  std::vector<int64_t> ns;
  for (int64_t n : o.candidates)
    if (n < o.M) ns.push_back(n);
  if (ns.empty()) fail("no candidate N below M = {} to measure", o.M);
  LatencyTable t;
  t.key = latency_key(model_name, dataset, shape, o);
  t.warmup = o.warmup;
  t.repeats = o.repeats;
  t.rounds = std::max<int64_t>(1, o.rounds);
  torch::manual_seed(0);
  const auto input = torch::randn({o.batch_size, shape.channels, shape.height, shape.width});
  const Scheme dense = dense_scheme(build_layer_table(*make_model(model_name, model_options), shape), o.M, o.layout);
  BenchOptions bench;
  bench.warmup = o.warmup;
  bench.repeats = o.repeats;
  std::map<std::string, std::vector<double>> dense_runs;  // each layer's dense time, once per run
  std::map<std::string, std::map<int64_t, std::vector<double>>> engine_runs;
  std::vector<double> model_runs;
  const int64_t runs = t.rounds * static_cast<int64_t>(ns.size());
  for (int64_t run = 0; run < runs; ++run) {
    const int64_t n = ns[static_cast<size_t>(run) % ns.size()];
    const auto timing = bench_scheme(model_name, model_options, uniform_scheme(dense, n), input, bench);
    for (const auto& [name, ms] : timing.dense_layer_ms) dense_runs[name].push_back(ms);
    for (const auto& l : timing.layers) engine_runs[l.name][n].push_back(l.nm_ms);
    model_runs.push_back(timing.dense_ms);
    if (o.on_step) o.on_step(run + 1, runs);
  }
  t.model_dense_ms = median_ms(model_runs);
  for (const auto& layer : dense.layers) {
    const auto runs = dense_runs.find(layer.name);
    if (runs == dense_runs.end()) continue;  // not a layer LibTorch's forward could be timed alone
    LayerLatency row;
    row.name = layer.name;
    row.dense_ms = median_ms(runs->second);
    for (int64_t n : ns) {
      const auto& by_n = engine_runs[layer.name];
      const auto it = by_n.find(n);
      row.ms[n] = it == by_n.end() ? row.dense_ms : median_ms(it->second);  // not found: the engine keeps it dense at N
    }
    t.layers.push_back(std::move(row));
  }
  return t;
}

ForwardLatencies measure_forward_latencies(const std::string& model_name, ModelOptions model_options, ImageShape shape,
                                           const std::vector<Scheme>& schemes, const LatencyOptions& o) {
  if (o.batch_size <= 0) fail("batch-size must be positive, got {}", o.batch_size);
  torch::manual_seed(0);
  const auto input = torch::randn({o.batch_size, shape.channels, shape.height, shape.width});
  BenchOptions bench;
  bench.warmup = o.warmup;
  bench.repeats = o.repeats;
  std::vector<double> dense_runs;
  std::vector<std::vector<double>> engine_runs(schemes.size());
  const int64_t rounds = std::max<int64_t>(1, o.rounds), runs = rounds * static_cast<int64_t>(schemes.size());
  for (int64_t run = 0; run < runs; ++run) {
    const auto i = static_cast<size_t>(run) % schemes.size();
    const auto timing = bench_scheme(model_name, model_options, schemes[i], input, bench);
    dense_runs.push_back(timing.dense_ms);
    engine_runs[i].push_back(timing.nm_ms);
    if (o.on_step) o.on_step(run + 1, runs);
  }
  ForwardLatencies out;
  out.dense_ms = median_ms(dense_runs);
  for (auto& r : engine_runs) out.engine_ms.push_back(median_ms(r));
  return out;
}

void attach_latency_table(Scheme& scheme, const std::string& path, const std::vector<int64_t>& candidates) {
  const auto t = latency_table_from_json(read_json_file(path), path);
  const auto& k = t.key;
  const std::vector<int64_t> image = {scheme.input.channels, scheme.input.height, scheme.input.width};
  const std::vector<int64_t> measured(k.input.begin() + std::min<size_t>(1, k.input.size()), k.input.end());
  if ((!scheme.model.empty() && k.model != scheme.model) || measured != image)
    fail("the latency table {} was measured for {} on {}x{}x{} inputs, this scheme is for {} on {}x{}x{}", path, k.model,
         measured.size() > 0 ? measured[0] : 0, measured.size() > 1 ? measured[1] : 0, measured.size() > 2 ? measured[2] : 0,
         scheme.model, image[0], image[1], image[2]);
  if (k.M != scheme.M || k.layout != scheme.layout)
    fail("the latency table {} was measured for M = {} ({}), this scheme has M = {} ({})", path, k.M, to_string(k.layout),
         scheme.M, to_string(scheme.layout));
  auto costs = std::make_shared<LatencyCosts>();
  costs->table = path;
  for (const auto& l : scheme.layers) {
    auto& by_n = costs->ms[l.name];
    by_n[l.M] = t.ms(l.name, k.M);  // fails naming a layer the table lacks
    if (!l.searchable) continue;
    for (int64_t n : candidates)
      if (n < l.M) by_n[n] = t.ms(l.name, n);  // fails naming an N the table lacks
    if (l.N < l.M) by_n[l.N] = t.ms(l.name, l.N);
  }
  scheme.latency = std::move(costs);
}

void keep_unaccelerated_layers_dense(Scheme& scheme) {
  if (!scheme.latency) fail("keeping unaccelerated layers dense needs the scheme's layer times (a latency table)");
  for (auto& l : scheme.layers) {
    if (!l.searchable) continue;
    const auto& by_n = scheme.latency->ms.at(l.name);
    const double dense = by_n.at(l.M);
    if (!std::all_of(by_n.begin(), by_n.end(), [&](const auto& n_ms) { return n_ms.second == dense; })) continue;
    l.searchable = false;
    l.N = l.M;
    l.note = "kept dense: the engine runs it dense (the latency table times it alike at every N)";
  }
}

nlohmann::json to_json(const LatencyTable& t) {
  nlohmann::json layers = nlohmann::json::array();
  for (const auto& l : t.layers) {
    nlohmann::json ms = nlohmann::json::object();
    for (const auto& [n, v] : l.ms) ms[std::to_string(n)] = v;
    layers.push_back({{"name", l.name}, {"dense_ms", l.dense_ms}, {"ms", ms}});
  }
  return {{"format", kFormat}, {"version", kVersion}, {"key", key_json(t.key)}, {"warmup", t.warmup},
          {"repeats", t.repeats}, {"rounds", t.rounds}, {"model_dense_ms", t.model_dense_ms}, {"layers_dense_ms", t.dense_ms()},
          {"layers", layers}};
}

LatencyTable latency_table_from_json(const nlohmann::json& j, const std::string& source) {
  LatencyTable t;
  try {
    if (j.at("format") != kFormat || j.at("version") != kVersion)
      fail("{}: not a latency table of this version (format '{}', version {})", source, kFormat, kVersion);
    const auto& k = j.at("key");
    t.key.model = k.at("model").get<std::string>();
    t.key.dataset = k.at("dataset").get<std::string>();
    t.key.input = k.at("input").get<std::vector<int64_t>>();
    t.key.cpu = k.at("cpu").get<std::string>();
    t.key.isa = k.at("isa").get<std::string>();
    t.key.engine = k.value("engine", std::string());  // tables of version 1 before 2026-12-02 lack it
    t.key.threads = k.at("threads").get<int>();
    t.key.M = k.at("M").get<int64_t>();
    t.key.layout = parse_layout(k.at("layout").get<std::string>());
    t.key.candidates = k.at("candidates").get<std::vector<int64_t>>();
    t.warmup = j.at("warmup").get<int64_t>();
    t.repeats = j.at("repeats").get<int64_t>();
    t.rounds = j.at("rounds").get<int64_t>();
    t.model_dense_ms = j.at("model_dense_ms").get<double>();
    for (const auto& l : j.at("layers")) {
      LayerLatency row;
      row.name = l.at("name").get<std::string>();
      row.dense_ms = l.at("dense_ms").get<double>();
      for (const auto& [n, v] : l.at("ms").items()) row.ms[std::stoll(n)] = v.get<double>();
      t.layers.push_back(std::move(row));
    }
  } catch (const nlohmann::json::exception& e) {
    fail("{}: not a latency table this tool wrote ({})", source, e.what());
  } catch (const std::logic_error&) {  // stoll on a key that is not a number
    fail("{}: not a latency table this tool wrote (a layer's N is not a number)", source);
  }
  return t;
}

}  // namespace domino::engine
