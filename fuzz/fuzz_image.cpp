// Image decoding for ImageFolder datasets and predict (OpenCV behind our size limit).
#include <opencv2/imgcodecs.hpp>

#include "domino/data/image_folder.h"
#include "fuzz_util.h"

namespace domino::fuzz {

void write_seeds(const std::string& dir) {
  cv::Mat image(6, 5, CV_8UC3, cv::Scalar(10, 120, 230));
  for (const char* ext : {".png", ".jpg", ".bmp", ".ppm"}) {
    std::vector<uchar> bytes;
    cv::imencode(ext, image, bytes);
    write_seed(dir, std::string("seed") + ext, std::string(bytes.begin(), bytes.end()));
  }
}

void fuzz_one(const uint8_t* data, size_t size) { decode_image(as_file(data, size, ".img")); }

}  // namespace domino::fuzz
