#include <gtest/gtest.h>
#include <torch/torch.h>

#include "domino/data/datasets.h"
#include "domino/data/image_folder.h"
#include "domino/data/loader.h"
#include "domino/data/transforms.h"
#include "image_tree.h"
#include "test_util.h"

namespace domino {
namespace {

class ImageFolderTest : public ::testing::Test {
 protected:
  void SetUp() override { test::write_image_tree(dir_.path(), {"zebra", "ant", "Bee"}, 3, 2, true); }
  std::string train() const { return dir_ / "train"; }
  test::TempDir dir_;
};

TEST_F(ImageFolderTest, ClassesSortedByNameAsTorchvisionDoes) {
  ImageFolder data(train());
  EXPECT_EQ(data.classes(), (std::vector<std::string>{"Bee", "ant", "zebra"}));  // byte order: capitals first
  EXPECT_EQ(data.num_classes(), 3);
  EXPECT_EQ(data.size(), 3 * 3 + 1);  // the corrupt .jpg is an image by name, until decoded
  EXPECT_EQ(data.label(0), 0);
  EXPECT_EQ(data.label(data.size() - 1), 2);
  EXPECT_EQ(data.skipped().size(), 1u);
  EXPECT_NE(data.skipped()[0].find("notes.txt"), std::string::npos);
}

TEST_F(ImageFolderTest, DecodesToPlanarRgb) {
  ImageFolder data(train());
  const auto bee = data.image(1);  // "Bee" (class 0) was written third: blue; image 1 is a 48x52 PNG
  EXPECT_EQ(bee.shape, (ImageShape{3, 48, 52}));
  EXPECT_EQ(bee.at(0, 10, 10), 0);
  EXPECT_EQ(bee.at(1, 10, 10), 0);
  EXPECT_EQ(bee.at(2, 10, 10), 255);
  const auto zebra = data.image(data.size() - 1);  // written first: red (a JPEG: near enough)
  EXPECT_NEAR(zebra.at(0, 5, 5), 255, 3);
  EXPECT_NEAR(zebra.at(2, 5, 5), 0, 3);
}

TEST_F(ImageFolderTest, CorruptImageIsReportedAndReplacedWithinItsClass) {
  ImageFolder data(train());
  int64_t corrupt = 0;  // zebra's 0_corrupt.jpg, sorted after 0.jpg
  while (data.path(corrupt).find("0_corrupt.jpg") == std::string::npos) ++corrupt;
  ASSERT_LT(corrupt, data.size() - 1);
  const auto image = data.image(corrupt);  // the next zebra image stands in
  EXPECT_EQ(image.shape, data.image(corrupt + 1).shape);
  EXPECT_EQ(data.label(corrupt), 2);
  ASSERT_EQ(data.unreadable().size(), 1u);
  EXPECT_NE(data.unreadable()[0].find("0_corrupt.jpg"), std::string::npos);
  test::expect_error_containing([&] { decode_image(data.path(corrupt)); }, {"0_corrupt.jpg", "cannot decode"});
}

TEST_F(ImageFolderTest, ImageNetPipelinesGive224AndLoaderBatchesThem) {
  const auto& spec = dataset_spec("imagenet");
  auto data = load_dataset(spec, Split::Train, dir_.path().string());
  LoaderOptions o;
  o.batch_size = 4;
  o.workers = 2;
  BatchLoader loader(data, train_pipeline(spec), o);
  loader.start_epoch(0);
  int64_t batches = 0;
  while (auto batch = loader.next()) {
    EXPECT_EQ(batch->images.sizes(), (std::vector<int64_t>{4, 3, 224, 224}));
    ++batches;
  }
  EXPECT_EQ(batches, 10 / 4);
  EXPECT_EQ(dataset_classes(spec, dir_.path().string()), 3);
  test::expect_error_containing([&] { load_dataset(spec, Split::Test, (dir_ / "train")); }, {"val", "ImageFolder"});
}

Image half_black_half_white(int64_t height, int64_t width) {
  Image image{{3, height, width}, std::vector<uint8_t>(static_cast<size_t>(3 * height * width), 0)};
  for (int64_t c = 0; c < 3; ++c)
    for (int64_t y = 0; y < height; ++y)
      for (int64_t x = width / 2; x < width; ++x) image.pixels[static_cast<size_t>((c * height + y) * width + x)] = 255;
  return image;
}

TEST(ImageNetTransforms, EvalResizesShortSideThenCropsTheCentre) {
  std::mt19937_64 rng(0);
  // 256x512 needs no resize; the 224 crop starts at column 144, so the edge is at 256 - 144.
  const auto out = ResizeCenterCrop(256, 224).apply(half_black_half_white(256, 512), rng);
  EXPECT_EQ(out.shape, (ImageShape{3, 224, 224}));
  EXPECT_EQ(out.at(0, 100, 111), 0);
  EXPECT_EQ(out.at(0, 100, 112), 255);
  // 128x100 -> 327x256 (long side truncated, as torchvision), then crop.
  const auto small = ResizeCenterCrop(256, 224).apply(half_black_half_white(128, 100), rng);
  EXPECT_EQ(small.shape, (ImageShape{3, 224, 224}));
}

TEST(ImageNetTransforms, RandomResizedCropIsSeededAndCoversScaleRange) {
  const auto image = half_black_half_white(300, 400);
  RandomResizedCrop crop(224);
  std::mt19937_64 a(7), b(7);
  EXPECT_EQ(crop.apply(image, a).pixels, crop.apply(image, b).pixels);
  double mean_min = 1, mean_max = 0;  // a crop sees anything from all-black to all-white
  for (uint64_t s = 0; s < 200; ++s) {
    std::mt19937_64 rng(s);
    const auto out = crop.apply(image, rng);
    ASSERT_EQ(out.shape, (ImageShape{3, 224, 224}));
    double sum = 0;
    for (auto p : out.pixels) sum += p;
    const double mean = sum / (255.0 * static_cast<double>(out.pixels.size()));
    mean_min = std::min(mean_min, mean);
    mean_max = std::max(mean_max, mean);
  }
  EXPECT_LT(mean_min, 0.05);
  EXPECT_GT(mean_max, 0.95);
}

// PCA lighting adds eigvec · (alpha ⊙ eigval) per channel before normalisation.
TEST(ImageNetTransforms, LightingAddsThePcaOffset) {
  Image grey{{3, 2, 2}, std::vector<uint8_t>(12, 128)};
  Pipeline plain({}, {0, 0, 0}, {1, 1, 1}), lit({}, {0, 0, 0}, {1, 1, 1}, Lighting{0.1f});
  std::vector<float> a(12), b(12);
  std::mt19937_64 r1(3), r2(3), r3(3);
  plain.run(grey, a.data(), r1);
  lit.run(grey, b.data(), r2);
  std::normal_distribution<float> normal(0.0f, 0.1f);
  const float alpha[3] = {normal(r3), normal(r3), normal(r3)};
  const float eigval[3] = {0.2175f, 0.0188f, 0.0045f};
  const float eigvec[3][3] = {{-0.5675f, 0.7192f, 0.4009f}, {-0.5808f, -0.0045f, -0.8140f}, {-0.5836f, -0.6948f, 0.4203f}};
  for (int c = 0; c < 3; ++c) {
    float expected = 0;
    for (int j = 0; j < 3; ++j) expected += eigvec[c][j] * alpha[j] * eigval[j];
    EXPECT_NEAR(b[static_cast<size_t>(4 * c)] - a[static_cast<size_t>(4 * c)], expected, 1e-6) << c;
  }
  EXPECT_NE(a, b);
}

}  // namespace
}  // namespace domino
