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

// Every rank of a launch must compute the same thing: the options that decide it (not how
// each rank runs) compared, and a global batch that divides among the ranks.
void check_ranks_alike(const TrainConfig& config, dist::ProcessGroup& group) {
  if (config.batch_size % group.size() != 0)
    fail("batch-size {} does not divide among the {} ranks: it is the global batch, each rank takes batch-size / {}",
         config.batch_size, group.size(), group.size());
  const nlohmann::json all = to_json(config);
  nlohmann::json computed = all;
  for (const auto& key : train_options().keys())
    if (key.run_only) computed.erase(key.name);
  for (const char* key : {"out", "max-iters", "resume"}) computed[key] = all.at(key);
  group.check_same(std::hash<std::string>{}(computed.dump()), "the options (model, data, optimizer, out, ...)");
}

}  // namespace

Placement place(RunContext& run) {
  const auto env = dist::launch_env();
  if (!env || env->world_size == 1) {
    set_threads(run.threads);
    return {resolve_device(run.device), nullptr};
  }
  run.rank = env->rank;
  run.world_size = env->world_size;
  run.local_rank = env->local_rank;
  if (run.threads == 0)  // the machine's cores, shared among its ranks
    run.threads = std::max(1, static_cast<int>(std::thread::hardware_concurrency()) / env->local_world_size);
  set_threads(run.threads);
  auto device = resolve_device(run.device);
  if (run.device == "auto" && device.is_cuda())  // a GPU a local rank
    device = c10::Device(c10::kCUDA, static_cast<c10::DeviceIndex>(env->local_rank));
  const auto backend = dist::resolve_backend(dist::kBackends.parse(run.dist_backend, "dist-backend"), device);
  auto& group = dist::world(*env, std::chrono::milliseconds(static_cast<int64_t>(1000 * run.dist_timeout)), backend);
  return {device, &group};
}

Run::Run(TrainConfig& config) : placement_(place(config)), device(placement_.device), out_(config.out) {
  if (group()) check_ranks_alike(config, *group());
  if (writes()) lock_.emplace(config.out, run_dir_mode(config.resume, config.force), checkpoint_path(config.out));
  if (group()) group()->barrier();  // the others wait for rank 0's lock: a refused directory stops them all
  config.precision = to_string(resolve_precision(config.precision, device));
}

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
