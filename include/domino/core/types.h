// Small value types that several parts share, so that none of them has to include another
// part for one struct.
#pragma once

#include <cstdint>

namespace domino {

// Channels, height and width of an image (a sample, or a model's input).
struct ImageShape {
  int64_t channels = 0, height = 0, width = 0;
  int64_t numel() const { return channels * height * width; }
  bool operator==(const ImageShape& o) const {
    return channels == o.channels && height == o.height && width == o.width;
  }
};

// What a zoo model is sized by besides its name.
struct ModelOptions {
  int64_t in_channels = 3;
  int64_t num_classes = 10;
};

}  // namespace domino
