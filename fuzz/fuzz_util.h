// The frame every harness shares: libFuzzer calls fuzz_one(bytes) for each input;
// DOMINO_FUZZ_SEEDS=<dir> makes a harness write its seed corpus (valid files made by our
// own writers) there and exit, so no binary seeds live in the repository.
//
// A harness passes if the parser returns or throws domino::Error or c10::Error (both end
// in a one-line error in the CLI). Any other exception, a crash, a sanitizer report, a
// leak or a timeout is a finding.
#pragma once

#include <c10/util/Exception.h>
#include <torch/torch.h>
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <filesystem>
#include <fstream>
#include <string>

#include "domino/core/error.h"

namespace domino::fuzz {

void write_seeds(const std::string& dir);          // defined by each harness
void fuzz_one(const uint8_t* data, size_t size);  // defined by each harness

inline void write_seed(const std::string& dir, const std::string& name, const std::string& bytes) {
  std::ofstream(std::filesystem::path(dir) / name, std::ios::binary) << bytes;
}

inline std::string read_all(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

// The input as a file (our readers take paths), in memory-backed /dev/shm where there is one.
inline std::string as_file(const uint8_t* data, size_t size, const char* extension) {
  static const std::string base = (std::filesystem::is_directory("/dev/shm") ? std::string("/dev/shm") : "/tmp") +
                                  "/domino-fuzz-" + std::to_string(::getpid());
  const std::string path = base + extension;
  std::ofstream(path, std::ios::binary | std::ios::trunc).write(reinterpret_cast<const char*>(data), static_cast<std::streamsize>(size));
  return path;
}

}  // namespace domino::fuzz

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  torch::set_num_threads(1);
  if (const char* dir = std::getenv("DOMINO_FUZZ_SEEDS")) {
    std::filesystem::create_directories(dir);
    domino::fuzz::write_seeds(dir);
    std::exit(0);
  }
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  try {
    domino::fuzz::fuzz_one(data, size);
  } catch (const domino::Error&) {
  } catch (const c10::Error&) {
  } catch (const std::exception& e) {
    std::fprintf(stderr, "finding: an exception other than domino::Error escaped: %s\n", e.what());
    std::abort();
  }
  return 0;
}
