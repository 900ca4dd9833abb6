#include "domino/nm/scheme.h"

#include <fnmatch.h>

#include <cctype>

#include "domino/core/error.h"
#include "io/files.h"

namespace domino {
namespace {

constexpr const char* kFormat = "dominosearch-scheme-1";

template <typename F>
double sum_layers(const std::vector<LayerScheme>& layers, F f) {
  double total = 0;
  for (const auto& l : layers) total += f(l);
  return total;
}

// nlohmann converts 4.5 to 4 and 1e300 to garbage: sizes must be whole numbers in the file.
int64_t whole(const nlohmann::json& j, const std::string& source, const std::string& what) {
  if (!j.is_number_integer() || (j.is_number_unsigned() && j.get<uint64_t>() > uint64_t{1} << 62))
    fail("{}: {} must be a whole number, got {}", source, what, json_text(j));
  return j.get<int64_t>();
}

std::vector<int64_t> positive_dims(const nlohmann::json& j, const std::string& source, const std::string& what) {
  if (!j.is_array() || j.empty() || j.size() > 8) fail("{}: {} must be a list of 1 to 8 sizes, got {}", source, what, json_text(j));
  std::vector<int64_t> out;
  for (const auto& d : j) {
    out.push_back(whole(d, source, what));
    if (out.back() < 1 || out.back() > (int64_t{1} << 31)) fail("{}: {} has an impossible size {}", source, what, out.back());
  }
  return out;
}

}  // namespace

Target parse_target(const std::string& text) {
  const auto colon = text.find(':');
  const std::string kind = text.substr(0, colon);
  if (colon == std::string::npos || (kind != "params" && kind != "flops" && kind != "latency"))
    fail("target '{}' must be params:S, flops:S or latency:S (e.g. params:0.875)", text);
  Target t;
  t.kind = kTargetKinds.parse(kind, "target kind");
  try {
    size_t used = 0;
    const std::string number = text.substr(colon + 1);
    t.value = std::stod(number, &used);
    if (used != number.size()) throw std::invalid_argument(number);
  } catch (const std::logic_error&) {
    fail("target '{}': '{}' is not a number", text, text.substr(colon + 1));
  }
  if (!(t.value > 0 && t.value < 1)) fail("target '{}': the sparsity must be between 0 and 1", text);
  return t;
}

std::string to_string(const Target& t) { return fmt::format("{}:{}", to_string(t.kind), t.value); }

std::string to_string(TargetKind kind) { return kTargetKinds.name(kind); }

std::string describe(TargetKind kind) {
  switch (kind) {
    case TargetKind::Flops: return "FLOPs reduction";
    case TargetKind::Latency: return "latency reduction";
    case TargetKind::Params: break;
  }
  return "param sparsity";
}

double LatencyCosts::at(const std::string& layer, int64_t N) const {
  const auto it = ms.find(layer);
  if (it == ms.end()) fail("the latency table {} has no layer '{}'", table, layer);
  const auto n = it->second.find(N);
  if (n == it->second.end()) fail("the latency table {} has no time for {} at N = {}", table, layer, N);
  return n->second;
}

double Scheme::dense_latency_ms() const {
  if (!latency) fail("a latency needs a latency table (domino latency-table; --latency-table FILE)");
  return sum_layers(layers, [&](const auto& l) { return latency->at(l.name, l.M); });
}

double Scheme::sparse_latency_ms() const {
  if (!latency) fail("a latency needs a latency table (domino latency-table; --latency-table FILE)");
  return sum_layers(layers, [&](const auto& l) { return latency->at(l.name, std::min(l.N, l.M)); });
}

double Scheme::achieved(TargetKind kind) const {
  switch (kind) {
    case TargetKind::Flops: return flops_reduction();
    case TargetKind::Latency: return latency_reduction();
    case TargetKind::Params: break;
  }
  return param_sparsity();
}

std::string to_string(Policy policy) { return kPolicies.name(policy); }

double Scheme::dense_params() const { return sum_layers(layers, [](const auto& l) { return static_cast<double>(l.dense_params); }); }
double Scheme::sparse_params() const { return sum_layers(layers, [](const auto& l) { return l.sparse_params(); }); }
double Scheme::dense_flops() const { return sum_layers(layers, [](const auto& l) { return static_cast<double>(l.dense_flops); }); }
double Scheme::sparse_flops() const { return sum_layers(layers, [](const auto& l) { return l.sparse_flops(); }); }

Scheme dense_scheme(const LayerTable& table, int64_t M, Layout layout, const std::vector<std::string>& exclude) {
  if (M < 2) fail("M must be at least 2, got {}", M);
  Scheme s;
  s.input = table.input;
  s.M = M;
  s.layout = layout;
  for (const auto& info : table.layers) {
    LayerScheme l;
    l.name = info.name;
    l.kind = info.kind;
    l.shape = info.weight_shape;
    l.N = l.M = M;
    l.dense_params = info.params;
    l.dense_flops = info.flops;
    for (const auto& pattern : exclude)
      if (fnmatch(pattern.c_str(), l.name.c_str(), 0) == 0) {
        l.searchable = false;
        l.note = fmt::format("kept dense: excluded by '{}'", pattern);
      }
    if (l.searchable && !groupable(l.shape, M)) {
      l.searchable = false;
      l.note = fmt::format("kept dense: {} weights are not a multiple of M={}", l.dense_params, M);
    } else if (l.searchable && groups_cross_rows(l.shape, M)) {
      l.note = fmt::format("groups cross rows: row length {} is not a multiple of M={}", l.dense_params / l.shape[0], M);
    }
    s.layers.push_back(std::move(l));
  }
  return s;
}

nlohmann::json to_json(const std::vector<Decision>& decisions) {
  nlohmann::json out = nlohmann::json::array();
  for (const auto& d : decisions)
    out.push_back({{"iteration", d.iteration}, {"layer", d.layer}, {"N", d.N},
                   {"param_sparsity", d.param_sparsity}, {"flops_reduction", d.flops_reduction}});
  return out;
}

std::vector<Decision> decisions_from_json(const nlohmann::json& json) {
  std::vector<Decision> out;
  for (const auto& d : json)
    out.push_back({d.at("iteration").get<int64_t>(), d.at("layer").get<std::string>(), d.at("N").get<int64_t>(),
                   d.at("param_sparsity").get<double>(), d.at("flops_reduction").get<double>()});
  return out;
}

namespace {

// The table a scheme's latency came from, its totals and each layer's times at every N.
nlohmann::json latency_json(const Scheme& s) {
  nlohmann::json layers = nlohmann::json::object();
  for (const auto& [name, by_n] : s.latency->ms) {
    nlohmann::json ms = nlohmann::json::object();
    for (const auto& [n, v] : by_n) ms[std::to_string(n)] = v;
    layers[name] = ms;
  }
  return {{"table", s.latency->table}, {"dense_ms", s.dense_latency_ms()}, {"sparse_ms", s.sparse_latency_ms()},
          {"reduction", s.latency_reduction()}, {"ms", layers}};
}

std::shared_ptr<const LatencyCosts> latency_from_json(const nlohmann::json& j, const std::string& source) {
  auto costs = std::make_shared<LatencyCosts>();
  costs->table = j.at("table").get<std::string>();
  for (const auto& [name, by_n] : j.at("ms").items())
    for (const auto& [n, v] : by_n.items()) {
      size_t used = 0;
      long long N = 0;
      try {
        N = std::stoll(n, &used);
      } catch (const std::logic_error&) {
        used = 0;
      }
      if (used != n.size() || N < 1) fail("{}: latency of layer {} at N = '{}' (not a whole number)", source, name, n);
      costs->ms[name][N] = v.get<double>();
    }
  return costs;
}

}  // namespace

nlohmann::json to_json(const Scheme& s) {
  nlohmann::json layers = nlohmann::json::array();
  for (const auto& l : s.layers) {
    nlohmann::json j = {{"name", l.name},           {"kind", kLayerKinds.name(l.kind)},
                        {"shape", l.shape},         {"N", l.N},
                        {"M", l.M},                 {"dense_params", l.dense_params},
                        {"sparse_params", l.sparse_params()}, {"dense_flops", l.dense_flops},
                        {"sparse_flops", l.sparse_flops()},   {"searchable", l.searchable}};
    if (!l.note.empty()) j["note"] = l.note;
    layers.push_back(j);
  }
  return {{"format", kFormat},
          {"model", s.model},
          {"dataset", s.dataset},
          {"input", {s.input.channels, s.input.height, s.input.width}},
          {"source", s.source},
          {"M", s.M},
          {"layout", to_string(s.layout)},
          {"policy", to_string(s.policy)},
          {"target", s.target ? nlohmann::json{{"kind", to_string(s.target->kind)}, {"value", s.target->value}} : nlohmann::json(nullptr)},
          {"param_sparsity", s.param_sparsity()},
          {"flops_reduction", s.flops_reduction()},
          {"totals", {{"dense_params", s.dense_params()}, {"sparse_params", s.sparse_params()},
                      {"dense_flops", s.dense_flops()}, {"sparse_flops", s.sparse_flops()}}},
          {"layers", layers},
          {"options", s.options},
          {"run", s.run},
          {"decisions", to_json(s.decisions)},
          {"latency", s.latency ? latency_json(s) : nlohmann::json(nullptr)}};
}

Scheme scheme_from_json(const nlohmann::json& j, const std::string& source) {
  try {
    if (j.value("format", "") != kFormat) fail("{} is not a scheme file of format {}", source, kFormat);
    Scheme s;
    s.model = j.at("model").get<std::string>();
    s.dataset = j.at("dataset").get<std::string>();
    s.source = j.at("source").get<std::string>();
    const auto input = positive_dims(j.at("input"), source, "'input'");
    if (input.size() != 3) fail("{}: 'input' must be [C, H, W]", source);
    s.input = {input[0], input[1], input[2]};
    s.M = whole(j.at("M"), source, "'M'");
    s.layout = parse_layout(j.at("layout").get<std::string>());
    s.policy = kPolicies.parse(j.at("policy").get<std::string>(), "policy", source);
    if (!j.at("target").is_null())
      s.target = Target{kTargetKinds.parse(j["target"].at("kind").get<std::string>(), "target kind", source),
                        j["target"].at("value").get<double>()};
    for (const auto& lj : j.at("layers")) {
      LayerScheme l;
      l.name = lj.at("name").get<std::string>();
      l.kind = kLayerKinds.parse(lj.at("kind").get<std::string>(), "layer kind", source);
      const std::string what = "layer " + l.name + "'s ";
      l.shape = positive_dims(lj.at("shape"), source, what + "shape");
      l.N = whole(lj.at("N"), source, what + "N");
      l.M = whole(lj.at("M"), source, what + "M");
      l.dense_params = whole(lj.at("dense_params"), source, what + "dense_params");
      l.dense_flops = whole(lj.at("dense_flops"), source, what + "dense_flops");
      if (l.M < 1 || l.M > 256) fail("{}: layer {} has M={} (1..256 supported)", source, l.name, l.M);
      l.searchable = lj.value("searchable", true);
      l.note = lj.value("note", "");
      if (l.N < 1 || l.N > l.M) fail("{}: layer {} has N={} outside 1..M={}", source, l.name, l.N, l.M);
      if (l.N < l.M && !groupable(l.shape, l.M)) fail("{}: layer {} has {} weights, not a multiple of M={}", source, l.name, l.dense_params, l.M);
      s.layers.push_back(std::move(l));
    }
    s.options = j.value("options", nlohmann::json::object());
    s.run = j.value("run", nlohmann::json::object());
    s.decisions = decisions_from_json(j.value("decisions", nlohmann::json::array()));
    if (j.contains("latency") && !j.at("latency").is_null()) s.latency = latency_from_json(j.at("latency"), source);
    return s;
  } catch (const nlohmann::json::exception& e) {
    fail("{} is a malformed scheme file: {}", source, e.what());
  }
}

void save_scheme(const Scheme& scheme, const std::string& path) { write_json_file(path, to_json(scheme)); }

Scheme load_scheme(const std::string& path, const LayerTable* table) {
  const std::string text = read_text_file(path, "scheme file");
  auto json = nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (!json.is_discarded()) return scheme_from_json(json, path);
  if (text.find('\'') != std::string::npos) {
    if (!table) fail("{} is in the authors' text format: it needs --model and --dataset to map its layers", path);
    return parse_authors_scheme(text, *table, path);
  }
  fail("{} is a malformed scheme file (neither JSON nor the authors' dict format)", path);
}

namespace {

// A tiny reader for the authors' dict literal: {'name': [N, M], ...}.
class AuthorsParser {
 public:
  AuthorsParser(const std::string& text, const std::string& source) : t_(text), source_(source) {}

