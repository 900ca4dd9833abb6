// The training loop shared by dense training, the search and SR-STE fine-tuning.
// Later stages change its behaviour through TrainHooks (penalties on gradients, mask
// decisions, gradient all-reduce) rather than by copying the loop.
#pragma once

#include <ATen/core/Dict.h>
#include <ATen/core/ivalue.h>
#include <c10/core/Device.h>

#include <memory>
#include <optional>
#include <string>

#include "domino/data/loader.h"
#include "domino/dist/process_group.h"
#include "domino/models/models.h"
#include "domino/train/precision.h"
#include "domino/train/train_config.h"

namespace domino {

struct EvalResult {
  double loss = 0, top1 = 0, top5 = 0;  // mean cross-entropy; accuracies in [0, 1]
  int64_t samples = 0;
};

// Evaluation in `precision` (fp32 unless asked: the reported accuracy of a model should
// not depend on how it was trained), with images in `format`. With a `group`, each rank
// evaluates its shard of the loader's split and the result is over all of them.
EvalResult evaluate(Network& model, BatchLoader& loader, c10::Device device, const std::string& label = "",
                    Precision precision = Precision::FP32, MemoryFormat format = MemoryFormat::ChannelsLast,
                    dist::ProcessGroup* group = nullptr);

class TrainHooks {
 public:
  virtual ~TrainHooks() = default;
  virtual void after_backward(int64_t /*iteration*/) {}  // gradients are ready
  virtual void after_step(int64_t /*iteration*/) {}      // weights were updated
  virtual bool should_stop() const { return false; }     // e.g. a search met its target
  // Runs that end on a condition rather than an iteration count (a search) show this
  // progress in place of a bar and an ETA; empty: the usual bar.
  virtual std::string progress_note() const { return {}; }
  // Extra state that a checkpoint must carry for an exact resume.
  virtual void save_state(c10::impl::GenericDict& /*extra*/) const {}
  virtual void load_state(const c10::impl::GenericDict& /*extra*/) {}
  // A digest of the decisions the hook has taken (e.g. a search's per-layer N): data-parallel
  // ranks must agree on it, and the loop stops with an error if they do not.
  virtual uint64_t decisions_digest() const { return 0; }
};

struct TrainSetup {
  std::shared_ptr<Network> model;
  std::string model_name;
  ModelOptions model_options;
  TrainConfig config;  // optimizer, schedule, epochs, max-iters, out, resume, log-every
  std::shared_ptr<BatchLoader> train;
  std::shared_ptr<BatchLoader> validation;  // optional: evaluated after every epoch
  c10::Device device = c10::Device(c10::kCPU);
  TrainHooks* hooks = nullptr;
  // A data-parallel run's group (nullptr: one process). Each rank's loaders hold its shard
  // and per-rank batch; gradients are averaged over the ranks before the hooks and the
  // step, and only rank 0 writes (checkpoint, metrics, progress).
  dist::ProcessGroup* group = nullptr;
};

enum class StopReason { Finished, MaxIters, Hook };

struct TrainResult {
  int64_t iterations = 0;
  StopReason stop = StopReason::Finished;
  double loss = 0, accuracy = 0;  // running means over the last epoch's iterations
  std::optional<EvalResult> validation;
  double seconds = 0;
};

// Runs until the schedule ends, --max-iters, or the hooks say stop. The forward runs
// under autocast in config.precision (resolved for the device and written back into
// setup.config, so checkpoints record what was computed); a checkpoint of another
// precision is refused on resume. Writes
// `<out>/checkpoint.pt` after every epoch and when it stops, and `<out>/metrics.jsonl`.
// Ctrl-C saves a checkpoint, then throws domino::Error saying how to resume; a loss
// that turns NaN throws without touching the last good checkpoint.
TrainResult train(TrainSetup& setup);

std::string checkpoint_path(const std::string& out_dir);

}  // namespace domino
