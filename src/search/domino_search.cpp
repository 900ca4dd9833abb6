#include <torch/torch.h>

#include <algorithm>
#include <cmath>

#include "domino/core/error.h"
#include "domino/models/prunable.h"
#include "domino/nm/baselines.h"
#include "domino/search/search.h"
#include "io/files.h"

namespace domino {

struct DominoSearch::Layer {
  size_t index = 0;  // in the scheme
  at::Tensor weight;
  std::function<void(WeightTransform)> set_transform;
  int64_t n_int = 0;
  at::Tensor threshold;  // [G]: mean of the M/2 smallest |w| of each group at the start
  at::Tensor mask;       // of the last forward; undefined while dense
};

const OptionTable<SearchOptions>& search_options() {
  using O = SearchOptions;
  static const auto table =
      OptionTable<O>{}
          .add("M", &O::M, "group size M: 4, 8, 16 or 32")
          .add("layout", &O::layout, [](Layout l) { return to_string(l); },
               [](const std::string& text, const std::string&) { return parse_layout(text); },
               "group formation: NHWC (along input channels) or NCHW")
          .add("candidates", &O::candidates, kCandidateSets, "N candidates: pow2 (1, 2, 4, ..., M) or all (1..M)")
          .add("beta1", &O::beta1, "weight of computational complexity in eta (default 0.5 for params, 0.8 for flops and latency)")
          .add("beta2", &O::beta2, "weight of redundancy in eta (default 0.5 for params, 0.2 for flops and latency)")
          .add("eta", &O::use_eta, "layer-wise eta in the penalty (false: the ablation, eta = 1 for every layer)")
          .add("policy", &O::policy, kPolicies, "fixed-m, or fixed-n (map N:M to 1:(M/N) at the end)")
          .add("lambda", &O::lambda, "penalty factor lambda")
          .add("kp", &O::kp, "apply the penalty every kp iterations")
          .add("kc", &O::kc, "check the layers every kc iterations")
          .add("vr", &O::vr, "vote ratio")
          .add("exclude", &O::exclude, "layer-name globs to keep dense (repeatable), e.g. conv1 'layer3.*'")
          .add("latency-table", &O::latency_table, "a table from `domino latency-table` for the model: needed by a latency:R target, whose complexity term then counts each layer's measured time");
  return table;
}

nlohmann::json SearchOptions::to_json() const {
  auto out = search_options().to_json(*this);
  out["target"] = domino::to_string(target);
  out["beta1"] = beta1_value();
  out["beta2"] = beta2_value();
  return out;
}

void validate(const SearchOptions& o) {
  if (o.M != 4 && o.M != 8 && o.M != 16 && o.M != 32) fail("M must be 4, 8, 16 or 32, got {}", o.M);
  candidate_ns(o.M, o.candidates);
  if (o.kp <= 0 || o.kc <= 0) fail("kp and kc must be positive, got {} and {}", o.kp, o.kc);
  if (o.vr <= 0 || o.vr > 1) fail("vr must be in (0, 1], got {}", o.vr);
  for (const auto& beta : {o.beta1, o.beta2})
    if (beta && (*beta < 0 || *beta > 1)) fail("beta1 and beta2 must be in [0, 1], got {}", *beta);
}

double search_lambda(double base, int64_t iteration) {
  double lambda = base;
  for (int64_t at = 30000; at <= 80000; at += 10000)
    if (iteration >= at) lambda *= 2;
  return lambda;
}

DominoSearch::DominoSearch(Network& model, Scheme scheme, SearchOptions options)
    : scheme_(std::move(scheme)), options_(std::move(options)), candidates_(candidate_ns(options_.M, options_.candidates)),
      erk_(scheme_.layers.size(), 0.0), eta_(scheme_.layers.size(), 1.0) {
  validate(options_);
  if (options_.target.kind == TargetKind::Latency && !scheme_.latency)
    fail("a latency target needs the scheme's layer times: give a latency table (--latency-table FILE)");
  std::vector<std::vector<int64_t>> shapes;
  std::vector<size_t> searchable;
  for (size_t i = 0; i < scheme_.layers.size(); ++i) {
    const auto& l = scheme_.layers[i];
    if (!l.searchable) continue;
    auto layer = std::make_unique<Layer>();
    layer->index = i;
    auto handle = prunable_layer(model, l.name);
    layer->set_transform = std::move(handle.set_transform);
    layer->weight = handle.weight;
    layer->n_int = l.N;
    torch::NoGradGuard no_grad;
    const auto groups = to_groups(layer->weight.detach().abs(), l.M, scheme_.layout);
    layer->threshold = std::get<0>(groups.sort(1)).narrow(1, 0, l.M / 2).mean(1);
    Layer* raw = layer.get();
    const int64_t M = l.M;
    const Layout layout = scheme_.layout;
    layer->set_transform([raw, M, layout](const torch::Tensor& w) {
      if (raw->n_int >= M) {
        raw->mask = at::Tensor();
        return w;
      }
      raw->mask = nm_mask(w.detach(), raw->n_int, M, layout);
      return w * raw->mask;  // the gradient reaching w is ∂L/∂W_eff ⊙ mask
    });
    layers_.push_back(std::move(layer));
    shapes.push_back(l.shape);
    searchable.push_back(i);
  }
  if (layers_.empty()) fail("no layer can be searched: every layer is excluded or not a multiple of M={}", options_.M);
  const auto erk = erk_sparsities(shapes, options_.target.value);
  for (size_t k = 0; k < searchable.size(); ++k) erk_[searchable[k]] = erk[k];
  update_eta();
}

DominoSearch::~DominoSearch() {
  for (auto& l : layers_) l->set_transform(nullptr);
}

DominoSearch::Layer& DominoSearch::layer_of(size_t scheme_layer) const {
  for (const auto& l : layers_)
    if (l->index == scheme_layer) return *l;
  fail("layer {} is not searched", scheme_.layers.at(scheme_layer).name);
}

int64_t DominoSearch::n_int(size_t scheme_layer) const { return layer_of(scheme_layer).n_int; }
const at::Tensor& DominoSearch::thresholds(size_t scheme_layer) const { return layer_of(scheme_layer).threshold; }

void DominoSearch::update_eta() {
  if (!options_.use_eta) {
    std::fill(eta_.begin(), eta_.end(), 1.0);
    return;
  }
  // c_i: the layer's FLOPs at its N, or under a latency budget its measured time at its N.
  const bool latency = options_.target.kind == TargetKind::Latency;
  auto cost = [&](const LayerScheme& l) { return latency ? scheme_.latency->at(l.name, l.N) : l.sparse_flops(); };
  double max_cost = 0, max_d = -1e300, max_abs_d = 0;
  std::vector<double> d(scheme_.layers.size(), 0.0);
  for (const auto& layer : layers_) {
    const auto& l = scheme_.layers[layer->index];
    max_cost = std::max(max_cost, cost(l));
    d[layer->index] = erk_[layer->index] - (1.0 - static_cast<double>(l.N) / static_cast<double>(l.M));
    max_d = std::max(max_d, d[layer->index]);
    max_abs_d = std::max(max_abs_d, std::abs(d[layer->index]));
  }
  for (const auto& layer : layers_) {
    const size_t i = layer->index;
    const double c = max_cost > 0 ? cost(scheme_.layers[i]) / max_cost : 0.0;
    const double r = (max_d < 0.01 || max_abs_d == 0) ? 0.0 : d[i] / max_abs_d;
    eta_[i] = options_.beta1_value() * c + options_.beta2_value() * r;
  }
}

void DominoSearch::apply_penalty(int64_t iteration) {
  torch::NoGradGuard no_grad;
  const double lambda = search_lambda(options_.lambda, iteration);
  for (auto& layer : layers_) {
    auto& w = layer->weight;
    if (!w.grad().defined()) w.mutable_grad() = torch::zeros_like(w);
    const auto surviving = layer->mask.defined() ? w * layer->mask : w;
    w.mutable_grad().add_(surviving, lambda * eta_[layer->index]);
  }
}

void DominoSearch::check(int64_t iteration) {
  torch::NoGradGuard no_grad;
  const int64_t smallest = candidates_.front();
  for (auto& layer : layers_) {
    auto& l = scheme_.layers[layer->index];
    if (l.N == smallest) continue;
    const auto above = (to_groups(layer->weight.abs(), l.M, scheme_.layout) > layer->threshold.unsqueeze(1)).sum(1);
    const double voting = (above < layer->n_int).to(torch::kDouble).mean().item<double>();
    if (voting >= options_.vr && layer->n_int > smallest) --layer->n_int;
    const bool candidate = std::find(candidates_.begin(), candidates_.end(), layer->n_int) != candidates_.end();
    if (!candidate || layer->n_int == l.N) continue;
    l.N = layer->n_int;  // a domino falls
    const Decision decision{iteration, l.name, l.N, scheme_.param_sparsity(), scheme_.flops_reduction()};
    scheme_.decisions.push_back(decision);
    if (on_decision) on_decision(decision);
    update_eta();
    if (scheme_.achieved(options_.target.kind) >= options_.target.value - 0.001) {
      done_ = true;
      return;
    }
  }
}

std::string DominoSearch::progress_note() const {
  const auto& t = options_.target;
  return fmt::format("{} {:.3f}/{:.3f}, {} decisions", describe(t.kind),
                     scheme_.achieved(t.kind), t.value, scheme_.decisions.size());
}

void DominoSearch::after_backward(int64_t iteration) {
  if (done_) return;
  if (iteration % options_.kp == 0) apply_penalty(iteration);
  if (iteration % options_.kc == 0) check(iteration);
}

void DominoSearch::save_state(c10::impl::GenericDict& extra) const {
  std::vector<int64_t> n, n_int;
  for (const auto& l : scheme_.layers) n.push_back(l.N);
  for (const auto& layer : layers_) {
    n_int.push_back(layer->n_int);
    extra.insert("search.threshold." + scheme_.layers[layer->index].name, layer->threshold.to(torch::kCPU));
  }
  extra.insert("search.n", torch::tensor(n));
  extra.insert("search.n_int", torch::tensor(n_int));
  extra.insert("search.eta", torch::tensor(eta_, torch::kDouble));
  extra.insert("search.decisions", json_text(to_json(scheme_.decisions)));
  extra.insert("search.done", done_);
}

uint64_t DominoSearch::decisions_digest() const {
  uint64_t digest = scheme_.decisions.size();
  for (const auto& l : scheme_.layers) digest = digest * 1000003u ^ static_cast<uint64_t>(l.N);
  return digest;
}

void DominoSearch::load_state(const c10::impl::GenericDict& extra) {
  auto get = [&](const std::string& key) {
    auto found = extra.find(key);
    if (found == extra.end()) fail("the checkpoint holds no search state ('{}'); was it written by domino search?", key);
    return found->value();
  };
  const auto n = get("search.n").toTensor(), n_int = get("search.n_int").toTensor(), eta = get("search.eta").toTensor();
  if (n.numel() != static_cast<int64_t>(scheme_.layers.size()) || n_int.numel() != static_cast<int64_t>(layers_.size()))
    fail("the checkpoint's search state is for another model or --exclude");
  for (size_t i = 0; i < scheme_.layers.size(); ++i) {
    scheme_.layers[i].N = n[static_cast<int64_t>(i)].item<int64_t>();
    eta_[i] = eta[static_cast<int64_t>(i)].item<double>();
  }
  for (size_t k = 0; k < layers_.size(); ++k) {
    auto& layer = *layers_[k];
    layer.n_int = n_int[static_cast<int64_t>(k)].item<int64_t>();
    layer.threshold = get("search.threshold." + scheme_.layers[layer.index].name).toTensor().to(layer.weight.device());
  }
  try {
    scheme_.decisions = decisions_from_json(nlohmann::json::parse(get("search.decisions").toStringRef()));
  } catch (const nlohmann::json::exception& e) {
    fail("the checkpoint's decision log is malformed: {}", e.what());
  }
  done_ = get("search.done").toBool();
}

}  // namespace domino
