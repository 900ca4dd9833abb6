// What an image file's first bytes say, read before any decoder sees the file: its format
// (OpenCV also decodes DICOM, JPEG 2000, OpenEXR, ... and its DICOM reader aborts the process
// on a crafted file, as fuzzing found; only the formats of torchvision's IMG_EXTENSIONS are
// let through), and the pixel size it declares (decoders allocate what the header says, so a
// 100-byte PNG declaring 20000 x 20000 pixels must be refused before it reaches them;
// OpenCV's own limit is fixed when the library loads, at 2^30 pixels).
#pragma once

#include <cstdint>
#include <optional>
#include <string_view>

namespace domino {

struct PixelSize {
  int64_t width = 0, height = 0;
};

// "JPEG", "PNG", "BMP", "PPM/PGM", "TIFF" or "WebP" from the magic bytes; nullopt for any other.
std::optional<std::string_view> image_format(std::string_view bytes);

// PNG, JPEG, BMP, PPM/PGM and WebP headers; nullopt for other formats (TIFF) or a header
// too damaged to read (the decoder then reports it).
std::optional<PixelSize> declared_image_size(std::string_view bytes);

}  // namespace domino
