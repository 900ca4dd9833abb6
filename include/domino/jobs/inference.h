// A model for inference from any form domino hands over — a checkpoint (pruned.pt carries
// its scheme), a PyTorch state dict with a scheme file, or with the compressed `.nm`
// export — and switching it to the N:M engine. What eval, predict and bench-infer load.
#pragma once

#include <c10/core/Device.h>

#include <memory>
#include <optional>
#include <string>

#include "domino/core/names.h"
#include "domino/engine/engine.h"
#include "domino/jobs/starting_point.h"
#include "domino/models/pretrained.h"
#include "domino/nm/scheme.h"
#include "domino/train/precision.h"

namespace domino {

struct InferenceSource {
  std::string checkpoint;      // a domino checkpoint, or:
  PretrainedStart pretrained;  // a state dict (file, zoo model, dataset)
  std::string scheme;          // a scheme file (JSON or the authors' format) the weights follow
  std::string nm;              // a `.nm` export: its layers replace those weights, its N:M are the scheme
  std::string data_dir;        // overrides the checkpoint's
  // With --pretrained: size the classifier by the file (predict), instead of requiring the
  // dataset's class count (eval).
  bool classes_from_weights = false;
  // Without a checkpoint or --pretrained: zoo model pretrained.model freshly initialised
  // (for timing only: bench-infer).
  bool allow_untrained = false;
};

struct InferenceModel {
  std::shared_ptr<Network> model;
  TrainConfig config;            // the run's (dataset, data dir, ...), or one naming --pretrained's
  std::optional<Scheme> scheme;  // from --nm, --scheme, or the checkpoint
  std::string source;            // what to name in messages
};

// Fails clearly on a missing model, conflicting sources, a scheme of another model and a
// `.nm` layer the model lacks or has in another shape.
InferenceModel load_inference_model(const InferenceSource& source);

// What runs a model's forward: LibTorch's dense ops, or the N:M engine (docs/engine.md),
// which runs the layers of the model's scheme, on the CPU, in fp32.
enum class Engine { LibTorch, Nm };
inline constexpr EnumNames<Engine, 2> kEngines{{{{Engine::LibTorch, "libtorch"}, {Engine::Nm, "nm"}}}};

// The device for `engine`: resolve_device(name), except that "auto"
// means the CPU for the N:M engine (its kernels run there).
c10::Device inference_device(Engine engine, const std::string& name);

// The scheme the engine would run, or a clear error saying how to give one.
const Scheme& engine_scheme(const InferenceModel& m);

// Checks that the engine can run `m` here (a scheme, the CPU, fp32) and switches its N:M
// layers to it (engine::use_engine: a weight that breaks its scheme is refused, naming
// layer and group).
engine::EngineLayers use_nm_engine(InferenceModel& m, c10::Device device, Precision precision);

}  // namespace domino
