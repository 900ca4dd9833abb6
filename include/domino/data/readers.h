// Readers for the on-disk dataset formats: IDX (MNIST family, plain or gzip) and the
// CIFAR-10/100 binary versions. Every malformed file is reported with its path and
// what was wrong.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "domino/data/dataset.h"

namespace domino {

// A data file (raw or inflated) larger than this is refused: 4 GiB, 80x the largest file of
// the formats read here (Fashion-MNIST's training images, 47 MB).
constexpr size_t kMaxDataFileBytes = size_t{4} << 30;

// Whole file contents; gzip is detected by its magic bytes and inflated (up to kMaxDataFileBytes).
std::vector<uint8_t> read_file_bytes(const std::string& path);

struct IdxArray {
  std::vector<int64_t> dims;
  std::vector<uint8_t> data;
};

// Reads an unsigned-byte IDX array (type code 0x08).
IdxArray read_idx(const std::string& path);

std::shared_ptr<InMemoryDataset> load_idx_dataset(const std::string& images_path,
                                                  const std::string& labels_path,
                                                  int64_t num_classes);

enum class CifarKind { Cifar10, Cifar100 };

// Concatenates the records of the given CIFAR binary files (CIFAR-100: fine labels).
std::shared_ptr<InMemoryDataset> load_cifar(const std::vector<std::string>& files, CifarKind kind);

}  // namespace domino
