#include "domino/jobs/inference.h"

#include <torch/torch.h>

#include "domino/core/error.h"
#include "domino/core/runtime.h"
#include "domino/data/datasets.h"
#include "domino/models/layer_table.h"
#include "domino/sparse/export.h"
#include "domino/sparse/finetune.h"

namespace domino {
namespace {

// The `.nm` file's layers written into `model` (each must be one of its weights, in its
// shape), and the scheme they make: the file holds exactly the layers with N < M.
Scheme apply_nm_file(Network& model, const std::string& path, const std::string& model_name) {
  const auto layers = read_nm(path);
  if (layers.empty()) fail("{} holds no N:M layers", path);
  auto params = model.named_parameters();
  Scheme scheme;
  scheme.model = model_name;
  scheme.source = path;
  scheme.layout = layers.front().layout;
  scheme.M = layers.front().M;
  torch::NoGradGuard no_grad;
  for (const auto& layer : layers) {
    const auto* weight = params.find(layer.name + ".weight");
    if (!weight) fail("{}: layer {} is not a layer of {}", path, layer.name, model_name);
    if (weight->sizes().vec() != layer.shape)
      fail("{}: layer {} is {} in the file but {} in {}", path, layer.name, fmt::join(layer.shape, "x"),
           fmt::join(weight->sizes().vec(), "x"), model_name);
    if (layer.layout != scheme.layout) fail("{}: its layers mix the NHWC and NCHW layouts", path);
    weight->copy_(decompress_nm(layer));
    LayerScheme s;
    s.name = layer.name;
    s.kind = layer.shape.size() == 4 ? LayerKind::Conv : LayerKind::Linear;
    s.shape = layer.shape;
    s.N = layer.N;
    s.M = layer.M;
    scheme.layers.push_back(s);
  }
  return scheme;
}

Scheme scheme_file_for(Network& model, const TrainConfig& config, const std::string& path) {
  // The authors' text format names layers by position: it needs the model's layer table.
  const auto table = build_layer_table(model, dataset_spec(config.dataset).shape);
  auto scheme = load_scheme(path, &table);
  check_scheme_fits(scheme, table, path);
  return scheme;
}

}  // namespace

InferenceModel load_inference_model(const InferenceSource& s) {
  if (!s.scheme.empty() && !s.nm.empty()) fail("give --scheme or --nm, not both: a .nm file carries its own scheme");
  InferenceModel m;
  Checkpoint checkpoint;
  if (s.allow_untrained && s.checkpoint.empty() && s.pretrained.file.empty()) {
    if (s.pretrained.model.empty()) fail("no model: give --checkpoint FILE, --pretrained FILE with --model, or --model");
    m.config = s.pretrained.config(s.data_dir);
    const auto& spec = dataset_spec(m.config.dataset);
    m.model = make_model(s.pretrained.model, {spec.shape.channels, spec.num_classes});
    m.source = "untrained " + s.pretrained.model;
  } else if (!s.checkpoint.empty() || !s.classes_from_weights) {
    checkpoint = starting_checkpoint(s.checkpoint, s.pretrained.config(s.data_dir));
    m.model = model_from_checkpoint(checkpoint, s.checkpoint.empty() ? s.pretrained.file : s.checkpoint);
    m.config = merge_config(TrainConfig{}, checkpoint.config, s.checkpoint);
    m.source = s.checkpoint.empty() ? s.pretrained.file : s.checkpoint;
  } else {
    if (s.pretrained.file.empty()) fail("no model: give --checkpoint FILE, or --pretrained FILE with --model");
    if (s.pretrained.model.empty()) fail("--pretrained needs --model: which zoo model the weights are for");
    m.config = s.pretrained.config(s.data_dir);
    m.model = model_from_pretrained(s.pretrained.model, dataset_spec(m.config.dataset).shape.channels, s.pretrained.file,
                                    s.pretrained.strict);
    m.source = s.pretrained.file;
  }
  if (!s.data_dir.empty()) m.config.data_dir = s.data_dir;
  if (!s.nm.empty()) {
    m.scheme = apply_nm_file(*m.model, s.nm, m.config.model);
    m.source = s.nm;
  } else if (!s.scheme.empty()) {
    m.scheme = scheme_file_for(*m.model, m.config, s.scheme);
  } else if (!s.checkpoint.empty()) {
    m.scheme = scheme_of(checkpoint, s.checkpoint);
  }
  return m;
}

c10::Device inference_device(Engine engine, const std::string& name) {
  return resolve_device(engine == Engine::Nm && name == "auto" ? "cpu" : name);
}

const Scheme& engine_scheme(const InferenceModel& m) {
  if (!m.scheme)
    fail("{} carries no N:M scheme: give the pruned.pt that finetune writes, or the weights with --scheme FILE or --nm FILE",
         m.source);
  return *m.scheme;
}

engine::EngineLayers use_nm_engine(InferenceModel& m, c10::Device device, Precision precision) {
  if (!device.is_cpu()) fail("the N:M engine runs on the CPU, not on {} (--device cpu)", device.str());
  if (precision != Precision::FP32) fail("the N:M engine computes in fp32, not {}", to_string(precision));
  const auto& scheme = engine_scheme(m);
  m.model->to(device);
  m.model->eval();
  return engine::use_engine(*m.model, scheme);
}

}  // namespace domino
