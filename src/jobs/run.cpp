#include "jobs/run.h"

#include <torch/torch.h>

#include <algorithm>
#include <filesystem>
#include <thread>

#include "domino/core/runtime.h"
#include "domino/train/precision.h"
#include "io/files.h"

namespace fs = std::filesystem;

namespace domino {
namespace {

// One process: nullptr. Launched data-parallel: the group joined, its place written into
// `config`, and checks that every rank was started alike.
std::unique_ptr<dist::ProcessGroup> join_group(TrainConfig& config) {
  const auto env = dist::launch_env();
  if (!env || env->world_size == 1) return nullptr;
  if (config.batch_size % env->world_size != 0)
    fail("batch-size {} does not divide among the {} ranks: it is the global batch, each rank takes batch-size / {}",
         config.batch_size, env->world_size, env->world_size);
  config.rank = env->rank;
  config.world_size = env->world_size;
  config.local_rank = env->local_rank;
  if (config.threads == 0)  // the machine's cores, shared among its ranks
    config.threads = std::max(1, static_cast<int>(std::thread::hardware_concurrency()) / env->local_world_size);
  auto group = std::make_unique<dist::ProcessGroup>(*env, std::chrono::milliseconds(
                                                              static_cast<int64_t>(1000 * config.dist_timeout)));
  const nlohmann::json all = to_json(config);
  nlohmann::json computed = all;  // what is computed must match: not how each rank runs
  for (const auto& key : train_options().keys())
    if (key.run_only) computed.erase(key.name);
  for (const char* key : {"out", "max-iters", "resume"}) computed[key] = all.at(key);
  group->check_same(std::hash<std::string>{}(computed.dump()), "the options (model, data, optimizer, out, ...)");
  return group;
}

c10::Device resolved_device(const TrainConfig& config, const dist::ProcessGroup* group) {
  set_threads(config.threads);
  if (group && config.device == "auto" && resolve_device("auto").is_cuda())  // a GPU a local rank
    return c10::Device(c10::kCUDA, static_cast<c10::DeviceIndex>(config.local_rank));
  return resolve_device(config.device);
}

}  // namespace

Run::Run(TrainConfig& config)
    : group_(join_group(config)), device(resolved_device(config, group_.get())), out_(config.out) {
  if (writes()) lock_.emplace(config.out, run_dir_mode(config.resume, config.force), checkpoint_path(config.out));
  if (group_) group_->barrier();  // the others wait for rank 0's lock: a refused directory stops them all
  config.precision = to_string(resolve_precision(config.precision, device));
}

Run::~Run() = default;

void Run::write_config(const TrainConfig& config) const {
  if (writes()) write_json_file(file("config.json"), to_json(config));
}

std::string Run::file(const std::string& name) const { return (fs::path(out_) / name).string(); }

TrainSetup make_train_setup(std::shared_ptr<Network> model, std::string model_name, ModelOptions options,
                            const TrainConfig& config, const TrainData& data, c10::Device device, TrainHooks* hooks,
                            dist::ProcessGroup* group) {
  TrainSetup s;
  s.model = std::move(model);
  s.model_name = std::move(model_name);
  s.model_options = options;
  s.config = config;
  s.train = data.train;
  s.validation = data.validation;
  s.device = device;
  s.hooks = hooks;
  s.group = group;
  return s;
}

}  // namespace domino
