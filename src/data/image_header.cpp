#include "data/image_header.h"

#include <cctype>
#include <cstring>

namespace domino {
namespace {

uint32_t big_endian(std::string_view b, size_t at, int n) {
  uint32_t v = 0;
  for (int i = 0; i < n; ++i) v = (v << 8) | static_cast<uint8_t>(b[at + static_cast<size_t>(i)]);
  return v;
}

uint32_t little_endian(std::string_view b, size_t at, int n) {
  uint32_t v = 0;
  for (int i = n - 1; i >= 0; --i) v = (v << 8) | static_cast<uint8_t>(b[at + static_cast<size_t>(i)]);
  return v;
}

// JPEG: walk the marker segments to the first start-of-frame.
std::optional<PixelSize> jpeg_size(std::string_view b) {
  size_t at = 2;
  while (at + 9 < b.size()) {
    // Bytes between segments are skipped up to the next 0xff, as libjpeg does ("extraneous
    // bytes before marker"): stopping there would let OpenCV decode a frame never checked.
    if (static_cast<uint8_t>(b[at]) != 0xff) {
      ++at;
      continue;
    }
    const uint8_t marker = static_cast<uint8_t>(b[at + 1]);
    if (marker == 0xff || marker == 0x00) {  // a fill byte; 0xff00 is no marker
      at += marker == 0xff ? 1 : 2;
      continue;
    }
    const bool frame = marker >= 0xc0 && marker <= 0xcf && marker != 0xc4 && marker != 0xc8 && marker != 0xcc;
    if (frame) return PixelSize{big_endian(b, at + 7, 2), big_endian(b, at + 5, 2)};
    if (marker == 0xd8 || (marker >= 0xd0 && marker <= 0xd7)) {  // markers without a length
      at += 2;
      continue;
    }
    at += 2 + big_endian(b, at + 2, 2);
  }
  return std::nullopt;
}

// PPM/PGM (P1..P6): magic, then width and height as text, comments allowed.
std::optional<PixelSize> netpbm_size(std::string_view b) {
  size_t at = 2;
  int64_t values[2];
  for (int64_t& v : values) {
    while (at < b.size() && (std::isspace(static_cast<unsigned char>(b[at])) || b[at] == '#')) {
      if (b[at] == '#')
        while (at < b.size() && b[at] != '\n') ++at;
      else
        ++at;
    }
    if (at >= b.size() || !std::isdigit(static_cast<unsigned char>(b[at]))) return std::nullopt;
    v = 0;
    while (at < b.size() && std::isdigit(static_cast<unsigned char>(b[at])) && v < (int64_t{1} << 40)) v = v * 10 + (b[at++] - '0');
  }
  return PixelSize{values[0], values[1]};
}

std::optional<PixelSize> webp_size(std::string_view b) {
  if (b.size() < 30) return std::nullopt;
  const auto chunk = b.substr(12, 4);
  if (chunk == "VP8X") return PixelSize{1 + int64_t{little_endian(b, 24, 3)}, 1 + int64_t{little_endian(b, 27, 3)}};
  if (chunk == "VP8L") {
    const uint32_t bits = little_endian(b, 21, 4);
    return PixelSize{1 + int64_t{bits & 0x3fff}, 1 + int64_t{(bits >> 14) & 0x3fff}};
  }
  if (chunk == "VP8 ") return PixelSize{little_endian(b, 26, 2) & 0x3fff, little_endian(b, 28, 2) & 0x3fff};
  return std::nullopt;
}

}  // namespace

std::optional<std::string_view> image_format(std::string_view b) {
  // OpenCV picks its decoder by its own signature tests, and hands a file with "DICM" at
  // byte 128 to its DICOM reader (GDCM), which aborts the process on damaged input: such a
  // file never reaches OpenCV, whatever its first bytes claim (a fuzz finding).
  if (b.size() >= 132 && b.substr(128, 4) == "DICM") return std::nullopt;
  if (b.substr(0, 8) == std::string_view("\x89PNG\r\n\x1a\n", 8)) return "PNG";
  if (b.substr(0, 3) == std::string_view("\xff\xd8\xff", 3)) return "JPEG";
  if (b.substr(0, 2) == "BM") return "BMP";
  // Netpbm: the magic is followed by whitespace (OpenCV's own test; "P6;" is not a PPM).
  if (b.size() >= 3 && b[0] == 'P' && b[1] >= '1' && b[1] <= '6' && std::isspace(static_cast<unsigned char>(b[2])))
    return "PPM/PGM";
  if (b.substr(0, 4) == std::string_view("II*\0", 4) || b.substr(0, 4) == std::string_view("MM\0*", 4)) return "TIFF";
  if (b.size() >= 12 && b.substr(0, 4) == "RIFF" && b.substr(8, 4) == "WEBP") return "WebP";
  return std::nullopt;
}

std::optional<PixelSize> declared_image_size(std::string_view b) {
  if (b.size() >= 24 && b.substr(0, 8) == std::string_view("\x89PNG\r\n\x1a\n", 8) && b.substr(12, 4) == "IHDR")
    return PixelSize{big_endian(b, 16, 4), big_endian(b, 20, 4)};
  if (b.size() >= 4 && static_cast<uint8_t>(b[0]) == 0xff && static_cast<uint8_t>(b[1]) == 0xd8) return jpeg_size(b);
  if (b.size() >= 26 && b.substr(0, 2) == "BM") {
    const int64_t height = static_cast<int32_t>(little_endian(b, 22, 4));  // negative: rows top-down
    return PixelSize{static_cast<int32_t>(little_endian(b, 18, 4)), height < 0 ? -height : height};
  }
  if (b.size() >= 3 && b[0] == 'P' && b[1] >= '1' && b[1] <= '6') return netpbm_size(b);
  if (b.size() >= 16 && b.substr(0, 4) == "RIFF" && b.substr(8, 4) == "WEBP") return webp_size(b);
  return std::nullopt;
}

}  // namespace domino
