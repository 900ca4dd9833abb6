// Per-sample image transforms. Training and evaluation pipelines are built separately:
// only the training one draws random numbers.
#pragma once

#include <memory>
#include <random>
#include <vector>

#include "domino/dataset.h"

namespace domino {

struct DatasetSpec;

class ImageOp {
 public:
  virtual ~ImageOp() = default;
  virtual Image apply(const Image& in, std::mt19937_64& rng) const = 0;
  virtual ImageShape output_shape(ImageShape in) const { return in; }
};

// Zero-pads by `padding` on every side, then crops a random height x width window.
class RandomCrop : public ImageOp {
 public:
  RandomCrop(int64_t height, int64_t width, int64_t padding) : height_(height), width_(width), padding_(padding) {}
  Image apply(const Image& in, std::mt19937_64& rng) const override;
  ImageShape output_shape(ImageShape in) const override { return {in.channels, height_, width_}; }

 private:
  int64_t height_, width_, padding_;
};

class RandomHorizontalFlip : public ImageOp {
 public:
  explicit RandomHorizontalFlip(double p = 0.5) : p_(p) {}
  Image apply(const Image& in, std::mt19937_64& rng) const override;

 private:
  double p_;
};

// Image ops, then conversion to float on [0, 1] and per-channel normalisation.
class Pipeline {
 public:
  Pipeline(std::vector<std::shared_ptr<const ImageOp>> ops, std::vector<float> mean, std::vector<float> std);
  ImageShape output_shape(ImageShape in) const;
  // Writes output_shape(in.shape).numel() floats to `out`.
  void run(const Image& in, float* out, std::mt19937_64& rng) const;

 private:
  std::vector<std::shared_ptr<const ImageOp>> ops_;
  std::vector<float> mean_, std_;
};

Pipeline train_pipeline(const DatasetSpec& spec, bool augment = true);
Pipeline eval_pipeline(const DatasetSpec& spec);

}  // namespace domino
