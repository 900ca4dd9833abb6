#include "domino/train/train_config.h"

#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <filesystem>
#include <type_traits>

#include "domino/core/error.h"
#include "domino/core/names.h"
#include "domino/core/runtime.h"
#include "domino/data/datasets.h"
#include "domino/dist/process_group.h"
#include "domino/models/models.h"
#include "domino/train/precision.h"
#include "domino/train/schedule.h"
#include "io/files.h"

namespace domino {
namespace {

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

const OptionTable<TrainConfig>& train_options() {
  using C = TrainConfig;
  static const auto table =
      OptionTable<C>{}
          .add("model", &C::model, "model from the zoo (see `domino info --help`)")
          .add("dataset", &C::dataset, "dataset name: fashion-mnist, mnist, cifar10, cifar100, imagenet (any ImageFolder tree)")
          .add("data-dir", &C::data_dir, "directory of the dataset's files (default: its standard location)")
          .add("pretrained", &C::pretrained, "start from this PyTorch state dict (torch.save(model.state_dict(), f)), e.g. torchvision's .pth")
          .add("strict", &C::strict, "with --pretrained: entries the model lacks are an error (false: listed and ignored)")
          .add("epochs", &C::epochs, "training epochs")
          .add("batch-size", &C::batch_size, "images per batch")
          .add("lr", &C::lr, "base learning rate")
          .add("momentum", &C::momentum, "SGD momentum")
          .add("weight-decay", &C::weight_decay, "L2 weight decay")
          .add("nesterov", &C::nesterov, "Nesterov momentum")
          .add("schedule", &C::schedule, "learning-rate schedule: multistep, cosine or constant")
          .add("milestones", &C::milestones, "multistep: epochs at which lr is multiplied by gamma (comma-separated)")
          .add("gamma", &C::gamma, "multistep: lr factor at each milestone")
          .add("warmup-epochs", &C::warmup_epochs, "linear learning-rate warm-up, in epochs (may be fractional)")
          .add("augment", &C::augment, "training augmentation (random crop with padding, flip where the dataset allows)")
          .add("val-split", &C::val_split, "fraction of the training set held out for validation (0: none)")
          .add("sync-bn", &C::sync_bn, "data-parallel runs: BatchNorm statistics over the whole global batch (every rank's), as one process with that batch computes them; off: each rank's own, as PyTorch DDP")
          .add("seed", &C::seed, "seed of initialisation, data order and augmentation")
          .add("precision", &C::precision, "auto (bf16 where the device runs it natively, else fp32), fp32, bf16 or fp16 (CUDA only); weights, optimizer state and masks stay fp32")
          // How to run (RunContext):
          .add("threads", &C::threads, "LibTorch threads (0: every core)", true)
          .add("workers", &C::workers, "data-pipeline threads (0: load on the training thread)", true)
          .add("device", &C::device, "auto, cpu, cuda or cuda:K (auto: cuda when LibTorch sees one)", true)
          .add("memory-format", &C::memory_format, "layout of activations and conv weights: channels-last or contiguous (NCHW)", true)
          .add("max-iters", &C::max_iters, "stop after this many iterations in all (0: no cap); for smoke runs and tests", true)
          .add("log-every", &C::log_every, "iterations between lines of metrics.jsonl", true)
          .add("checkpoint-every", &C::checkpoint_every, "also checkpoint every this many iterations (0: only by time and at epoch ends)", true)
          .add("checkpoint-minutes", &C::checkpoint_minutes, "also checkpoint when this many minutes passed since the last one (0: never by time)", true)
          .add("out", &C::out, "directory for the checkpoint, metrics and config of the run", true)
          .add("resume", &C::resume, "continue the run in --out from its checkpoint", true)
          .add("force", &C::force, "start afresh in an --out that holds another run, replacing it (otherwise refused)", true)
          .add("dist-timeout", &C::dist_timeout, "data-parallel runs: seconds a rank waits for the others before it stops with an error", true)
          .add("dist-backend", &C::dist_backend, "data-parallel runs: auto (nccl on CUDA devices where LibTorch has it, else gloo), gloo or nccl", true)
          .add("dist-overlap", &C::dist_overlap, "data-parallel runs: all-reduce gradient buckets while backward still runs (c10d's Reducer, as PyTorch DDP); false: bucketed all-reduce after backward", true);
  return table;
}

nlohmann::json to_json(const TrainConfig& config) { return train_options().to_json(config); }

TrainConfig merge_config(const TrainConfig& base, const nlohmann::json& overrides, const std::string& source) {
  return train_options().merge(base, overrides, source);
}

TrainConfig copy_options(const TrainConfig& from, TrainConfig to, const std::vector<std::string>& keys) {
  return train_options().copy(from, std::move(to), keys);
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
  const auto& precisions = precision_names();
  if (std::find(precisions.begin(), precisions.end(), c.precision) == precisions.end())
    fail_unknown("precision", c.precision, precisions);
  parse_memory_format(c.memory_format);
  if (c.log_every <= 0) fail("log-every must be positive, got {}", c.log_every);
  if (c.checkpoint_every < 0 || c.checkpoint_minutes < 0) fail("checkpoint-every and checkpoint-minutes must not be negative");
  if (!(c.dist_timeout > 0)) fail("dist-timeout must be positive, got {}", c.dist_timeout);
  dist::kBackends.parse(c.dist_backend, "dist-backend");
  LrSchedule schedule;
  schedule.kind = kScheduleKinds.parse(c.schedule, "schedule");
  schedule.base_lr = c.lr;
  schedule.warmup_epochs = c.warmup_epochs;
  validate(schedule);
}

}  // namespace domino
