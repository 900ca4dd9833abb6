// Prediction on image files: the evaluation transform of a dataset, the model, and the
// top-k classes with their logits, per image. The quickest check that imported weights
// behave.
#pragma once

#include <c10/core/Device.h>

#include <string>
#include <utility>
#include <vector>

#include "domino/data/datasets.h"
#include "domino/models/models.h"

namespace domino {

struct Prediction {
  std::string image;
  std::vector<std::pair<int64_t, float>> top;  // (class, logit), best first
  std::string error;                           // set when the image could not be read
};

// The image files named: files as given, folders searched recursively (sorted; files
// without an image extension left out).
std::vector<std::string> list_images(const std::vector<std::string>& paths);

// Images of any size are brought to the dataset's input: its evaluation transform for
// ImageFolder datasets, else a resize to its shape (and grey for 1-channel datasets).
std::vector<Prediction> predict_images(Network& model, const DatasetSpec& spec, const std::vector<std::string>& images,
                                       int64_t k, c10::Device device, int64_t batch_size = 32);

}  // namespace domino
