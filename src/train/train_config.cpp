#include "domino/train/train_config.h"

#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <filesystem>
#include <type_traits>

#include "domino/core/error.h"
#include "domino/core/names.h"
#include "domino/core/runtime.h"
#include "domino/data/datasets.h"
#include "domino/models/models.h"
#include "domino/train/precision.h"
#include "domino/train/schedule.h"
#include "io/files.h"

namespace domino {
namespace {

// The single list of keys: name, member, help, and whether it only says how to run.
template <typename Config, typename F>
void for_each_field(Config& c, F&& f) {
  f("model", c.model, "model from the zoo (see `domino info --help`)", false);
  f("dataset", c.dataset, "dataset name: fashion-mnist, mnist, cifar10, cifar100, imagenet (any ImageFolder tree)", false);
  f("data-dir", c.data_dir, "directory of the dataset's files (default: its standard location)", false);
  f("pretrained", c.pretrained, "start from this PyTorch state dict (torch.save(model.state_dict(), f)), e.g. torchvision's .pth", false);
  f("strict", c.strict, "with --pretrained: entries the model lacks are an error (false: listed and ignored)", false);
  f("epochs", c.epochs, "training epochs", false);
  f("batch-size", c.batch_size, "images per batch", false);
  f("lr", c.lr, "base learning rate", false);
  f("momentum", c.momentum, "SGD momentum", false);
  f("weight-decay", c.weight_decay, "L2 weight decay", false);
  f("nesterov", c.nesterov, "Nesterov momentum", false);
  f("schedule", c.schedule, "learning-rate schedule: multistep, cosine or constant", false);
  f("milestones", c.milestones, "multistep: epochs at which lr is multiplied by gamma (comma-separated)", false);
  f("gamma", c.gamma, "multistep: lr factor at each milestone", false);
  f("warmup-epochs", c.warmup_epochs, "linear learning-rate warm-up, in epochs (may be fractional)", false);
  f("augment", c.augment, "training augmentation (random crop with padding, flip where the dataset allows)", false);
  f("val-split", c.val_split, "fraction of the training set held out for validation (0: none)", false);
  f("seed", c.seed, "seed of initialisation, data order and augmentation", false);
  f("precision", c.precision, "auto (bf16 where the device runs it natively, else fp32), fp32, bf16 or fp16 (CUDA only); weights, optimizer state and masks stay fp32", false);
  f("threads", c.threads, "LibTorch threads (0: every core)", true);
  f("workers", c.workers, "data-pipeline threads (0: load on the training thread)", true);
  f("device", c.device, "auto, cpu, cuda or cuda:K (auto: cuda when LibTorch sees one)", true);
  f("memory-format", c.memory_format, "layout of activations and conv weights: channels-last or contiguous (NCHW)", true);
  f("max-iters", c.max_iters, "stop after this many iterations in all (0: no cap); for smoke runs and tests", true);
  f("log-every", c.log_every, "iterations between lines of metrics.jsonl", true);
  f("checkpoint-every", c.checkpoint_every, "also checkpoint every this many iterations (0: only by time and at epoch ends)", true);
  f("checkpoint-minutes", c.checkpoint_minutes, "also checkpoint when this many minutes passed since the last one (0: never by time)", true);
  f("out", c.out, "directory for the checkpoint, metrics and config of the run", true);
  f("resume", c.resume, "continue the run in --out from its checkpoint", true);
  f("force", c.force, "start afresh in an --out that holds another run, replacing it (otherwise refused)", true);
}

template <typename T>
bool has_type(const nlohmann::json& j) {
  if constexpr (std::is_same_v<T, bool>) return j.is_boolean();
  else if constexpr (std::is_integral_v<T>) return j.is_number_integer() && (std::is_signed_v<T> || j >= 0);
  else if constexpr (std::is_floating_point_v<T>) return j.is_number();
  else if constexpr (std::is_same_v<T, std::string>) return j.is_string();
  else return j.is_array() && std::all_of(j.begin(), j.end(), [](const auto& e) { return e.is_number_integer(); });
}

template <typename T>
const char* type_name() {
  if constexpr (std::is_same_v<T, bool>) return "true or false";
  else if constexpr (std::is_integral_v<T>) return std::is_signed_v<T> ? "an integer" : "a non-negative integer";
  else if constexpr (std::is_floating_point_v<T>) return "a number";
  else if constexpr (std::is_same_v<T, std::string>) return "a string";
  else return "a list of integers";
}

// Configs are small; an alias-laden file ("billion laughs") expands a few hundred bytes into
// billions of values, so the expansion is counted as it is walked.
constexpr int64_t kMaxConfigValues = 100'000;
constexpr int kMaxConfigDepth = 64;
constexpr std::uintmax_t kMaxConfigBytes = 16u << 20;

struct YamlWalk {
  const std::string& path;
  int64_t values = 0;
};

nlohmann::json yaml_to_json(const YAML::Node& node, YamlWalk& walk, int depth) {
  if (++walk.values > kMaxConfigValues)
    fail("config file {}: expands to more than {} values, the limit (aliases nested in aliases?)", walk.path,
         kMaxConfigValues);
  if (depth > kMaxConfigDepth) fail("config file {}: nests more than {} levels deep (the limit)", walk.path, kMaxConfigDepth);
  if (node.IsMap()) {
    nlohmann::json out = nlohmann::json::object();
    for (const auto& item : node) {
      if (!item.first.IsScalar()) fail("config file {}: a key is not a plain name", walk.path);
      out[item.first.as<std::string>()] = yaml_to_json(item.second, walk, depth + 1);
    }
    return out;
  }
  if (node.IsSequence()) {
    nlohmann::json out = nlohmann::json::array();
    for (const auto& item : node) out.push_back(yaml_to_json(item, walk, depth + 1));
    return out;
  }
  if (node.IsNull()) return nullptr;
  if (node.Tag() == "!") return node.as<std::string>();  // quoted: always a string
  int64_t i;
  double d;
  bool b;
  if (YAML::convert<int64_t>::decode(node, i)) return i;
  if (YAML::convert<double>::decode(node, d)) return d;
  if (YAML::convert<bool>::decode(node, b)) return b;
  return node.as<std::string>();
}

}  // namespace

const std::vector<ConfigKey>& train_config_keys() {
  static const std::vector<ConfigKey> keys = [] {
    std::vector<ConfigKey> out;
    TrainConfig c;
    for_each_field(c, [&](const char* name, auto&, const char* help, bool run_only) { out.push_back({name, help, run_only}); });
    return out;
  }();
  return keys;
}

namespace {

const std::vector<std::string>& all_keys() {
  static const std::vector<std::string> names = [] {
    std::vector<std::string> out;
    for (const auto& k : train_config_keys()) out.push_back(k.name);
    return out;
  }();
  return names;
}

}  // namespace

nlohmann::json to_json(const TrainConfig& config) {
  nlohmann::json out = nlohmann::json::object();
  for_each_field(config, [&](const char* name, const auto& value, const char*, bool) { out[name] = value; });
  return out;
}

TrainConfig merge_config(const TrainConfig& base, const nlohmann::json& overrides, const std::string& source) {
  if (!overrides.is_object()) fail("{}: expected a mapping of option names to values", source);
  const auto& known = all_keys();
  for (const auto& item : overrides.items())
    if (std::find(known.begin(), known.end(), item.key()) == known.end())
      fail_unknown("option", item.key(), known, source);
  TrainConfig out = base;
  for_each_field(out, [&](const char* name, auto& value, const char*, bool) {
    using T = std::decay_t<decltype(value)>;
    if (!overrides.contains(name)) return;
    const auto& j = overrides.at(name);
    if (!has_type<T>(j)) fail("{}: option '{}' must be {}, got {}", source, name, type_name<T>(), json_text(j));
    value = j.get<T>();
  });
  return out;
}

TrainConfig copy_options(const TrainConfig& from, TrainConfig to, const std::vector<std::string>& keys) {
  const auto all = to_json(from);
  nlohmann::json picked = nlohmann::json::object();
  for (const auto& key : keys) {
    if (!all.contains(key)) fail_unknown("option", key, all_keys());
    picked[key] = all.at(key);
  }
  return merge_config(to, picked, "options");
}

nlohmann::json parse_option_text(const std::string& key, const std::string& text) {
  static const nlohmann::json defaults = to_json(TrainConfig{});
  if (!defaults.contains(key)) fail("unknown option '{}'", key);
  const auto& like = defaults.at(key);
  auto whole = [&](auto parse) {  // a number must be the whole text, not a prefix
    size_t used = 0;
    auto value = parse(text, &used);
    if (used != text.size()) throw std::invalid_argument(text);
    return value;
  };
  try {
    if (like.is_boolean()) {
      if (text == "true" || text == "1" || text == "yes" || text == "on") return true;
      if (text == "false" || text == "0" || text == "no" || text == "off") return false;
      throw std::invalid_argument(text);
    }
    if (like.is_number_unsigned()) {
      if (!text.empty() && text[0] == '-') throw std::invalid_argument(text);
      return whole([](const std::string& t, size_t* u) { return std::stoull(t, u); });
    }
    if (like.is_number_integer()) return whole([](const std::string& t, size_t* u) { return std::stoll(t, u); });
    if (like.is_number_float()) return whole([](const std::string& t, size_t* u) { return std::stod(t, u); });
    if (like.is_array()) {
      nlohmann::json out = nlohmann::json::array();
      size_t start = 0;
      while (start <= text.size() && !text.empty()) {
        const size_t comma = std::min(text.find(',', start), text.size());
        const std::string item = text.substr(start, comma - start);
        size_t used = 0;
        out.push_back(std::stoll(item, &used));
        if (used != item.size()) throw std::invalid_argument(item);
        start = comma + 1;
      }
      return out;
    }
  } catch (const std::logic_error&) {  // invalid_argument, out_of_range
    fail("--{}: '{}' is not {}", key, text,
         like.is_boolean() ? "true or false" : like.is_array() ? "a comma-separated list of integers" : "a number");
  }
  return text;
}

nlohmann::json load_yaml_file(const std::string& path) {
  std::error_code size_error;
  const auto bytes = std::filesystem::file_size(path, size_error);
  if (!size_error && bytes > kMaxConfigBytes)
    fail("config file {}: {} bytes, above the limit of {} for a config", path, bytes, kMaxConfigBytes);
  const auto text = read_text_file(path, "config file");  // a directory is refused, not read
  YAML::Node root;
  try {
    root = YAML::Load(text);
  } catch (const YAML::Exception& e) {
    fail("config file {}: {}", path, e.what());
  }
  if (root.IsNull()) return nlohmann::json::object();
  if (!root.IsMap()) fail("config file {}: expected a mapping of option names to values", path);
  YamlWalk walk{path};
  return yaml_to_json(root, walk, 0);
}

TrainConfig legacy_config_defaults() {
  TrainConfig c;
  c.precision = "fp32";
  return c;
}

void validate(const TrainConfig& c) {
  check_model_name(c.model);
  dataset_spec(c.dataset);  // throws, listing the valid names
  if (c.epochs <= 0) fail("epochs must be positive, got {}", c.epochs);
  if (c.batch_size <= 0) fail("batch-size must be positive, got {}", c.batch_size);
  if (c.momentum < 0 || c.momentum >= 1) fail("momentum must be in [0, 1), got {}", c.momentum);
  if (c.weight_decay < 0) fail("weight-decay must not be negative, got {}", c.weight_decay);
  if (c.val_split < 0 || c.val_split >= 1) fail("val-split must be in [0, 1), got {}", c.val_split);
  check_thread_count(c.threads, "thread count");
  check_thread_count(c.workers, "worker count");
  if (c.max_iters < 0) fail("max-iters must not be negative, got {}", c.max_iters);
  const std::vector<std::string> precisions = {"auto", "fp32", "bf16", "fp16"};
  if (std::find(precisions.begin(), precisions.end(), c.precision) == precisions.end())
    fail_unknown("precision", c.precision, precisions);
  parse_memory_format(c.memory_format);
  if (c.log_every <= 0) fail("log-every must be positive, got {}", c.log_every);
  if (c.checkpoint_every < 0 || c.checkpoint_minutes < 0) fail("checkpoint-every and checkpoint-minutes must not be negative");
  LrSchedule schedule;
  schedule.kind = kScheduleKinds.parse(c.schedule, "schedule");
  schedule.base_lr = c.lr;
  schedule.warmup_epochs = c.warmup_epochs;
  validate(schedule);
}

}  // namespace domino
