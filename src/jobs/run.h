// What every training job (train, search, finetune) does before its work, written once.
#pragma once

#include <c10/core/Device.h>

#include <memory>
#include <string>

#include "domino/jobs/train_data.h"
#include "domino/train/trainer.h"
#include "io/run_dir.h"

namespace domino {

// Built after validate(config). Held for the whole job: the run's directory locked (one run per --out; a fresh run over
// another's files refused), LibTorch's threads set, the device resolved and the precision
// resolved for it — written back into `config`, so config.json and checkpoints record
// what was computed. The directory exists once this is built.
class Run {
 public:
  explicit Run(TrainConfig& config);
  const c10::Device device;

  // <out>/config.json: the run's resolved configuration.
  void write_config(const TrainConfig& config) const;
  std::string file(const std::string& name) const;  // <out>/name

 private:
  RunDirLock lock_;
  std::string out_;
};

// The training loop's input: a model with its zoo name and options, the config, the
// loaders and the run's device.
TrainSetup make_train_setup(std::shared_ptr<Network> model, std::string model_name, ModelOptions options,
                            const TrainConfig& config, const TrainData& data, c10::Device device,
                            TrainHooks* hooks = nullptr);

}  // namespace domino
