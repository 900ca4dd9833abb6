// A check run on every pickle read from outside before anything builds its values:
// LibTorch's unpickler and ours both build nested objects whose depth the file alone
// decides, and a crafted file nesting a million tuples overflows the stack when they are
// built or freed. The scan walks the opcodes without building values, follows the object
// graph (memo references and later mutation included) and refuses files beyond the limits.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace domino {

struct PickleLimits {
  int64_t max_depth = 100;             // real state dicts and checkpoints nest < 10 deep
  int64_t max_objects = 50'000'000;    // values built; bounds memory whatever the file size
};

// Fails ("<source> is not a readable <what>: <reason>") if `pickle` is malformed, references
// itself, nests deeper than limits.max_depth or builds more than limits.max_objects values.
void check_pickle(std::string_view pickle, const std::string& source, const std::string& what = "pickle",
                  const PickleLimits& limits = {});

}  // namespace domino
