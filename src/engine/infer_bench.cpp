// Dense against N:M timing of whole models and of their layers (docs/engine.md).
#include "domino/engine/infer_bench.h"

#include <torch/torch.h>

#include <algorithm>
#include <chrono>
#include <map>

#include "core/memory_format.h"
#include "domino/core/runtime.h"
#include "domino/models/prunable.h"

namespace domino::engine {
namespace {

using Clock = std::chrono::steady_clock;

double ms_since(Clock::time_point start) {
  return std::chrono::duration<double, std::milli>(Clock::now() - start).count();
}

// Counts the forwards of the whole measurement for BenchOptions::on_forward.
class ForwardCounter {
 public:
  explicit ForwardCounter(const BenchOptions& o) : o_(o), total_(2 * o.warmup + 4 * o.repeats) {}
  void tick() {
    if (o_.on_forward) o_.on_forward(++done_, total_);
  }

 private:
  const BenchOptions& o_;
  int64_t done_ = 0, total_;
};

// The median latency of `model`'s forward on `input` after the warm-up; `out` is the
// last output.
double time_model(Network& model, const at::Tensor& input, const BenchOptions& o, ForwardCounter& count, at::Tensor& out) {
  for (int64_t i = 0; i < o.warmup; ++i, count.tick()) out = model.forward(input);
  std::vector<double> ms;
  for (int64_t i = 0; i < o.repeats; ++i, count.tick()) {
    const auto start = Clock::now();
    out = model.forward(input);
    ms.push_back(ms_since(start));
  }
  return median_ms(ms);
}

// One layer's times inside the running model, and when it first ran (forward order).
struct LayerClock {
  std::vector<double> ms;
  std::vector<int64_t> input_shape;
  int64_t first_call = -1;
};

class LayerClocks {
 public:
  // Wraps `inner` so that each call of the layer is timed.
  ForwardOverride timed(const std::string& name, ForwardOverride inner) {
    auto clock = std::make_shared<LayerClock>();
    clocks_[name] = clock;
    auto calls = calls_;
    return [inner = std::move(inner), clock, calls](const torch::Tensor& x) {
      if (clock->first_call < 0) clock->first_call = (*calls)++;
      clock->input_shape = x.sizes().vec();
      const auto start = Clock::now();
      auto y = inner(x);
      clock->ms.push_back(ms_since(start));
      return y;
    };
  }
  const LayerClock* find(const std::string& name) const {
    const auto it = clocks_.find(name);
    return it == clocks_.end() ? nullptr : it->second.get();
  }

