// The pixel size an image file declares in its header, read without decoding: the
// decoders allocate what the header says, so a 100-byte PNG declaring 20000 x 20000 pixels
// must be refused before it reaches them. (OpenCV's own limit is fixed when the library
// loads, at 2^30 pixels.)
#pragma once

#include <cstdint>
#include <optional>
#include <string_view>

namespace domino {

struct PixelSize {
  int64_t width = 0, height = 0;
};

// PNG, JPEG, BMP, PPM/PGM and WebP headers; nullopt for other formats (TIFF) or a header
// too damaged to read (the decoder then reports it).
std::optional<PixelSize> declared_image_size(std::string_view bytes);

}  // namespace domino
