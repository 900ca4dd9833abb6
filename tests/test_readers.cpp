#include <gtest/gtest.h>

#include "domino/core/error.h"
#include "domino/data/readers.h"
#include "test_util.h"

namespace domino {
namespace {

using test::expect_error_containing;
using test::idx_bytes;
using test::TempDir;
using test::write_bytes;

TEST(IdxReader, ReadsPlainAndGzipIdentically) {
  TempDir dir;
  const std::vector<uint8_t> data = {1, 2, 3, 4, 5, 6};
  write_bytes(dir / "a.idx", idx_bytes({2, 3}, data));
  write_bytes(dir / "a.idx.gz", idx_bytes({2, 3}, data), /*gzip=*/true);
  for (const auto& name : {"a.idx", "a.idx.gz"}) {
    const auto array = read_idx(dir / name);
    EXPECT_EQ(array.dims, (std::vector<int64_t>{2, 3}));
    EXPECT_EQ(array.data, data);
  }
}

TEST(IdxReader, LoadsImagesAndLabels) {
  TempDir dir;
  write_bytes(dir / "img", idx_bytes({2, 2, 3}, {0, 1, 2, 3, 4, 5, 10, 11, 12, 13, 14, 15}));
  write_bytes(dir / "lab", idx_bytes({2}, {7, 3}));
  const auto ds = load_idx_dataset(dir / "img", dir / "lab", 10);
  ASSERT_EQ(ds->size(), 2);
  EXPECT_EQ(ds->shape(), (ImageShape{1, 2, 3}));
  EXPECT_EQ(ds->label(0), 7);
  EXPECT_EQ(ds->label(1), 3);
  EXPECT_EQ(ds->image(1).pixels, (std::vector<uint8_t>{10, 11, 12, 13, 14, 15}));
  EXPECT_EQ(ds->image(1).at(0, 1, 2), 15);
}

TEST(IdxReader, TruncatedDataNamesFileAndSizes) {
  TempDir dir;
  auto bytes = idx_bytes({2, 3}, {1, 2, 3, 4, 5, 6});
  bytes.pop_back();
  write_bytes(dir / "t.idx", bytes);
  expect_error_containing([&] { read_idx(dir / "t.idx"); }, {"t.idx", "truncated", "promises 6 bytes", "holds 5"});
}

TEST(IdxReader, TruncatedGzipIsReported) {
  TempDir dir;
  std::vector<uint8_t> big(5000);
  for (size_t i = 0; i < big.size(); ++i) big[i] = static_cast<uint8_t>(i * 7919 % 251);
  write_bytes(dir / "full.gz", idx_bytes({5000}, big), true);
  auto gz = test::fs::file_size(dir / "full.gz");
  std::ifstream in(dir / "full.gz", std::ios::binary);
  std::vector<uint8_t> bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  bytes.resize(gz / 2);
  write_bytes(dir / "cut.gz", bytes);
  expect_error_containing([&] { read_idx(dir / "cut.gz"); }, {"cut.gz", "truncated"});
}

TEST(IdxReader, BadMagicAndTypeAreReported) {
  TempDir dir;
  write_bytes(dir / "m", {1, 2, 8, 1, 0, 0, 0, 1, 5});
  expect_error_containing([&] { read_idx(dir / "m"); }, {"m", "magic"});
  write_bytes(dir / "f", {0, 0, 0x0d, 1, 0, 0, 0, 1, 5, 5, 5, 5});
  expect_error_containing([&] { read_idx(dir / "f"); }, {"element type 0x0d"});
  write_bytes(dir / "short", {0, 0});
  expect_error_containing([&] { read_idx(dir / "short"); }, {"short", "only 2 bytes"});
  expect_error_containing([&] { read_idx(dir / "absent"); }, {"cannot open", "absent"});
}

TEST(IdxReader, InconsistentLabelsAreReported) {
  TempDir dir;
  write_bytes(dir / "img", idx_bytes({2, 1, 1}, {0, 1}));
  write_bytes(dir / "lab3", idx_bytes({3}, {0, 1, 2}));
  expect_error_containing([&] { load_idx_dataset(dir / "img", dir / "lab3", 10); }, {"2 images", "3 labels"});
  write_bytes(dir / "lab", idx_bytes({2}, {0, 12}));
  expect_error_containing([&] { load_idx_dataset(dir / "img", dir / "lab", 10); }, {"label 12", "index 1", "0..9"});
}

std::vector<uint8_t> cifar_record(std::vector<uint8_t> labels, uint8_t fill) {
  labels.insert(labels.end(), 3072, fill);
  return labels;
}

TEST(CifarReader, Cifar10RecordsAcrossFiles) {
  TempDir dir;
  auto a = cifar_record({3}, 10);
  auto b = cifar_record({9}, 20);
  b[1 + 1024] = 99;  // first pixel of the green plane
  write_bytes(dir / "a.bin", a);
  write_bytes(dir / "b.bin", b);
  const auto ds = load_cifar({dir / "a.bin", dir / "b.bin"}, CifarKind::Cifar10);
  ASSERT_EQ(ds->size(), 2);
  EXPECT_EQ(ds->num_classes(), 10);
  EXPECT_EQ(ds->label(0), 3);
  EXPECT_EQ(ds->label(1), 9);
  EXPECT_EQ(ds->image(1).at(1, 0, 0), 99);  // planar: channel 1 starts after 32*32 bytes
  EXPECT_EQ(ds->image(1).at(0, 0, 0), 20);
}

TEST(CifarReader, Cifar100UsesFineLabels) {
  TempDir dir;
  auto rec = cifar_record({4, 87}, 1);  // coarse 4, fine 87
  write_bytes(dir / "train.bin", rec);
  const auto ds = load_cifar({dir / "train.bin"}, CifarKind::Cifar100);
  EXPECT_EQ(ds->num_classes(), 100);
  EXPECT_EQ(ds->label(0), 87);
}

TEST(CifarReader, TruncatedAndBadLabelsAreReported) {
  TempDir dir;
  auto rec = cifar_record({3}, 0);
  rec.pop_back();
  write_bytes(dir / "cut.bin", rec);
  expect_error_containing([&] { load_cifar({dir / "cut.bin"}, CifarKind::Cifar10); }, {"cut.bin", "truncated", "3073-byte"});
  write_bytes(dir / "bad.bin", cifar_record({11}, 0));
  expect_error_containing([&] { load_cifar({dir / "bad.bin"}, CifarKind::Cifar10); }, {"bad.bin", "label 11"});
}

}  // namespace
}  // namespace domino
