// The search's costs: the per-group top-N kernel against the argsort approach on
// ResNet-56's weights, and a search iteration against a dense training iteration.
#include <benchmark/benchmark.h>
#include <torch/torch.h>

#include "domino/datasets.h"
#include "domino/layer_table.h"
#include "domino/loader.h"
#include "domino/models.h"
#include "domino/nm.h"
#include "domino/runtime.h"
#include "domino/baselines.h"
#include "domino/search.h"
#include "domino/srste.h"
#include "domino/sgd.h"

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

// One iteration as the training loop runs it: forward, loss, backward, hooks, SGD step.
// range(0) = 0: dense training (momentum 0.9); 1: a DominoSearch iteration (M = 16, masks at
// N_int = 8 in every layer, penalty every 5 and checks every 100 iterations as by default);
// 2: SR-STE fine-tuning of the uniform 2:16 scheme (momentum 0.9).
void BM_TrainIteration(benchmark::State& state) {
  const bool search_on = state.range(0) == 1;
  const bool srste_on = state.range(0) == 2;
  set_threads(2);
  torch::manual_seed(0);
  const auto& spec = dataset_spec("fashion-mnist");
  auto model = make_model("resnet20", {1, 10});
  model->train();
  std::unique_ptr<DominoSearch> search;
  if (search_on) {
    SearchOptions o;
    o.target = Target{"params", 0.875};
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
    auto loss = torch::nn::functional::cross_entropy(model->forward(batch.images), batch.labels);
    sgd.zero_grad();
    loss.backward();
    if (search) search->after_backward(t++);
    sgd.step();
    benchmark::DoNotOptimize(loss.item<float>());
  }
  state.counters["images/s"] = benchmark::Counter(static_cast<double>(state.iterations() * lo.batch_size), benchmark::Counter::kIsRate);
}
BENCHMARK(BM_TrainIteration)->Arg(0)->Arg(1)->Arg(2)->Unit(benchmark::kMillisecond)->UseRealTime()->MinTime(8.0);

}  // namespace
