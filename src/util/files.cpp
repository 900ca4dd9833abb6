#include "util/files.h"

#include <torch/torch.h>

#include <filesystem>
#include <fstream>
#include <iterator>

#include "domino/error.h"

namespace fs = std::filesystem;

namespace domino {

void write_file_atomic(const std::string& path, const std::function<void(std::ostream&)>& body) {
  const fs::path target(path);
  if (target.has_parent_path()) fs::create_directories(target.parent_path());
  const std::string tmp = path + ".tmp";
  {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    body(out);
    out.flush();
    if (!out) fail("could not write {}", tmp);
  }
  fs::rename(tmp, target);
}

void write_json_file(const std::string& path, const nlohmann::json& value) {
  write_file_atomic(path, [&](std::ostream& out) { out << value.dump(2) << '\n'; });
}

c10::impl::GenericDict read_pickled_dict(const std::string& path, const std::string& what) {
  std::ifstream in(path, std::ios::binary);
  if (!in) fail("{} {} not found", what, path);
  std::vector<char> bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  c10::IValue value;
  try {
    value = torch::pickle_load(bytes);
  } catch (const c10::Error&) {
    fail("{} is not a readable {} (truncated, or not written by torch.save / domino)", path, what);
  }
  if (!value.isGenericDict()) fail("{} is not a {}: it holds no dict", path, what);
  return value.toGenericDict();
}

}  // namespace domino
