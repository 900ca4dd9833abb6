#include "domino/core/options.h"

#include <stdexcept>

namespace domino {

const char* describe(OptionType type) {
  switch (type) {
    case OptionType::Bool: return "true or false";
    case OptionType::Int: return "an integer";
    case OptionType::Count: return "a non-negative integer";
    case OptionType::Number: return "a number";
    case OptionType::Text: return "a string";
    case OptionType::IntList: return "a list of integers";
    case OptionType::TextList: return "a list of strings";
  }
  return "?";
}

namespace {

// A number must be the whole text, not a prefix of it ("3x" is refused).
template <typename Parse>
auto whole(const std::string& text, Parse parse) {
  size_t used = 0;
  auto value = parse(text, &used);
  if (used != text.size()) throw std::invalid_argument(text);
  return value;
}

std::vector<std::string> split_commas(const std::string& text) {
  std::vector<std::string> out;
  if (text.empty()) return out;
  size_t start = 0;
  while (start <= text.size()) {
    const size_t comma = std::min(text.find(',', start), text.size());
    out.push_back(text.substr(start, comma - start));
    start = comma + 1;
  }
  return out;
}

}  // namespace

nlohmann::json parse_option_text(OptionType type, const std::string& flag, const std::string& text) {
  try {
    switch (type) {
      case OptionType::Bool:
        if (text == "true" || text == "1" || text == "yes" || text == "on") return true;
        if (text == "false" || text == "0" || text == "no" || text == "off") return false;
        throw std::invalid_argument(text);
      case OptionType::Count:
        if (!text.empty() && text[0] == '-') throw std::invalid_argument(text);
        return whole(text, [](const std::string& t, size_t* u) { return std::stoull(t, u); });
      case OptionType::Int: return whole(text, [](const std::string& t, size_t* u) { return std::stoll(t, u); });
      case OptionType::Number: return whole(text, [](const std::string& t, size_t* u) { return std::stod(t, u); });
      case OptionType::IntList: {
        nlohmann::json out = nlohmann::json::array();
        for (const auto& item : split_commas(text))
          out.push_back(whole(item, [](const std::string& t, size_t* u) { return std::stoll(t, u); }));
        return out;
      }
      case OptionType::TextList: return split_commas(text);
      case OptionType::Text: return text;
    }
  } catch (const std::logic_error&) {  // invalid_argument, out_of_range
    fail("{}: '{}' is not {}", flag, text,
         type == OptionType::IntList ? "a comma-separated list of integers" : describe(type));
  }
  return text;
}

}  // namespace domino
