#include "jobs/run.h"

#include <torch/torch.h>

#include <filesystem>

#include "domino/core/runtime.h"
#include "domino/train/precision.h"
#include "io/files.h"

namespace fs = std::filesystem;

namespace domino {
namespace {

c10::Device resolved_device(const TrainConfig& config) {
  set_threads(config.threads);
  return resolve_device(config.device);
}

}  // namespace

Run::Run(TrainConfig& config)
    : device(resolved_device(config)),
      lock_(config.out, run_dir_mode(config.resume, config.force), checkpoint_path(config.out)),
      out_(config.out) {
  config.precision = to_string(resolve_precision(config.precision, device));
}

void Run::write_config(const TrainConfig& config) const { write_json_file(file("config.json"), to_json(config)); }

std::string Run::file(const std::string& name) const { return (fs::path(out_) / name).string(); }

TrainSetup make_train_setup(std::shared_ptr<Network> model, std::string model_name, ModelOptions options,
                            const TrainConfig& config, const TrainData& data, c10::Device device, TrainHooks* hooks) {
  TrainSetup s;
  s.model = std::move(model);
  s.model_name = std::move(model_name);
  s.model_options = options;
  s.config = config;
  s.train = data.train;
  s.validation = data.validation;
  s.device = device;
  s.hooks = hooks;
  return s;
}

}  // namespace domino