  std::vector<std::pair<std::string, std::pair<int64_t, int64_t>>> parse() {
    std::vector<std::pair<std::string, std::pair<int64_t, int64_t>>> out;
    expect('{');
    while (peek() != '}') {
      const std::string key = quoted();
      expect(':');
      expect('[');
      const int64_t n = integer();
      expect(',');
      const int64_t m = integer();
      expect(']');
      out.push_back({key, {n, m}});
      if (peek() == ',') ++i_;
    }
    expect('}');
    return out;
  }

 private:
  char peek() {
    while (i_ < t_.size() && std::isspace(static_cast<unsigned char>(t_[i_]))) ++i_;
    if (i_ >= t_.size()) fail("{}: malformed scheme: unexpected end", source_);
    return t_[i_];
  }
  void expect(char c) {
    if (peek() != c) fail("{}: malformed scheme: expected '{}' at offset {}, found '{}'", source_, c, i_, t_[i_]);
    ++i_;
  }
  std::string quoted() {
    const char q = peek();
    if (q != '\'' && q != '"') fail("{}: malformed scheme: expected a quoted layer name at offset {}", source_, i_);
    const size_t end = t_.find(q, ++i_);
    if (end == std::string::npos) fail("{}: malformed scheme: unterminated name", source_);
    std::string s = t_.substr(i_, end - i_);
    i_ = end + 1;
    return s;
  }
  int64_t integer() {
    peek();
    size_t used = 0;
    int64_t v = 0;
    try {
      v = std::stoll(t_.substr(i_, 24), &used);
    } catch (const std::logic_error&) {
      fail("{}: malformed scheme: expected an integer at offset {}", source_, i_);
    }
    i_ += used;
    return v;
  }

