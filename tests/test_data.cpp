// Datasets registry, holdout split, transforms and the batch loader.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <set>

#include "domino/data/datasets.h"
#include "domino/data/loader.h"
#include "domino/data/transforms.h"
#include "test_util.h"

namespace domino {
namespace {

using test::expect_error_containing;

// A dataset whose image i is filled with the value i and labelled i % 10.
class CountingDataset : public Dataset {
 public:
  explicit CountingDataset(int64_t n, int64_t side = 4) : n_(n), side_(side) {}
  int64_t size() const override { return n_; }
  int64_t num_classes() const override { return 10; }
  Image image(int64_t i) const override {
    if (i == fail_at) throw Error("broken image");
    return Image{{1, side_, side_}, std::vector<uint8_t>(static_cast<size_t>(side_ * side_), static_cast<uint8_t>(i))};
  }
  int64_t label(int64_t i) const override { return i % 10; }
  int64_t fail_at = -1;

 private:
  int64_t n_, side_;
};

TEST(DatasetRegistry, UnknownNameListsValidOnes) {
  expect_error_containing([] { dataset_spec("imagenet1k"); }, {"imagenet1k", "fashion-mnist", "cifar100"});
}

TEST(DatasetRegistry, MissingFilesNameThePathAndTheRemedy) {
  test::TempDir dir;
  expect_error_containing([&] { load_dataset(dataset_spec("fashion-mnist"), Split::Train, dir / "nope"); },
                          {"nope", "dataset-fashion-mnist"});
  expect_error_containing([&] { load_dataset(dataset_spec("cifar10"), Split::Train, dir.path().string()); },
                          {"data_batch_1.bin", "not found"});
  expect_error_containing([&] { load_dataset(dataset_spec("cifar100"), Split::Test, dir.path().string()); }, {"test.bin"});
}

TEST(DatasetRegistry, ReadsTinyMnistLayoutPlainAndGzip) {
  test::TempDir dir;
  test::write_tiny_mnist(dir.path() / "gz", 20, 10, true);
  test::write_tiny_mnist(dir.path() / "plain", 20, 10, false);
  for (const char* sub : {"gz", "plain"}) {
    auto train = load_dataset(dataset_spec("mnist"), Split::Train, (dir.path() / sub).string());
    auto testset = load_dataset(dataset_spec("mnist"), Split::Test, (dir.path() / sub).string());
    EXPECT_EQ(train->size(), 20);
    EXPECT_EQ(testset->size(), 10);
    EXPECT_EQ(train->label(13), 3);
  }
}

TEST(DatasetRegistry, FashionMnistFromTheDebianPackage) {
  const auto& spec = dataset_spec("fashion-mnist");
  auto train = load_dataset(spec, Split::Train);
  auto testset = load_dataset(spec, Split::Test);
  EXPECT_EQ(train->size(), 60000);
  EXPECT_EQ(testset->size(), 10000);
  EXPECT_EQ(train->image(0).shape, spec.shape);
  std::vector<int64_t> per_class(10, 0);
  for (int64_t i = 0; i < testset->size(); ++i) per_class[static_cast<size_t>(testset->label(i))]++;
  for (int64_t count : per_class) EXPECT_EQ(count, 1000);  // Fashion-MNIST's test set is balanced
}

TEST(HoldoutSplit, DisjointCompleteAndSeeded) {
  auto data = std::make_shared<CountingDataset>(100);
  auto a = split_holdout(data, 0.2, 5), b = split_holdout(data, 0.2, 5), c = split_holdout(data, 0.2, 6);
  ASSERT_EQ(a.validation->size(), 20);
  ASSERT_EQ(a.train->size(), 80);
  std::set<int64_t> seen;
  for (auto* part : {a.train.get(), a.validation.get()})
    for (int64_t i = 0; i < part->size(); ++i) seen.insert(part->image(i).pixels[0]);
  EXPECT_EQ(seen.size(), 100u);
  bool same_as_b = true, same_as_c = true;
  for (int64_t i = 0; i < 20; ++i) {
    same_as_b &= a.validation->image(i).pixels == b.validation->image(i).pixels;
    same_as_c &= a.validation->image(i).pixels == c.validation->image(i).pixels;
  }
  EXPECT_TRUE(same_as_b);
  EXPECT_FALSE(same_as_c);
  EXPECT_EQ(split_holdout(data, 0.0, 5).validation, nullptr);
  expect_error_containing([&] { split_holdout(data, 1.0, 5); }, {"validation split"});
}

Image ramp(int64_t channels, int64_t h, int64_t w) {
  Image img{{channels, h, w}, {}};
  for (int64_t i = 0; i < channels * h * w; ++i) img.pixels.push_back(static_cast<uint8_t>(i + 1));
  return img;
}

TEST(Transforms, RandomCropIsAShiftedWindowWithZeroPadding) {
  const Image img = ramp(2, 5, 6);
  RandomCrop crop(5, 6, 2);
  std::set<std::pair<int, int>> offsets;
  for (uint64_t seed = 0; seed < 200; ++seed) {
    std::mt19937_64 rng(seed);
    const Image out = crop.apply(img, rng);
    ASSERT_EQ(out.shape, img.shape);
    bool found = false;
    for (int dy = -2; dy <= 2 && !found; ++dy)
      for (int dx = -2; dx <= 2 && !found; ++dx) {
        bool match = true;
        for (int64_t c = 0; c < 2; ++c)
          for (int64_t y = 0; y < 5; ++y)
            for (int64_t x = 0; x < 6; ++x) {
              const int64_t sy = y + dy, sx = x + dx;
              const uint8_t expect = (sy >= 0 && sy < 5 && sx >= 0 && sx < 6) ? img.at(c, sy, sx) : 0;
              match &= out.at(c, y, x) == expect;
            }
        if (match) {
          found = true;
          offsets.insert({dy, dx});
        }
      }
    EXPECT_TRUE(found) << "seed " << seed;
  }
  EXPECT_EQ(offsets.size(), 25u);  // every shift in [-2, 2]^2 occurs
}

TEST(Transforms, FlipMirrorsRowsAndNormaliseUsesMeanStd) {
  const Image img = ramp(1, 2, 3);
  std::mt19937_64 rng(0);
  const Image flipped = RandomHorizontalFlip(1.0).apply(img, rng);
  EXPECT_EQ(flipped.pixels, (std::vector<uint8_t>{3, 2, 1, 6, 5, 4}));
  EXPECT_EQ(RandomHorizontalFlip(0.0).apply(img, rng).pixels, img.pixels);

  Pipeline p({}, {0.5f}, {0.25f});
  std::vector<float> out(6);
  p.run(Image{{1, 1, 6}, {0, 51, 102, 128, 204, 255}}, out.data(), rng);
  const float expect[] = {-2.0f, -1.2f, -0.4f, 0.00784f, 1.2f, 2.0f};
  for (int i = 0; i < 6; ++i) EXPECT_NEAR(out[static_cast<size_t>(i)], expect[i], 1e-4);
}

TEST(Transforms, TrainAndEvalPipelinesFollowTheDataset) {
  const auto& spec = dataset_spec("cifar10");
  const Image img = ramp(3, 32, 32);
  std::vector<float> a(3 * 32 * 32), b(a.size());
  std::mt19937_64 r1(1), r2(2);
  eval_pipeline(spec).run(img, a.data(), r1);
  eval_pipeline(spec).run(img, b.data(), r2);
  EXPECT_EQ(a, b);  // evaluation draws nothing random
  int differing = 0;
  for (uint64_t s = 0; s < 8; ++s) {
    std::mt19937_64 r(s);
    train_pipeline(spec).run(img, b.data(), r);
    differing += a != b;
  }
  EXPECT_GE(differing, 6);
  std::mt19937_64 r(3);
  train_pipeline(spec, /*augment=*/false).run(img, b.data(), r);
  EXPECT_EQ(a, b);
}

std::vector<std::pair<torch::Tensor, torch::Tensor>> drain(BatchLoader& loader, int64_t epoch, int64_t first = 0) {
  std::vector<std::pair<torch::Tensor, torch::Tensor>> out;
  loader.start_epoch(epoch, first);
  while (auto b = loader.next()) out.emplace_back(b->images, b->labels);
  return out;
}

TEST(BatchLoader, SameBatchesForAnyWorkerCountAndMidEpochStart) {
  auto data = std::make_shared<CountingDataset>(103, 8);
  Pipeline augmenting({std::make_shared<RandomCrop>(8, 8, 2), std::make_shared<RandomHorizontalFlip>()}, {0.f}, {1.f});
  LoaderOptions o;
  o.batch_size = 10;
  o.seed = 42;
  o.workers = 0;
  BatchLoader serial(data, augmenting, o);
  EXPECT_EQ(serial.batches_per_epoch(), 10);  // drop_last
  const auto reference = drain(serial, 3);
  ASSERT_EQ(reference.size(), 10u);
  for (int workers : {1, 3}) {
    o.workers = workers;
    o.prefetch = 2;
    BatchLoader parallel(data, augmenting, o);
    const auto got = drain(parallel, 3);
    ASSERT_EQ(got.size(), reference.size());
    for (size_t i = 0; i < got.size(); ++i) {
      EXPECT_TRUE(torch::equal(got[i].first, reference[i].first)) << "workers " << workers << " batch " << i;
      EXPECT_TRUE(torch::equal(got[i].second, reference[i].second));
    }
    const auto tail = drain(parallel, 3, 7);  // a resumed epoch sees the same last batches
    ASSERT_EQ(tail.size(), 3u);
    EXPECT_TRUE(torch::equal(tail[0].first, reference[7].first));
  }
  const auto other_epoch = drain(serial, 4);
  EXPECT_FALSE(torch::equal(other_epoch[0].second, reference[0].second));
}

TEST(BatchLoader, EpochVisitsEverySampleOnceAndRanksShard) {
  auto data = std::make_shared<CountingDataset>(40);
  LoaderOptions o;
  o.batch_size = 4;
  o.world_size = 2;
  std::multiset<int64_t> seen;
  for (int rank : {0, 1}) {
    o.rank = rank;
    BatchLoader loader(data, Pipeline({}, {0.f}, {1.f / 255.f}), o);
    EXPECT_EQ(loader.batches_per_epoch(), 5);
    for (auto& [images, labels] : drain(loader, 0))
      for (int64_t i = 0; i < images.size(0); ++i) seen.insert(images[i][0][0][0].item<int64_t>());
  }
  EXPECT_EQ(seen.size(), 40u);
  EXPECT_EQ(std::set<int64_t>(seen.begin(), seen.end()).size(), 40u);  // disjoint shards cover all
}

TEST(BatchLoader, RanksSplitEachGlobalBatchSoAnyWorldSizeSeesTheSameSteps) {
  // 2 ranks x batch 3 take, at step i, the 6 samples (with their augmentation) that one
  // process with batch 6 takes: rank 0 the first 3, rank 1 the next 3.
  auto data = std::make_shared<CountingDataset>(40, 8);
  Pipeline augmenting({std::make_shared<RandomCrop>(8, 8, 2), std::make_shared<RandomHorizontalFlip>()}, {0.f}, {1.f});
  LoaderOptions one;
  one.batch_size = 6;
  one.seed = 5;
  BatchLoader single(data, augmenting, one);
  const auto whole = drain(single, 1);
  std::vector<std::vector<std::pair<at::Tensor, at::Tensor>>> ranks;
  for (int rank : {0, 1}) {
    LoaderOptions o = one;
    o.batch_size = 3;
    o.world_size = 2;
    o.rank = rank;
    BatchLoader loader(data, augmenting, o);
    EXPECT_EQ(loader.batches_per_epoch(), 6);  // 40 / 6, the tail dropped as one process drops it
    ranks.push_back(drain(loader, 1));
  }
  ASSERT_EQ(whole.size(), 6u);
  for (size_t step = 0; step < whole.size(); ++step) {
    EXPECT_TRUE(torch::equal(torch::cat({ranks[0][step].first, ranks[1][step].first}), whole[step].first)) << step;
    EXPECT_TRUE(torch::equal(torch::cat({ranks[0][step].second, ranks[1][step].second}), whole[step].second)) << step;
  }

  // Evaluation: every sample once, also when the split does not divide by the world size.
  LoaderOptions e;
  e.batch_size = 4;
  e.shuffle = false;
  e.drop_last = false;
  e.world_size = 2;
  std::multiset<int64_t> seen;
  auto odd = std::make_shared<CountingDataset>(25);
  for (int rank : {0, 1}) {
    e.rank = rank;
    BatchLoader loader(odd, Pipeline({}, {0.f}, {1.f / 255.f}), e);
    EXPECT_EQ(loader.batches_per_epoch(), rank == 0 ? 4 : 3);  // 13 and 12 samples
    for (auto& [images, labels] : drain(loader, 0))
      for (int64_t i = 0; i < images.size(0); ++i) seen.insert(images[i][0][0][0].item<int64_t>());
  }
  EXPECT_EQ(seen.size(), 25u);
  EXPECT_EQ(std::set<int64_t>(seen.begin(), seen.end()).size(), 25u);
}

TEST(BatchLoader, KeepsTheShortLastBatchForEvaluation) {
  auto data = std::make_shared<CountingDataset>(25);
  LoaderOptions o;
  o.batch_size = 10;
  o.shuffle = false;
  o.drop_last = false;
  BatchLoader loader(data, Pipeline({}, {0.f}, {1.f}), o);
  const auto batches = drain(loader, 0);
  ASSERT_EQ(batches.size(), 3u);
  EXPECT_EQ(batches[2].first.size(0), 5);
  EXPECT_EQ(batches[2].second[4].item<int64_t>(), 24 % 10);
}

TEST(BatchLoader, WorkerErrorsReachTheConsumer) {
  auto data = std::make_shared<CountingDataset>(50);
  data->fail_at = 17;
  LoaderOptions o;
  o.batch_size = 5;
  o.shuffle = false;
  BatchLoader loader(data, Pipeline({}, {0.f}, {1.f}), o);
  expect_error_containing([&] { drain(loader, 0); }, {"broken image"});
  o.batch_size = 100;
  expect_error_containing([&] { BatchLoader(data, Pipeline({}, {0.f}, {1.f}), o); }, {"batch size 100"});
}

}  // namespace
}  // namespace domino
