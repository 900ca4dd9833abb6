// A scheme: the (N, M) of every prunable layer, with the budget figures it implies
// (docs/ALGORITHM.md §1), where it came from, and — for searched schemes — the decision log.
// Stored as JSON (docs/scheme-format.md); the authors' published text format is read too.
#pragma once

#include <nlohmann/json.hpp>

#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "domino/core/names.h"
#include "domino/models/layer_table.h"
#include "domino/nm/nm.h"

namespace domino {

struct LayerScheme {
  std::string name;
  LayerKind kind = LayerKind::Conv;
  std::vector<int64_t> shape;
  int64_t N = 1, M = 1;  // N == M: dense
  int64_t dense_params = 0, dense_flops = 0;
  bool searchable = true;  // false: kept dense (excluded by the user, or not a multiple of M)
  std::string note;        // why kept dense, or that groups cross rows

  double sparse_params() const { return static_cast<double>(dense_params) * static_cast<double>(N) / static_cast<double>(M); }
  double sparse_flops() const { return static_cast<double>(dense_flops) * static_cast<double>(N) / static_cast<double>(M); }
};

// What a budget constrains: the prunable layers' parameters ("params": param sparsity) or
// their multiply-accumulates ("flops": FLOPs reduction).
// What a budget counts: weights, multiply-adds, or measured time (a latency table's).
enum class TargetKind { Params, Flops, Latency };
inline constexpr EnumNames<TargetKind, 3> kTargetKinds{
    {{{TargetKind::Params, "params"}, {TargetKind::Flops, "flops"}, {TargetKind::Latency, "latency"}}}};
std::string to_string(TargetKind kind);
std::string describe(TargetKind kind);  // "param sparsity", "FLOPs reduction", "latency reduction"

struct Target {
  TargetKind kind = TargetKind::Params;
  double value = 0;
};
Target parse_target(const std::string& text);  // "params:0.875", "flops:0.8"
std::string to_string(const Target& target);

// How a search's N:M is reported (docs/ALGORITHM.md): as found (fixed M), or each N:M
// mapped to 1:(M/N) (fixed N).
enum class Policy { FixedM, FixedN };
inline constexpr EnumNames<Policy, 2> kPolicies{{{{Policy::FixedM, "fixed-m"}, {Policy::FixedN, "fixed-n"}}}};
std::string to_string(Policy policy);

struct Decision {
  int64_t iteration = 0;
  std::string layer;
  int64_t N = 0;
  double param_sparsity = 0, flops_reduction = 0;
};

// Each layer's measured time at each N (ms; N = M: dense), taken from a latency table
// (engine/latency_table.h) for a `latency` budget; `table` names the file it came from.
struct LatencyCosts {
  std::string table;
  std::map<std::string, std::map<int64_t, double>> ms;
  double at(const std::string& layer, int64_t N) const;  // fails naming a missing layer or N
};

struct Scheme {
  std::string model, dataset, source;  // source: dominosearch, uniform, erk, authors, ...
  ImageShape input;
  int64_t M = 16;
  Layout layout = Layout::NHWC;
  Policy policy = Policy::FixedM;
  std::optional<Target> target;
  std::vector<LayerScheme> layers;
  nlohmann::json options = nlohmann::json::object();  // every option of the run that made it
  nlohmann::json run = nlohmann::json::object();      // facts of that run: iterations, seconds
  std::vector<Decision> decisions;

  double dense_params() const;
  double sparse_params() const;
  double dense_flops() const;
  double sparse_flops() const;
  double param_sparsity() const { return 1.0 - sparse_params() / dense_params(); }
  double flops_reduction() const { return 1.0 - sparse_flops() / dense_flops(); }
  // Measured time, Σ over the layers at their N, from `latency` (fails without it).
  std::shared_ptr<const LatencyCosts> latency;  // kept in scheme.json with the table's name
  double dense_latency_ms() const;
  double sparse_latency_ms() const;
  double latency_reduction() const { return 1.0 - sparse_latency_ms() / dense_latency_ms(); }
  double achieved(TargetKind kind) const;
};

// Every prunable layer dense (N = M). Layers matching an `exclude` glob, or whose size is
// not a multiple of M, are kept dense and not searchable; the note says why.
Scheme dense_scheme(const LayerTable& table, int64_t M, Layout layout, const std::vector<std::string>& exclude = {});

nlohmann::json to_json(const std::vector<Decision>& decisions);
std::vector<Decision> decisions_from_json(const nlohmann::json& json);
nlohmann::json to_json(const Scheme& scheme);
Scheme scheme_from_json(const nlohmann::json& json, const std::string& source);
void save_scheme(const Scheme& scheme, const std::string& path);  // atomic
// Reads our JSON or the authors' dict literal; the latter is mapped onto `table`'s layers
// by order, checking the shapes its names carry.
Scheme load_scheme(const std::string& path, const LayerTable* table = nullptr);
Scheme parse_authors_scheme(const std::string& text, const LayerTable& table, const std::string& source);
// Names and shapes of the scheme's layers must be the model's, in order.
void check_scheme_fits(const Scheme& scheme, const LayerTable& table, const std::string& source);

std::string format_scheme_table(const Scheme& scheme);

}  // namespace domino
