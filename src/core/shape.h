#pragma once

#include <c10/util/ArrayRef.h>
#include <fmt/format.h>

#include <string>

namespace domino {

inline std::string shape_str(c10::IntArrayRef shape) { return fmt::format("[{}]", fmt::join(shape, ", ")); }

}  // namespace domino