 private:
  std::map<std::string, std::shared_ptr<LayerClock>> clocks_;
  std::shared_ptr<int64_t> calls_ = std::make_shared<int64_t>(0);
};

// The override slot of a prunable layer (conv or linear), or none for other modules. `set`
// drops a convolution's fused forward (conv_bn_relu), so a timed layer is the convolution
// alone, as the dense one; `saved` puts back both as they are now.
struct OverrideSlot {
  std::function<const ForwardOverride&()> get;
  std::function<void(ForwardOverride)> set;
  std::function<std::function<void()>()> saved;
};
std::optional<OverrideSlot> override_slot(torch::nn::Module& module) {
  if (auto* conv = module.as<PrunableConv2dImpl>())
    return OverrideSlot{[conv]() -> const ForwardOverride& { return conv->forward_override(); },
                        [conv](ForwardOverride f) { conv->set_forward_override(std::move(f)); },
                        [conv]() -> std::function<void()> {
                          return [conv, f = conv->forward_override(), fused = conv->fused_relu_forward()] {
                            conv->set_forward_override(f, fused);
                          };
                        }};
  if (auto* linear = module.as<PrunableLinearImpl>())
    return OverrideSlot{[linear]() -> const ForwardOverride& { return linear->forward_override(); },
                        [linear](ForwardOverride f) { linear->set_forward_override(std::move(f)); },
                        [linear]() -> std::function<void()> {
                          return [linear, f = linear->forward_override()] { linear->set_forward_override(f); };
                        }};
  return std::nullopt;
}

// The layer's dense LibTorch forward as an override (LibTorch's own conv2d and linear on
// its weight), or empty for a module that is neither layer.
ForwardOverride dense_forward(torch::nn::Module& module) {
  if (auto* conv = module.as<PrunableConv2dImpl>())
    return [conv](const torch::Tensor& x) { return conv->dense_forward(x); };
  if (auto* linear = module.as<PrunableLinearImpl>())
    return [linear](const torch::Tensor& x) { return torch::nn::functional::linear(x, linear->weight, linear->bias); };
  return {};
}

// Runs the timed forwards with `clocks` wrapped around the layers named, then puts the
// layers' previous forwards back.
void time_layers(Network& model, const at::Tensor& input, const BenchOptions& o, ForwardCounter& count,
                 const std::vector<std::string>& names,
                 const std::function<ForwardOverride(torch::nn::Module&)>& forward_of, LayerClocks& clocks) {
  auto modules = model.named_modules("", /*include_self=*/false);
  std::vector<std::function<void()>> restores;
  for (const auto& name : names) {
    if (!modules.contains(name)) continue;
    auto& module = *modules[name];
    auto slot = override_slot(module);
    auto inner = forward_of(module);
    if (!slot || !inner) continue;
    restores.push_back(slot->saved());
    slot->set(clocks.timed(name, std::move(inner)));
  }
  for (int64_t i = 0; i < o.repeats; ++i, count.tick()) model.forward(input);
  for (const auto& restore : restores) restore();
}

// The model's 4-d parameters (convolution weights) in `format`'s own strides (a 1-channel
// stem's weight keeps NCHW strides through contiguous(ChannelsLast)).
void set_weight_format(torch::nn::Module& model, at::MemoryFormat format) {
  for (auto& p : model.parameters())
    if (p.dim() == 4) p.set_data(with_format_strides(p, format));
}

}  // namespace

double median_ms(std::vector<double> ms) {
  if (ms.empty()) return 0;
  std::sort(ms.begin(), ms.end());
  const size_t n = ms.size();
  return n % 2 ? ms[n / 2] : 0.5 * (ms[n / 2 - 1] + ms[n / 2]);
}

InferenceTiming bench_inference(Network& model, const Scheme& scheme, const at::Tensor& input, const BenchOptions& o) {
  torch::NoGradGuard no_grad;
  model.eval();
  InferenceTiming t;
  t.batch_size = input.size(0);
  t.threads = at::get_num_threads();
  t.isa = to_string(active_isa());
  t.blas = blas_threading();

  std::vector<std::string> names;
  for (const auto& layer : scheme.layers) names.push_back(layer.name);
  at::Tensor dense_out, nm_out;
  ForwardCounter count(o);
  const auto dense_format = o.dense_channels_last ? at::MemoryFormat::ChannelsLast : at::MemoryFormat::Contiguous;
  set_weight_format(model, dense_format);
  const auto dense_input = with_format_strides(input, dense_format);
  t.dense_ms = time_model(model, dense_input, o, count, dense_out);
  LayerClocks dense, nm;
  time_layers(model, dense_input, o, count, names, dense_forward, dense);
  set_weight_format(model, at::MemoryFormat::Contiguous);

  t.switched = use_engine(model, scheme, o.max_density);
  t.nm_ms = time_model(model, input, o, count, nm_out);
  time_layers(model, input, o, count, t.switched.engine, [](torch::nn::Module& m) { return override_slot(m)->get(); }, nm);

  for (const auto& name : names)
    if (const auto* d = dense.find(name)) t.dense_layer_ms[name] = median_ms(d->ms);
  std::map<std::string, const LayerScheme*> by_name;
  for (const auto& layer : scheme.layers) by_name[layer.name] = &layer;
  const auto params = model.named_parameters();
  for (const auto& name : t.switched.engine) {
    const auto* d = dense.find(name);
    const auto* n = nm.find(name);
    if (!d || !n) continue;
    LayerTiming row;
    row.name = name;
    row.input_shape = n->input_shape;
    row.weight_shape = params[name + ".weight"].sizes().vec();
    row.N = by_name.at(name)->N;
    row.M = by_name.at(name)->M;
    row.dense_ms = median_ms(d->ms);
    row.nm_ms = median_ms(n->ms);
    t.layers.push_back(row);
  }
  std::sort(t.layers.begin(), t.layers.end(), [&](const LayerTiming& a, const LayerTiming& b) {
    return nm.find(a.name)->first_call < nm.find(b.name)->first_call;
  });
  t.max_abs_diff = (nm_out - dense_out).abs().max().item<double>();
  t.same_top1 = nm_out.argmax(1).eq(dense_out.argmax(1)).sum().item<int64_t>();
  return t;
}

}  // namespace domino::engine
