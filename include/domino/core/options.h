// Options declared once. A struct's table lists each option (name, member, help, and whether
// it only says how to run); YAML keys, CLI flags, --help, config.json and cache checks all
// come from it, so a misspelt key fails the same way everywhere ("did you mean ...").
//   static const auto table = OptionTable<SearchOptions>{}
//       .add("kp", &SearchOptions::kp, "apply the penalty every kp iterations")
//       .add("policy", &SearchOptions::policy, kPolicies, "fixed-m or fixed-n");
#pragma once

#include <nlohmann/json.hpp>

#include <algorithm>
#include <functional>
#include <optional>
#include <string>
#include <type_traits>
#include <vector>

#include "domino/core/error.h"
#include "domino/core/names.h"

namespace domino {

enum class OptionType { Bool, Int, Count, Number, Text, IntList, TextList };

struct OptionKey {
  std::string name;
  std::string help;
  OptionType type;
  bool run_only;  // how to run, not what to compute: a resumed run takes it from its command line
  bool optional;  // may be unset (null): a default that depends on other options
};

// "an integer", "true or false", ...: what a value of `type` must be, for errors.
const char* describe(OptionType type);
// A command-line text as the JSON value of an option of `type` ("3" -> 3, "80,120" -> [80, 120]);
// fails naming `flag` when it does not parse.
nlohmann::json parse_option_text(OptionType type, const std::string& flag, const std::string& text);

template <typename C>
class OptionTable {
 public:
  // A member of C (or of a base of C) of type bool, integer, floating point, string,
  // vector<int64_t>, vector<string>, or std::optional of a scalar.
  template <typename T, typename Owner>
  OptionTable&& add(const char* name, T Owner::*member, const char* help, bool run_only = false) && {
    static_assert(std::is_base_of_v<Owner, C>);
    using V = typename unwrap<T>::type;
    Entry e{{name, help, type_of<V>(), run_only, unwrap<T>::optional}, {}, {}};
    e.get = [member](const C& c) -> nlohmann::json {
      if constexpr (unwrap<T>::optional) return (c.*member) ? nlohmann::json(*(c.*member)) : nlohmann::json(nullptr);
      else return c.*member;
    };
    const OptionType type = e.key.type;
    e.set = [member, type, key = std::string(name)](C& c, const nlohmann::json& j, const std::string& source) {
      if constexpr (unwrap<T>::optional)
        if (j.is_null()) return void(c.*member = std::nullopt);
      if (!has_type(type, j)) fail("{}: option '{}' must be {}, got {}", source, key, describe(type), text_of(j));
      c.*member = j.get<V>();
    };
    entries_.push_back(std::move(e));
    return std::move(*this);
  }
  // A member written as text through `to_text(value)` and `from_text(text, source)` (a target).
  template <typename T, typename Owner, typename ToText, typename FromText>
  OptionTable&& add(const char* name, T Owner::*member, ToText to_text, FromText from_text, const char* help,
                    bool run_only = false) && {
    static_assert(std::is_base_of_v<Owner, C>);
    Entry e{{name, help, OptionType::Text, run_only, false}, {}, {}};
    e.get = [member, to_text](const C& c) -> nlohmann::json { return std::string(to_text(c.*member)); };
    e.set = [member, from_text, key = std::string(name)](C& c, const nlohmann::json& j, const std::string& source) {
      if (!j.is_string()) fail("{}: option '{}' must be a string, got {}", source, key, text_of(j));
      c.*member = from_text(j.get<std::string>(), source);
    };
    entries_.push_back(std::move(e));
    return std::move(*this);
  }
  // An enum member named through its table.
  template <typename E, size_t K, typename Owner>
  OptionTable&& add(const char* name, E Owner::*member, const EnumNames<E, K>& names, const char* help,
                    bool run_only = false) && {
    const auto* table = &names;
    return std::move(*this).add(
        name, member, [table](E value) { return table->name(value); },
        [table, name](const std::string& text, const std::string& source) { return table->parse(text, name, source); },
        help, run_only);
  }

