// The search's costs: the per-group top-N kernel against the argsort approach on
// ResNet-56's weights, and a search iteration against a dense training iteration.
#include <benchmark/benchmark.h>
#include <torch/torch.h>

#include "domino/core/runtime.h"
#include "domino/data/datasets.h"
#include "domino/data/loader.h"
#include "domino/jobs/search_job.h"
#include "domino/models/layer_table.h"
#include "domino/models/models.h"
#include "domino/nm/baselines.h"
#include "domino/nm/nm.h"
#include "domino/search/search.h"
#include "domino/sparse/srste.h"
#include "domino/train/precision.h"
#include "domino/train/sgd.h"

namespace {

using namespace domino;

// ResNet-56's prunable weights (CIFAR-10 shapes), grouped by 16 in NHWC order.
const std::vector<torch::Tensor>& resnet56_groups() {
  static const auto groups = [] {
    torch::manual_seed(0);
    auto model = make_model("resnet56", {3, 10});
    std::vector<torch::Tensor> out;
    for (const auto& p : model->named_parameters())
      if (p.value().dim() >= 2 && groupable(p.value().sizes(), 16)) out.push_back(to_groups(p.value().detach(), 16, Layout::NHWC));
    return out;
  }();
  return groups;
}

void BM_TopNKernel(benchmark::State& state) {
  set_threads(static_cast<int>(state.range(1)));
  const int64_t N = state.range(0);
  int64_t elements = 0;
  for (auto _ : state)
    for (const auto& g : resnet56_groups()) {
      benchmark::DoNotOptimize(topn_mask(g, N).data_ptr());
      elements += g.numel();
    }
  state.counters["weights/s"] = benchmark::Counter(static_cast<double>(elements), benchmark::Counter::kIsRate);
}
BENCHMARK(BM_TopNKernel)->Args({2, 1})->Args({8, 1})->Args({2, 2})->Unit(benchmark::kMillisecond)->UseRealTime();

// The approach the kernel replaces: a stable argsort of |w| per group, keep the first N.
void BM_TopNArgsort(benchmark::State& state) {
  set_threads(static_cast<int>(state.range(1)));
  const int64_t N = state.range(0);
  int64_t elements = 0;
  for (auto _ : state)
    for (const auto& g : resnet56_groups()) {
      const auto order = std::get<1>(g.abs().sort(/*stable=*/true, 1, /*descending=*/true));
      auto keep = torch::zeros_like(g, torch::kBool).scatter_(1, order.narrow(1, 0, N), true);
      benchmark::DoNotOptimize(keep.data_ptr());
      elements += g.numel();
    }
  state.counters["weights/s"] = benchmark::Counter(static_cast<double>(elements), benchmark::Counter::kIsRate);
}
BENCHMARK(BM_TopNArgsort)->Args({2, 1})->Args({8, 1})->Args({2, 2})->Unit(benchmark::kMillisecond)->UseRealTime();

// The masks of one forward pass of ResNet-20 (every groupable weight, 2:16, NHWC groups):
// range(0) = 1: channels-last weights (the mask is written in place, groups in memory
// order); 0: contiguous weights (groups gathered, mask scattered back). range(1): threads.
// range(2) = 0: the portable kernel instead of AVX-512.
void BM_MaskForward(benchmark::State& state) {
  set_threads(static_cast<int>(state.range(1)));
  set_topn_vectorised(state.range(2) == 1);
  torch::manual_seed(0);
  auto model = make_model("resnet20", {1, 10});
  if (state.range(0) == 1) set_memory_format(*model, MemoryFormat::ChannelsLast);
  std::vector<torch::Tensor> weights;
  int64_t elements = 0;
  for (const auto& p : model->parameters())
    if (p.dim() >= 2 && groupable(p.sizes(), 16)) {
      weights.push_back(p.detach());
      elements += p.numel();
    }
  for (auto _ : state)
    for (const auto& w : weights) benchmark::DoNotOptimize((w * nm_mask(w, 2, 16, Layout::NHWC)).data_ptr());
  set_topn_vectorised(true);
  state.counters["weights/s"] = benchmark::Counter(static_cast<double>(elements * state.iterations()), benchmark::Counter::kIsRate);
}
BENCHMARK(BM_MaskForward)->ArgNames({"channels_last", "threads", "avx512"})->ArgsProduct({{0, 1}, {1, 2}, {0, 1}})
    ->Unit(benchmark::kMicrosecond)->UseRealTime();

// One iteration as the training loop runs it: forward (under autocast), loss, backward,
// hooks, SGD step. range(0) = 0: dense training (momentum 0.9); 1: a DominoSearch
// iteration (M = 16, masks at N_int = 8 in every layer, penalty every 5 and checks every
// 100 iterations as by default); 2: SR-STE fine-tuning of the uniform 2:16 scheme
// (momentum 0.9). range(1): 0 fp32, 1 bf16. range(2): 0 contiguous (NCHW), 1 channels-last.
void BM_TrainIteration(benchmark::State& state) {
  const bool search_on = state.range(0) == 1;
  const bool srste_on = state.range(0) == 2;
  const auto precision = state.range(1) == 1 ? Precision::BF16 : Precision::FP32;
  const auto format = state.range(2) == 1 ? MemoryFormat::ChannelsLast : MemoryFormat::Contiguous;
  const c10::Device cpu(c10::kCPU);
  set_threads(2);
  torch::manual_seed(0);
  const auto& spec = dataset_spec("fashion-mnist");
  auto model = make_model("resnet20", {1, 10});
  model->train();
  set_memory_format(*model, format);
  std::unique_ptr<DominoSearch> search;
  if (search_on) {
    SearchOptions o;
    o.target = Target{TargetKind::Params, 0.875};
    o.vr = 1e-9;  // every check lowers N_int: the cost is measured here, not the decisions
    search = std::make_unique<DominoSearch>(*model, dense_scheme(build_layer_table(*model, spec.shape), 16, Layout::NHWC), o);
    for (int64_t t = 0; t < 8; ++t) search->check(t);  // N_int 16 -> 8: masks active everywhere
  }
  if (srste_on) install_srste(*model, uniform_scheme(dense_scheme(build_layer_table(*model, spec.shape), 16, Layout::NHWC), 2));
  std::vector<std::pair<std::string, at::Tensor>> params;
  for (const auto& p : model->named_parameters()) params.emplace_back(p.key(), p.value());
  Sgd sgd(params, search_on ? SgdOptions{0.01, 0.0, 0.0, false} : SgdOptions{0.1, 0.9, 5e-4, false});
  LoaderOptions lo;
  lo.workers = 0;
  BatchLoader loader(load_dataset(spec, Split::Train), train_pipeline(spec), lo);
  loader.start_epoch(0);
  const auto batch = *loader.next();
  int64_t t = 1;  // t = 0 would check at once
  for (auto _ : state) {
    at::Tensor logits;
    {
      AutocastGuard autocast(cpu, precision);
      logits = model->forward(in_memory_format(batch.images, format));
    }
    auto loss = torch::nn::functional::cross_entropy(logits.to(torch::kFloat), batch.labels);
    sgd.zero_grad();
    loss.backward();
    if (search) search->after_backward(t++);
    sgd.step();
    benchmark::DoNotOptimize(loss.item<float>());
  }
  state.counters["images/s"] = benchmark::Counter(static_cast<double>(state.iterations() * lo.batch_size), benchmark::Counter::kIsRate);
}
BENCHMARK(BM_TrainIteration)
    ->ArgNames({"stage", "bf16", "channels_last"})
    ->ArgsProduct({{0, 1, 2}, {0, 1}, {0, 1}})
    ->Unit(benchmark::kMillisecond)->UseRealTime()->MinTime(5.0);

}  // namespace
