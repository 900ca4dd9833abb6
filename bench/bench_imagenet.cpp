// Benchmarks of the ImageNet input path: JPEG decoding, and the training and evaluation
// pipelines over an ImageFolder of ImageNet-sized JPEGs (500x375, quality 90, textured so
// that they compress like photos), next to what a ResNet-18 training step consumes.
// Run: build/bench/domino_bench --benchmark_filter=ImageNet  (see docs/benchmarks.md)
#include <benchmark/benchmark.h>
#include <torch/torch.h>

#include <opencv2/core.hpp>
#include <opencv2/imgcodecs.hpp>

#include <filesystem>

#include "bench_util.h"
#include "domino/core/runtime.h"
#include "domino/data/datasets.h"
#include "domino/data/image_folder.h"
#include "domino/data/loader.h"
#include "domino/models/models.h"

namespace {

using namespace domino;
namespace fs = std::filesystem;

constexpr int kImages = 128;

const fs::path& image_tree() {
  static const fs::path root = [] {
    const fs::path dir = fs::temp_directory_path() / "domino-bench-imagenet";
    cv::RNG rng(0);
    for (int i = 0; i < kImages; ++i) {
      const auto cls = dir / "train" / ("class" + std::to_string(i % 4));
      fs::create_directories(cls);
      const auto file = cls / (std::to_string(i) + ".jpg");
      if (fs::exists(file)) continue;
      cv::Mat image(375, 500, CV_8UC3);
      for (int y = 0; y < image.rows; ++y)  // smooth gradients plus noise: photo-like entropy
        for (int x = 0; x < image.cols; ++x)
          image.at<cv::Vec3b>(y, x) = cv::Vec3b(static_cast<uint8_t>((x + i) % 256), static_cast<uint8_t>((y * 2) % 256),
                                                static_cast<uint8_t>((x + y) % 256));
      cv::Mat noise(image.size(), CV_8UC3);
      rng.fill(noise, cv::RNG::NORMAL, 0, 20);
      image += noise;
      cv::imwrite(file.string(), image, {cv::IMWRITE_JPEG_QUALITY, 90});
    }
    return dir;
  }();
  return root;
}

void BM_ImageNetDecodeJpeg(benchmark::State& state) {
  ImageFolder data((image_tree() / "train").string());
  int64_t i = 0;
  for (auto _ : state) benchmark::DoNotOptimize(data.image(i++ % data.size()).pixels.data());
  state.counters["images/s"] = benchmark::Counter(static_cast<double>(state.iterations()), benchmark::Counter::kIsRate);
}
BENCHMARK(BM_ImageNetDecodeJpeg)->Unit(benchmark::kMillisecond)->UseRealTime()->MinTime(3.0);

// Batches of 32 through the loader: decoding + transform + normalisation; arg 0 = train
// (random resized crop, flip, lighting), 1 = eval (resize 256, centre crop 224); arg 1 = workers.
void BM_ImageNetPipeline(benchmark::State& state) {
  const auto& spec = dataset_spec("imagenet");
  auto data = load_dataset(spec, Split::Train, image_tree().string());
  LoaderOptions o;
  o.batch_size = 32;
  o.workers = static_cast<int>(state.range(1));
  BatchLoader loader(data, state.range(0) == 0 ? train_pipeline(spec) : eval_pipeline(spec), o);
  bench::consume_batches(state, loader);
}
BENCHMARK(BM_ImageNetPipeline)->Args({0, 1})->Args({0, 2})->Args({1, 2})->Unit(benchmark::kMillisecond)->UseRealTime()->MinTime(5.0);

// What the pipeline must keep up with: a ResNet-18 training step at 224x224 (batch 16, 2 threads).
void BM_ImageNetResNet18TrainStep(benchmark::State& state) {
  set_threads(2);
  torch::manual_seed(0);
  auto model = make_model("resnet18", {3, 1000});
  model->train();
  torch::optim::SGD sgd(model->parameters(), torch::optim::SGDOptions(0.1).momentum(0.9));
  const auto images = torch::randn({16, 3, 224, 224});
  const auto labels = torch::randint(1000, {16});
  for (auto _ : state) {
    auto loss = torch::nn::functional::cross_entropy(model->forward(images), labels);
    sgd.zero_grad();
    loss.backward();
    sgd.step();
    benchmark::DoNotOptimize(loss.item<float>());
  }
  state.counters["images/s"] = benchmark::Counter(static_cast<double>(state.iterations() * 16), benchmark::Counter::kIsRate);
}
BENCHMARK(BM_ImageNetResNet18TrainStep)->Unit(benchmark::kMillisecond)->UseRealTime()->MinTime(10.0);

}  // namespace
