// What every training job (train, search, finetune) does before its work, written once.
#pragma once

#include <c10/core/Device.h>

#include <memory>
#include <optional>
#include <string>

#include "domino/dist/process_group.h"
#include "domino/jobs/train_data.h"
#include "domino/train/trainer.h"
#include "io/run_dir.h"

namespace domino {

// Where a job runs: its device and, in a data-parallel launch (torchrun's variables), the
// launch's process group (nullptr: one process).
struct Placement {
  c10::Device device;
  dist::ProcessGroup* group;
};

// Joins the launch this process was started in, if any (the process-wide group: an
// experiment's jobs share it), and writes the rank, world size and local rank into `run`;
// sets LibTorch's threads (by default the machine's cores shared among its ranks) and
// resolves the device (each local rank its own GPU under `auto`).
Placement place(RunContext& run);

// Built after validate(config). Held for the whole job: the process placed (above) and
// every rank checked to compute the same thing; the run's directory locked by rank 0 (one
// run per --out; a fresh run over another's files refused), and the precision resolved for
// the device — written back into `config`, so config.json and checkpoints record what was
// computed. The directory exists once this is built.
class Run {
  Placement placement_;  // first: the rank decides the device

 public:
  explicit Run(TrainConfig& config);

  const c10::Device device;
  dist::ProcessGroup* group() const { return placement_.group; }  // nullptr: one process
  bool writes() const { return !group() || group()->rank() == 0; }  // only rank 0 writes files

  // <out>/config.json: the run's resolved configuration (rank 0).
  void write_config(const TrainConfig& config) const;
  std::string file(const std::string& name) const;  // <out>/name

 private:
  std::optional<RunDirLock> lock_;
  std::string out_;
};

// The training loop's input: a model with its zoo name and options, the config, the
// loaders, the run's device and its process group.
TrainSetup make_train_setup(std::shared_ptr<Network> model, std::string model_name, ModelOptions options,
                            const TrainConfig& config, const TrainData& data, c10::Device device,
                            TrainHooks* hooks = nullptr, dist::ProcessGroup* group = nullptr);

}  // namespace domino
