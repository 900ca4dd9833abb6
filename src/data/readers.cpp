#include "domino/data/readers.h"

#include <zlib.h>

#include <filesystem>
#include <fstream>
#include <iterator>

#include "domino/core/error.h"

namespace domino {
namespace {

std::vector<uint8_t> inflate_gzip(const std::string& path) {
  gzFile file = gzopen(path.c_str(), "rb");
  if (!file) fail("cannot open {}", path);
  std::vector<uint8_t> out;
  std::vector<uint8_t> chunk(1 << 20);
  while (true) {
    const int n = gzread(file, chunk.data(), static_cast<unsigned>(chunk.size()));
    if (n < 0) {
      int code = 0;
      std::string why = gzerror(file, &code);
      gzclose(file);
      fail("{} is a corrupt gzip file ({})", path, why);
    }
    if (n == 0) break;
    if (out.size() + static_cast<size_t>(n) > kMaxDataFileBytes) {
      gzclose(file);
      fail("{} inflates to more than {} bytes, the limit for a data file (a gzip bomb?)", path, kMaxDataFileBytes);
    }
    out.insert(out.end(), chunk.begin(), chunk.begin() + n);
  }
  // gzread returns 0 both at a clean end and at a truncated stream; only the former is ok.
  int code = 0;
  const char* why = gzerror(file, &code);
  const bool truncated = code != Z_OK && code != Z_STREAM_END;
  std::string message = why ? why : "";
  gzclose(file);
  if (truncated) fail("{} is a truncated or corrupt gzip file ({})", path, message);
  return out;
}

uint32_t read_be32(const std::vector<uint8_t>& b, size_t at) {
  return (uint32_t{b[at]} << 24) | (uint32_t{b[at + 1]} << 16) | (uint32_t{b[at + 2]} << 8) |
         uint32_t{b[at + 3]};
}

}  // namespace

std::vector<uint8_t> read_file_bytes(const std::string& path) {
  std::error_code error;
  if (std::filesystem::is_directory(path, error)) fail("{} is a directory, not a data file", path);
  const auto size = std::filesystem::file_size(path, error);
  if (!error && size > kMaxDataFileBytes) fail("{} has {} bytes, above the limit of {} for a data file", path, size, kMaxDataFileBytes);
  std::ifstream in(path, std::ios::binary);
  if (!in) fail("cannot open {}", path);
  char magic[2] = {0, 0};
  in.read(magic, 2);
  if (in.gcount() == 2 && static_cast<uint8_t>(magic[0]) == 0x1f && static_cast<uint8_t>(magic[1]) == 0x8b)
    return inflate_gzip(path);
  in.clear();
  in.seekg(0);
  return std::vector<uint8_t>((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

IdxArray read_idx(const std::string& path) {
  const auto bytes = read_file_bytes(path);
  if (bytes.size() < 4) fail("{}: not an IDX file (only {} bytes)", path, bytes.size());
  if (bytes[0] != 0 || bytes[1] != 0)
    fail("{}: not an IDX file (bad magic number; expected 0x0000 then type and rank)", path);
  if (bytes[2] != 0x08) fail("{}: IDX element type 0x{:02x} unsupported (expected 0x08, unsigned byte)", path, bytes[2]);
  const size_t rank = bytes[3];
  if (rank == 0 || rank > 4) fail("{}: IDX rank {} unsupported", path, rank);
  if (bytes.size() < 4 + 4 * rank) fail("{}: truncated IDX header", path);
  IdxArray array;
  size_t count = 1;
  for (size_t d = 0; d < rank; ++d) {
    array.dims.push_back(read_be32(bytes, 4 + 4 * d));
    // Checked: a product that wraps could match the file size and index past the data.
    const auto dim = static_cast<size_t>(array.dims.back());
    if (dim == 0 || count > kMaxDataFileBytes / dim)
      fail("{}: IDX dimensions {} are empty or larger than any file", path, fmt::join(array.dims, " x "));
    count *= static_cast<size_t>(array.dims.back());
  }
  const size_t offset = 4 + 4 * rank;
  if (bytes.size() - offset != count)
    fail("{}: truncated or corrupt IDX data: header promises {} bytes, file holds {}", path, count,
         bytes.size() - offset);
  array.data.assign(bytes.begin() + static_cast<std::ptrdiff_t>(offset), bytes.end());
  return array;
}

std::shared_ptr<InMemoryDataset> load_idx_dataset(const std::string& images_path,
                                                  const std::string& labels_path,
                                                  int64_t num_classes) {
  auto images = read_idx(images_path);
  const auto labels = read_idx(labels_path);
  if (images.dims.size() != 3) fail("{}: expected a rank-3 image array, got rank {}", images_path, images.dims.size());
  if (labels.dims.size() != 1) fail("{}: expected a rank-1 label array, got rank {}", labels_path, labels.dims.size());
  if (images.dims[0] != labels.dims[0])
    fail("{} holds {} images but {} holds {} labels", images_path, images.dims[0], labels_path, labels.dims[0]);
  std::vector<int64_t> label_values(labels.data.begin(), labels.data.end());
  for (size_t i = 0; i < label_values.size(); ++i)
    if (label_values[i] >= num_classes)
      fail("{}: label {} at index {} is outside 0..{}", labels_path, label_values[i], i, num_classes - 1);
  const ImageShape shape{1, images.dims[1], images.dims[2]};
  return std::make_shared<InMemoryDataset>(shape, std::move(images.data), std::move(label_values), num_classes);
}

std::shared_ptr<InMemoryDataset> load_cifar(const std::vector<std::string>& files, CifarKind kind) {
  const ImageShape shape{3, 32, 32};
  const size_t label_bytes = kind == CifarKind::Cifar10 ? 1 : 2;  // CIFAR-100: coarse, fine
  const size_t record = label_bytes + static_cast<size_t>(shape.numel());
  const int64_t num_classes = kind == CifarKind::Cifar10 ? 10 : 100;
  std::vector<uint8_t> pixels;
  std::vector<int64_t> labels;
  for (const auto& path : files) {
    const auto bytes = read_file_bytes(path);
    if (bytes.empty() || bytes.size() % record != 0)
      fail("{}: truncated or corrupt CIFAR file: {} bytes is not a whole number of {}-byte records", path,
           bytes.size(), record);
    for (size_t at = 0; at < bytes.size(); at += record) {
      const int64_t label = bytes[at + label_bytes - 1];
      if (label >= num_classes)
        fail("{}: record {} has label {} outside 0..{}", path, at / record, label, num_classes - 1);
      labels.push_back(label);
      pixels.insert(pixels.end(), bytes.begin() + static_cast<std::ptrdiff_t>(at + label_bytes),
                    bytes.begin() + static_cast<std::ptrdiff_t>(at + record));
    }
  }
  return std::make_shared<InMemoryDataset>(shape, std::move(pixels), std::move(labels), num_classes);
}

}  // namespace domino
