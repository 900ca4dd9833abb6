// The named datasets the tools know: their shapes, statistics, default locations and
// augmentation recipe. `--dataset NAME` and `--data-dir DIR` resolve here.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "domino/data/dataset.h"

namespace domino {

struct DatasetSpec {
  std::string name;
  ImageShape shape;
  int64_t num_classes = 0;
  std::vector<float> mean, std;  // per channel, on [0, 1] pixels
  std::string default_dir;
  std::string how_to_get;        // told to the user when the files are missing
  int64_t crop_padding = 0;      // training augmentation: random crop with this padding
  bool horizontal_flip = false;  // training augmentation: random horizontal flip
  // Images of any size (ImageFolder): training takes a random resized crop of `shape`, a
  // flip and `lighting` PCA noise; evaluation resizes the short side to `eval_resize` and
  // crops the centre. 0: the images already have `shape`.
  int64_t eval_resize = 0;
  float lighting = 0;
};

enum class Split { Train, Test };

const DatasetSpec& dataset_spec(const std::string& name);  // lists the valid names if unknown
std::vector<std::string> dataset_names();

// The number of classes of a dataset's training split (an ImageFolder tree counts its folders).
int64_t dataset_classes(const DatasetSpec& spec, const std::string& data_dir = "");

// Loads a split from `data_dir` (the spec's default directory when empty).
std::shared_ptr<Dataset> load_dataset(const DatasetSpec& spec, Split split, const std::string& data_dir = "");

}  // namespace domino
