// The named datasets the tools know: their shapes, statistics, default locations and
// augmentation recipe. `--dataset NAME` and `--data-dir DIR` resolve here.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "domino/dataset.h"

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
};

enum class Split { Train, Test };

const DatasetSpec& dataset_spec(const std::string& name);  // lists the valid names if unknown
std::vector<std::string> dataset_names();

// Loads a split from `data_dir` (the spec's default directory when empty).
std::shared_ptr<Dataset> load_dataset(const DatasetSpec& spec, Split split, const std::string& data_dir = "");

}  // namespace domino
