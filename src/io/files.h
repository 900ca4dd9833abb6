// File helpers every writer and reader shares: atomic writes (a crash never leaves a
// half-written file under the real name) and reading a pickled dict with clear errors.
#pragma once

#include <ATen/core/Dict.h>
#include <ATen/core/ivalue.h>
#include <nlohmann/json.hpp>

#include <functional>
#include <ostream>
#include <string>
#include <string_view>

namespace domino {

// Writes through `body` to path.tmp, then renames it over `path`; creates parent folders.
void write_file_atomic(const std::string& path, const std::function<void(std::ostream&)>& body);
void write_json_file(const std::string& path, const nlohmann::json& value);  // atomic, indented

// JSON as text; bytes that are not UTF-8 (a file name, a YAML value) become U+FFFD
// instead of an exception from the JSON library.
std::string json_text(const nlohmann::json& value, int indent = -1);

// JSON from outside (a file, a string a checkpoint carries): a damaged or too deeply
// nested text is an error naming `source`, not an exception of the JSON library.
nlohmann::json parse_json(std::string_view text, const std::string& source);
// A whole text file; `what` ("scheme file") names it in the errors for a missing file or a directory.
std::string read_text_file(const std::string& path, const std::string& what);
nlohmann::json read_json_file(const std::string& path);

// A file written by torch::pickle_save (or Python's torch.save) holding a dict. `what`
// names the kind of file in errors ("checkpoint", "weight file").
c10::impl::GenericDict read_pickled_dict(const std::string& path, const std::string& what);

}  // namespace domino
