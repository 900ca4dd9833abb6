#include "domino/data/datasets.h"

#include <algorithm>
#include <filesystem>
#include <iterator>

#include "domino/core/error.h"
#include "domino/core/names.h"
#include "domino/data/image_folder.h"
#include "domino/data/readers.h"

namespace fs = std::filesystem;

namespace domino {
namespace {

const std::vector<DatasetSpec>& registry() {
  static const std::vector<DatasetSpec> specs = {
      {"fashion-mnist", {1, 28, 28}, 10, {0.2860f}, {0.3530f}, "/usr/share/datasets/fashion-mnist",
       "install Debian's package: apt-get install dataset-fashion-mnist", 2, true},
      {"mnist", {1, 28, 28}, 10, {0.1307f}, {0.3081f}, "/usr/share/datasets/mnist",
       "put the four MNIST IDX files (train-images-idx3-ubyte[.gz], ...) there or pass --data-dir", 2, false},
      {"cifar10", {3, 32, 32}, 10, {0.4914f, 0.4822f, 0.4465f}, {0.2470f, 0.2435f, 0.2616f}, "data/cifar-10-batches-bin",
       "put CIFAR-10's binary version (data_batch_1..5.bin, test_batch.bin) there or pass --data-dir", 4, true},
      {"cifar100", {3, 32, 32}, 100, {0.5071f, 0.4865f, 0.4409f}, {0.2673f, 0.2564f, 0.2762f}, "data/cifar-100-binary",
       "put CIFAR-100's binary version (train.bin, test.bin) there or pass --data-dir", 4, true},
      // Any ImageFolder tree in torchvision's layout; ImageNet itself has 1000 classes.
      {"imagenet", {3, 224, 224}, 1000, {0.485f, 0.456f, 0.406f}, {0.229f, 0.224f, 0.225f}, "data/imagenet",
       "an ImageFolder tree is expected: <dir>/train/<class>/<image> and <dir>/val/<class>/<image> (torchvision's "
       "layout; pass --data-dir)", 0, true, 256, 0.1f},
  };
  return specs;
}

// `name` or `name.gz` inside dir, whichever exists.
std::string find_idx(const fs::path& dir, const std::string& name, const DatasetSpec& spec) {
  for (const auto& candidate : {dir / (name + ".gz"), dir / name})
    if (fs::exists(candidate)) return candidate.string();
  fail("dataset {}: {} not found in {} ({})", spec.name, name + "[.gz]", dir.string(), spec.how_to_get);
}

std::string require(const fs::path& file, const DatasetSpec& spec) {
  if (!fs::exists(file)) fail("dataset {}: {} not found ({})", spec.name, file.string(), spec.how_to_get);
  return file.string();
}

}  // namespace

std::vector<std::string> dataset_names() {
  std::vector<std::string> names;
  for (const auto& s : registry()) names.push_back(s.name);
  return names;
}

const DatasetSpec& dataset_spec(const std::string& name) {
  for (const auto& s : registry())
    if (s.name == name) return s;
  fail_unknown("dataset", name, dataset_names());
}

namespace {

fs::path dataset_dir(const DatasetSpec& spec, const std::string& data_dir) {
  const fs::path dir = data_dir.empty() ? spec.default_dir : data_dir;
  if (!fs::is_directory(dir)) fail("dataset {}: directory {} not found ({})", spec.name, dir.string(), spec.how_to_get);
  return dir;
}

fs::path image_folder_split(const DatasetSpec& spec, const fs::path& dir, Split split) {
  const fs::path root = dir / (split == Split::Train ? "train" : "val");
  if (!fs::is_directory(root)) fail("dataset {}: {} not found ({})", spec.name, root.string(), spec.how_to_get);
  return root;
}

// Labels are class indices in sorted order, so val/ must hold exactly train/'s classes: a
// renamed or missing one would shift every later label (scored as another class).
void check_same_classes(const fs::path& train, const fs::path& val) {
  const auto a = image_folder_classes(train.string()), b = image_folder_classes(val.string());
  if (a == b) return;
  std::vector<std::string> only_train, only_val;
  std::set_difference(a.begin(), a.end(), b.begin(), b.end(), std::back_inserter(only_train));
  std::set_difference(b.begin(), b.end(), a.begin(), a.end(), std::back_inserter(only_val));
  auto some = [](const std::vector<std::string>& v) {
    return v.empty() ? std::string("none")
                     : fmt::format("{}{}", fmt::join(v.begin(), v.begin() + static_cast<std::ptrdiff_t>(std::min<size_t>(v.size(), 5)), ", "),
                                   v.size() > 5 ? fmt::format(" ({} in all)", v.size()) : "");
  };
  fail("{} and {} hold different classes (only in train: {}; only in val: {}); labels would not match", train.string(),
       val.string(), some(only_train), some(only_val));
}

}  // namespace

int64_t dataset_classes(const DatasetSpec& spec, const std::string& data_dir) {
  if (spec.eval_resize == 0) return spec.num_classes;
  return static_cast<int64_t>(image_folder_classes(image_folder_split(spec, dataset_dir(spec, data_dir), Split::Train)).size());
}

std::shared_ptr<Dataset> load_dataset(const DatasetSpec& spec, Split split, const std::string& data_dir) {
  const fs::path dir = dataset_dir(spec, data_dir);
  if (spec.eval_resize > 0) {
    if (split != Split::Train) check_same_classes(image_folder_split(spec, dir, Split::Train), image_folder_split(spec, dir, split));
    return std::make_shared<ImageFolder>(image_folder_split(spec, dir, split).string());
  }
  const bool train = split == Split::Train;
  if (spec.name == "fashion-mnist" || spec.name == "mnist") {
    const std::string prefix = train ? "train" : "t10k";
    return load_idx_dataset(find_idx(dir, prefix + "-images-idx3-ubyte", spec),
                            find_idx(dir, prefix + "-labels-idx1-ubyte", spec), spec.num_classes);
  }
  std::vector<std::string> files;
  if (spec.name == "cifar10") {
    if (train)
      for (int i = 1; i <= 5; ++i) files.push_back(require(dir / fmt::format("data_batch_{}.bin", i), spec));
    else
      files.push_back(require(dir / "test_batch.bin", spec));
    return load_cifar(files, CifarKind::Cifar10);
  }
  files.push_back(require(dir / (train ? "train.bin" : "test.bin"), spec));
  return load_cifar(files, CifarKind::Cifar100);
}

}  // namespace domino
