// Names from a closed set (options, keys, models, datasets, enum values): one way to refuse
// a wrong one, with the nearest valid name suggested, since most wrong names are typos.
#pragma once

#include <array>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace domino {

// The valid name nearest to `name` (edit distance, case ignored) when it is near enough
// to be a typo of it: at most a third of its letters, and at least one, differ.
std::optional<std::string> closest_name(const std::string& name, const std::vector<std::string>& valid);

// Throws domino::Error: "<where>: unknown <what> 'name' (did you mean 'x'? valid: a, b)",
// where `where` (a file, "command line") is left out when empty.
[[noreturn]] void fail_unknown(const std::string& what, const std::string& name, const std::vector<std::string>& valid,
                               const std::string& where = "");

// A closed set as an enum, with its names in one table: parsed and printed only through it.
//   inline constexpr EnumNames<Policy, 2> kPolicies{{{{Policy::FixedM, "fixed-m"}, {Policy::FixedN, "fixed-n"}}}};
template <typename E, size_t K>
struct EnumNames {
  std::array<std::pair<E, const char*>, K> entries;

  std::vector<std::string> names() const {
    std::vector<std::string> out;
    for (const auto& [value, name] : entries) out.emplace_back(name);
    return out;
  }
  // `what` ("policy") and `where` name a wrong name in the error.
  E parse(const std::string& name, const std::string& what, const std::string& where = "") const {
    for (const auto& [value, n] : entries)
      if (name == n) return value;
    fail_unknown(what, name, names(), where);
  }
  const char* name(E value) const {
    for (const auto& [v, n] : entries)
      if (v == value) return n;
    return "?";  // unreachable for a value of the enum
  }
};

}  // namespace domino
