// Benchmarks of the dense training step and the data pipeline (ResNet-20, batch 64,
// Fashion-MNIST). Run: build/bench/domino_bench  (see docs/benchmarks.md)
#include <benchmark/benchmark.h>
#include <torch/torch.h>

#include "bench_util.h"
#include "domino/core/runtime.h"
#include "domino/data/datasets.h"
#include "domino/data/loader.h"
#include "domino/models/models.h"
#include "domino/train/sgd.h"
#include "models/batchnorm_relu.h"

namespace {

using namespace domino;

std::shared_ptr<const Dataset> fashion_train() {
  static auto data = load_dataset(dataset_spec("fashion-mnist"), Split::Train);
  return data;
}

// One optimizer step of dense training on a fixed batch: what the training loop pays
// per iteration besides waiting for data.
void BM_DenseTrainStep(benchmark::State& state) {
  set_threads(static_cast<int>(state.range(0)));
  torch::manual_seed(0);
  auto model = make_model("resnet20", {1, 10});
  model->train();
  std::vector<std::pair<std::string, at::Tensor>> params;
  for (const auto& p : model->named_parameters()) params.emplace_back(p.key(), p.value());
  Sgd sgd(params, {0.1, 0.9, 5e-4, false});
  LoaderOptions o;
  o.workers = 0;
  BatchLoader loader(fashion_train(), train_pipeline(dataset_spec("fashion-mnist")), o);
  loader.start_epoch(0);
  const auto batch = *loader.next();
  for (auto _ : state) {
    auto loss = torch::nn::functional::cross_entropy(model->forward(batch.images), batch.labels);
    sgd.zero_grad();
    loss.backward();
    sgd.step();
    benchmark::DoNotOptimize(loss.item<float>());
  }
  state.counters["images/s"] = benchmark::Counter(static_cast<double>(state.iterations() * o.batch_size), benchmark::Counter::kIsRate);
}
BENCHMARK(BM_DenseTrainStep)->Arg(2)->Arg(1)->Unit(benchmark::kMillisecond)->UseRealTime()->MinTime(5.0);

// Augmented batches delivered by the pipeline alone, with `workers` threads.
void BM_DataPipeline(benchmark::State& state) {
  LoaderOptions o;
  o.workers = static_cast<int>(state.range(0));
  o.prefetch = 8;
  BatchLoader loader(fashion_train(), train_pipeline(dataset_spec("fashion-mnist")), o);
  bench::consume_batches(state, loader);
}
BENCHMARK(BM_DataPipeline)->Arg(0)->Arg(1)->Arg(2)->Unit(benchmark::kMicrosecond)->UseRealTime()->MinTime(3.0);

// relu(BatchNorm(x)) forward + backward in training on a channels-last activation:
// range(0) 1 = the fused op (src/models/batchnorm_relu.h), 0 = LibTorch's BatchNorm and
// ReLU; range(1) 1 = bf16, 0 = float; range(2) the channels (below).
void BM_BatchNormRelu(benchmark::State& state) {
  set_threads(2);
  const bool fused = state.range(0) == 1;
  const auto dtype = state.range(1) == 1 ? at::kBFloat16 : at::kFloat;
  // ResNet-20's first and last stages on Fashion-MNIST: [64, 16, 28, 28] or [64, 64, 7, 7].
  const int64_t C = state.range(2), side = C == 16 ? 28 : 7;
  const auto cl = [&](const at::Tensor& t) { return t.to(dtype).contiguous(at::MemoryFormat::ChannelsLast); };
  auto x = cl(torch::randn({64, C, side, side})).requires_grad_();
  const auto g = cl(torch::randn({64, C, side, side}));
  const BatchNormParams p{torch::ones({C}).requires_grad_(), torch::zeros({C}).requires_grad_(), torch::zeros({C}),
                          torch::ones({C}), 0.1, 1e-5};
  for (auto _ : state) {
    const auto y = fused ? batchnorm_relu_train(x, {}, p)
                         : torch::nn::functional::detail::batch_norm(x, p.running_mean, p.running_var, p.weight, p.bias,
                                                                     true, p.momentum, p.eps).relu_();
    y.backward(g);
  }
}
BENCHMARK(BM_BatchNormRelu)->ArgNames({"fused", "bf16", "channels"})->ArgsProduct({{0, 1}, {0, 1}, {16, 64}})->Unit(benchmark::kMicrosecond)->UseRealTime();

}  // namespace

// As `domino` does at start (runtime.h): without it, large-batch forwards measure page faults.
int main(int argc, char** argv) {
  domino::keep_freed_memory();
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
