// Per-sample image transforms. Training and evaluation pipelines are built separately:
// only the training one draws random numbers.
#pragma once

#include <memory>
#include <random>
#include <vector>

#include "domino/data/dataset.h"

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

// torchvision's RandomResizedCrop: a random window of `scale` of the area and aspect ratio
// in `ratio` (10 tries, then a centred fallback), resized to size x size.
class RandomResizedCrop : public ImageOp {
 public:
  explicit RandomResizedCrop(int64_t size, double min_scale = 0.08, double max_scale = 1.0, double min_ratio = 3.0 / 4,
                             double max_ratio = 4.0 / 3)
      : size_(size), scale_{min_scale, max_scale}, ratio_{min_ratio, max_ratio} {}
  Image apply(const Image& in, std::mt19937_64& rng) const override;
  ImageShape output_shape(ImageShape in) const override { return {in.channels, size_, size_}; }

 private:
  int64_t size_;
  double scale_[2], ratio_[2];
};

// Resize so that the shorter side is `resize`, then crop the centre crop x crop: the
// ImageNet evaluation transform (256 -> 224).
class ResizeCenterCrop : public ImageOp {
 public:
  ResizeCenterCrop(int64_t resize, int64_t crop) : resize_(resize), crop_(crop) {}
  Image apply(const Image& in, std::mt19937_64& rng) const override;
  ImageShape output_shape(ImageShape in) const override { return {in.channels, crop_, crop_}; }

 private:
  int64_t resize_, crop_;
};

// The rectangle (top, left, height, width) of `in` resized to out_h x out_w, per plane
// (area averaging when shrinking, as antialiased resizes do; bilinear when growing).
Image resize_region(const Image& in, int64_t top, int64_t left, int64_t height, int64_t width, int64_t out_h, int64_t out_w);

// AlexNet-style PCA colour noise on [0, 1] RGB: adds eigvec · (alpha ⊙ eigval), with alpha ~
// N(0, std) per image; ImageNet's eigen-decomposition (as the authors' and pycls' code).
struct Lighting {
  float std = 0;  // 0: off
};

// Image ops, then conversion to float on [0, 1] and per-channel normalisation.
class Pipeline {
 public:
  Pipeline(std::vector<std::shared_ptr<const ImageOp>> ops, std::vector<float> mean, std::vector<float> std,
           Lighting lighting = {});
  ImageShape output_shape(ImageShape in) const;
  // Writes output_shape(in.shape).numel() floats to `out`.
  void run(const Image& in, float* out, std::mt19937_64& rng) const;

 private:
  std::vector<float> lighting_noise(int64_t channels, std::mt19937_64& rng) const;
  std::vector<std::shared_ptr<const ImageOp>> ops_;
  std::vector<float> mean_, std_;
  Lighting lighting_;
};

Pipeline train_pipeline(const DatasetSpec& spec, bool augment = true);
Pipeline eval_pipeline(const DatasetSpec& spec);

}  // namespace domino
