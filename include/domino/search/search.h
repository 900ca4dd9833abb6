// DominoSearch (docs/ALGORITHM.md §2): from a dense model, lower each layer's N step by step
// while a layer-wise penalty shrinks surviving weights, until the budget is met. It runs
// inside the shared training loop as TrainHooks: masks in the forward (through the
// prunable layers' weight transform), the penalty and the checks between backward and
// the optimizer step.
#pragma once

#include <ATen/Tensor.h>

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "domino/core/options.h"
#include "domino/nm/baselines.h"
#include "domino/nm/scheme.h"
#include "domino/train/trainer.h"

namespace domino {

struct SearchOptions {
  Target target;
  int64_t M = 16;
  Layout layout = Layout::NHWC;
  CandidateSet candidates = CandidateSet::Pow2;
  std::optional<double> beta1, beta2;  // unset: 0.5/0.5 for params, 0.8/0.2 for flops and latency
  bool use_eta = true;                 // false: the ablation, η = 1 everywhere
  Policy policy = Policy::FixedM;      // fixed-n: map the result N:M -> 1:(M/N)
  double lambda = 0.1;                 // penalty factor
  int64_t kp = 5;                      // penalty every kp iterations
  int64_t kc = 100;                    // check every kc iterations
  double vr = 0.75;                    // vote ratio
  std::vector<std::string> exclude;    // globs of layer names kept dense

  // A latency table (domino latency-table) for a latency target; with any target its times
  // are recorded in the scheme.
  std::string latency_table;

  // Latency, like FLOPs, is a complexity budget: it takes the FLOPs defaults.
  double beta1_value() const { return beta1.value_or(target.kind == TargetKind::Params ? 0.5 : 0.8); }
  double beta2_value() const { return beta2.value_or(target.kind == TargetKind::Params ? 0.5 : 0.2); }
  nlohmann::json to_json() const;  // every option, β resolved: the record in scheme.json
};

// Its options but `target`, which each caller states (a flag, an experiment's budgets):
// names, types and help, for flags and config files alike.
const OptionTable<SearchOptions>& search_options();
// Range checks: M one of 4, 8, 16, 32 (with pow2 candidates, a power of two), kp and kc
// positive, vr in (0, 1], β in [0, 1].
void validate(const SearchOptions& options);

// λ at iteration t: doubled at each of 30000, 40000, ..., 80000 reached.
double search_lambda(double base, int64_t iteration);

class DominoSearch : public TrainHooks {
 public:
  // `scheme` is the model's dense scheme (dense_scheme of its layer table); the model's
  // searchable layers must be PrunableConv2d / PrunableLinear.
  DominoSearch(Network& model, Scheme scheme, SearchOptions options);
  ~DominoSearch() override;  // restores the dense forward

  void after_backward(int64_t iteration) override;
  bool should_stop() const override { return done_; }
  // "params 0.612/0.875, 5 decisions": the budget's progress, in place of an ETA.
  std::string progress_note() const override;
  void save_state(c10::impl::GenericDict& extra) const override;
  void load_state(const c10::impl::GenericDict& extra) override;
  uint64_t decisions_digest() const override;  // every layer's N and the number of decisions

  const Scheme& scheme() const { return scheme_; }
  bool reached() const { return done_; }
  std::function<void(const Decision&)> on_decision;  // e.g. print it

  // The steps of one iteration, public for tests.
  void apply_penalty(int64_t iteration);
  void check(int64_t iteration);
  void update_eta();
  const std::vector<double>& eta() const { return eta_; }
  int64_t n_int(size_t scheme_layer) const;
  const at::Tensor& thresholds(size_t scheme_layer) const;

 private:
  struct Layer;
  Layer& layer_of(size_t scheme_layer) const;

  Scheme scheme_;
  SearchOptions options_;
  std::vector<int64_t> candidates_;
  std::vector<double> erk_;  // per scheme layer (0 for layers kept dense)
  std::vector<double> eta_;  // per scheme layer
  std::vector<std::unique_ptr<Layer>> layers_;  // searchable layers, in model order
  bool done_ = false;
};

}  // namespace domino
