#include "domino/core/names.h"

#include <fmt/format.h>

#include <algorithm>
#include <cctype>

#include "domino/core/error.h"

namespace domino {
namespace {

size_t edit_distance(const std::string& a, const std::string& b) {
  std::vector<size_t> row(b.size() + 1);
  for (size_t j = 0; j <= b.size(); ++j) row[j] = j;
  for (size_t i = 1; i <= a.size(); ++i) {
    size_t diagonal = row[0];
    row[0] = i;
    for (size_t j = 1; j <= b.size(); ++j) {
      const bool same = std::tolower(static_cast<unsigned char>(a[i - 1])) == std::tolower(static_cast<unsigned char>(b[j - 1]));
      const size_t next = std::min({row[j] + 1, row[j - 1] + 1, diagonal + (same ? 0 : 1)});
      diagonal = row[j];
      row[j] = next;
    }
  }
  return row[b.size()];
}

}  // namespace

std::optional<std::string> closest_name(const std::string& name, const std::vector<std::string>& valid) {
  std::optional<std::string> best;
  size_t best_distance = std::max<size_t>(1, name.size() / 3) + 1;
  for (const auto& candidate : valid) {
    const size_t d = edit_distance(name, candidate);
    if (d < best_distance) best_distance = d, best = candidate;
  }
  return best;
}

void fail_unknown(const std::string& what, const std::string& name, const std::vector<std::string>& valid,
                  const std::string& where) {
  const auto near = closest_name(name, valid);
  fail("{}unknown {} '{}' ({}valid: {})", where.empty() ? "" : where + ": ", what, name,
       near ? fmt::format("did you mean '{}'? ", *near) : "", fmt::join(valid, ", "));
}

}  // namespace domino