  const std::string& t_;
  std::string source_;
  size_t i_ = 0;
};

// "SparseConv0_3-64-(7, 7)" or "Linear0_2048-1000": the shape facts the name states.
void check_authors_name(const std::string& name, const LayerInfo& layer, const std::string& source) {
  int64_t idx, in, out, kh, kw;
  const auto& s = layer.weight_shape;
  if (std::sscanf(name.c_str(), "SparseConv%ld_%ld-%ld-(%ld, %ld)", &idx, &in, &out, &kh, &kw) == 5) {
    if (layer.kind != LayerKind::Conv || s[0] != out || s[2] != kh || s[3] != kw || (s[1] != in && in % s[1] != 0))
      fail("{}: '{}' does not match layer {} of shape [{}]", source, name, layer.name, fmt::join(s, ", "));
    return;
  }
  if (std::sscanf(name.c_str(), "Linear%ld_%ld-%ld", &idx, &in, &out) == 3) {
    if (layer.kind != LayerKind::Linear || s[0] != out || s[1] != in)
      fail("{}: '{}' does not match layer {} of shape [{}]", source, name, layer.name, fmt::join(s, ", "));
    return;
  }
  fail("{}: layer name '{}' is neither SparseConvK_IN-OUT-(KH, KW) nor LinearK_IN-OUT", source, name);
}

}  // namespace

Scheme parse_authors_scheme(const std::string& text, const LayerTable& table, const std::string& source) {
  const auto entries = AuthorsParser(text, source).parse();
  if (entries.size() != table.layers.size())
    fail("{} lists {} layers, the model has {} prunable layers", source, entries.size(), table.layers.size());
  int64_t M = 0;
  for (const auto& e : entries) M = std::max(M, e.second.second);
  Scheme s = dense_scheme(table, M, Layout::NHWC);
  s.source = "authors";
  for (size_t i = 0; i < entries.size(); ++i) {
    const auto& [name, nm] = entries[i];
    check_authors_name(name, table.layers[i], source);
    auto& l = s.layers[i];
    l.N = nm.first;
    l.M = nm.second;
    if (l.N < 1 || l.N > l.M) fail("{}: '{}' has N={} outside 1..M={}", source, name, l.N, l.M);
    if (l.N < l.M && !groupable(l.shape, l.M)) fail("{}: layer {} cannot be grouped by M={}", source, l.name, l.M);
  }
  return s;
}

void check_scheme_fits(const Scheme& scheme, const LayerTable& table, const std::string& source) {
  if (scheme.layers.size() != table.layers.size())
    fail("{} has {} layers, the model has {} prunable layers", source, scheme.layers.size(), table.layers.size());
  for (size_t i = 0; i < table.layers.size(); ++i) {
    const auto& l = scheme.layers[i];
    const auto& t = table.layers[i];
    if (l.name != t.name || l.shape != t.weight_shape)
      fail("{}: layer {} is {} [{}] in the scheme but {} [{}] in the model", source, i, l.name, fmt::join(l.shape, ", "),
           t.name, fmt::join(t.weight_shape, ", "));
  }
}

std::string format_scheme_table(const Scheme& s) {
  std::string out = fmt::format("{:<28} {:>18} {:>6} {:>9} {:>10} {:>12}  {}\n", "layer", "weight shape", "N:M", "density",
                                "params", "FLOPs", "note");
  for (const auto& l : s.layers)
    out += fmt::format("{:<28} {:>18} {:>6} {:>8.1f}% {:>10.0f} {:>12.0f}  {}\n", l.name, fmt::format("{}", fmt::join(l.shape, "x")),
                       fmt::format("{}:{}", l.N, l.M), 100.0 * l.N / l.M, l.sparse_params(), l.sparse_flops(), l.note);
  out += fmt::format("param sparsity {:.4f} ({:.4f} M of {:.4f} M params), FLOPs reduction {:.4f} ({:.2f} M of {:.2f} M){}\n",
                     s.param_sparsity(), s.sparse_params() / 1e6, s.dense_params() / 1e6, s.flops_reduction(),
                     s.sparse_flops() / 1e6, s.dense_flops() / 1e6,
                     s.target ? fmt::format("; target {}", to_string(*s.target)) : "");
  if (s.latency)
    out += fmt::format("latency reduction {:.4f} ({:.3f} ms of {:.3f} ms over these layers, by the table {})\n",
                       s.latency_reduction(), s.sparse_latency_ms(), s.dense_latency_ms(), s.latency->table);
  return out;
}

}  // namespace domino
