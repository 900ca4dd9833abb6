// The pickle scan that runs before any pickle is built (io/pickle_scan.h).
#include <caffe2/serialize/inline_container.h>

#include <sstream>

#include "fuzz_seeds.h"
#include "fuzz_util.h"
#include "io/pickle_scan.h"

namespace domino::fuzz {

void write_seeds(const std::string& dir) {
  for (const auto& [name, zip] : seed_archives()) {
    std::istringstream in(zip);
    caffe2::serialize::PyTorchStreamReader archive(&in);
    auto [data, size] = archive.getRecord("data.pkl");
    write_seed(dir, name + ".pkl", std::string(static_cast<const char*>(data.get()), size));
  }
}

void fuzz_one(const uint8_t* data, size_t size) {
  check_pickle(std::string_view(reinterpret_cast<const char*>(data), size), "input");
}

}  // namespace domino::fuzz