  std::vector<OptionKey> keys() const {
    std::vector<OptionKey> out;
    for (const auto& e : entries_) out.push_back(e.key);
    return out;
  }
  std::vector<std::string> names() const {
    std::vector<std::string> out;
    for (const auto& e : entries_) out.push_back(e.key.name);
    return out;
  }
  const OptionKey& key(const std::string& name) const { return entry(name).key; }
  // The command-line text of option `name` as its JSON value.
  nlohmann::json parse_text(const std::string& name, const std::string& text) const {
    return parse_option_text(key(name).type, "--" + name, text);
  }

  nlohmann::json to_json(const C& c) const {
    nlohmann::json out = nlohmann::json::object();
    for (const auto& e : entries_) out[e.key.name] = e.get(c);
    return out;
  }
  // `base` with `overrides` applied; a key not in `allowed` (default: every key) or a value
  // of the wrong type is an error naming the key and `source` (a file, "command line").
  C merge(C base, const nlohmann::json& overrides, const std::string& source,
          const std::vector<std::string>& allowed = {}) const {
    if (!overrides.is_object()) fail("{}: expected a mapping of option names to values", source);
    const auto valid = allowed.empty() ? names() : allowed;
    for (const auto& item : overrides.items())
      if (std::find(valid.begin(), valid.end(), item.key()) == valid.end()) fail_unknown("option", item.key(), valid, source);
    for (const auto& e : entries_)
      if (overrides.contains(e.key.name))
        e.set(base, overrides.at(e.key.name), source);
    return base;
  }
  // `to` with the options named in `keys` taken from `from`.
  C copy(const C& from, C to, const std::vector<std::string>& keys) const {
    for (const auto& name : keys) entry(name).set(to, entry(name).get(from), "options");
    return to;
  }

 private:
  struct Entry {
    OptionKey key;
    std::function<nlohmann::json(const C&)> get;
    std::function<void(C&, const nlohmann::json&, const std::string&)> set;
  };
  template <typename T>
  struct unwrap {
    using type = T;
    static constexpr bool optional = false;
  };
  template <typename T>
  struct unwrap<std::optional<T>> {
    using type = T;
    static constexpr bool optional = true;
  };
  template <typename V>
  static constexpr OptionType type_of() {
    if constexpr (std::is_same_v<V, bool>) return OptionType::Bool;
    else if constexpr (std::is_integral_v<V>) return std::is_signed_v<V> ? OptionType::Int : OptionType::Count;
    else if constexpr (std::is_floating_point_v<V>) return OptionType::Number;
    else if constexpr (std::is_same_v<V, std::string>) return OptionType::Text;
    else if constexpr (std::is_same_v<V, std::vector<std::string>>) return OptionType::TextList;
    else {
      static_assert(std::is_same_v<V, std::vector<int64_t>>, "an option's type must be one OptionType names");
      return OptionType::IntList;
    }
  }
  static bool has_type(OptionType type, const nlohmann::json& j) {
    auto all = [&](auto is) { return j.is_array() && std::all_of(j.begin(), j.end(), is); };
    switch (type) {
      case OptionType::Bool: return j.is_boolean();
      case OptionType::Int: return j.is_number_integer();
      case OptionType::Count: return j.is_number_integer() && j >= 0;
      case OptionType::Number: return j.is_number();
      case OptionType::Text: return j.is_string();
      case OptionType::IntList: return all([](const auto& e) { return e.is_number_integer(); });
      case OptionType::TextList: return all([](const auto& e) { return e.is_string(); });
    }
    return false;
  }
  const Entry& entry(const std::string& name) const {
    for (const auto& e : entries_)
      if (e.key.name == name) return e;
    fail_unknown("option", name, names());
  }

  // A value as one line, for errors: what a file held may be any bytes, not only UTF-8.
  static std::string text_of(const nlohmann::json& j) {
    return j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  }

  std::vector<Entry> entries_;
};

}  // namespace domino
