#include "domino/jobs.h"

#include <torch/torch.h>

#include <filesystem>

#include "domino/checkpoint.h"
#include "domino/error.h"
#include "domino/inference.h"
#include "domino/precision.h"
#include "domino/runtime.h"
#include "io/run_dir.h"
#include "util/files.h"

namespace fs = std::filesystem;

namespace domino {
namespace {

HoldoutSplit training_split(const TrainConfig& c, const DatasetSpec& spec) {
  return split_holdout(load_dataset(spec, Split::Train, c.data_dir), c.val_split, c.seed);
}

LoaderOptions eval_options(int64_t batch_size, int workers) {
  LoaderOptions o;
  o.batch_size = batch_size;
  o.shuffle = false;
  o.drop_last = false;
  o.workers = workers;
  return o;
}

nlohmann::json to_json(const EvalResult& r) {
  return {{"loss", r.loss}, {"top1", r.top1}, {"top5", r.top5}, {"samples", r.samples}};
}

}  // namespace

TrainData make_train_data(const TrainConfig& c) {
  const auto& spec = dataset_spec(c.dataset);
  auto split = training_split(c, spec);
  LoaderOptions o;
  o.batch_size = c.batch_size;
  o.seed = c.seed;
  o.workers = c.workers;
  TrainData data;
  data.train = std::make_shared<BatchLoader>(split.train, train_pipeline(spec, c.augment), o);
  if (split.validation)
    data.validation = std::make_shared<BatchLoader>(split.validation, eval_pipeline(spec), eval_options(256, c.workers));
  return data;
}

std::shared_ptr<BatchLoader> make_eval_loader(const TrainConfig& c, EvalSplit split, int64_t batch_size, int workers) {
  const auto& spec = dataset_spec(c.dataset);
  std::shared_ptr<const Dataset> data;
  if (split == EvalSplit::Test) {
    data = load_dataset(spec, Split::Test, c.data_dir);
  } else {
    auto parts = training_split(c, spec);
    if (split == EvalSplit::Validation && !parts.validation)
      fail("this run held out no validation split (train with --val-split)");
    data = split == EvalSplit::Train ? parts.train : parts.validation;
  }
  return std::make_shared<BatchLoader>(data, eval_pipeline(spec), eval_options(batch_size, workers));
}

TrainJobResult run_train_job(TrainConfig c) {
  validate(c);
  const RunDirLock lock(c.out, run_dir_mode(c.resume, c.force), checkpoint_path(c.out));
  set_threads(c.threads);
  const auto device = resolve_device(c.device);
  c.precision = to_string(resolve_precision(c.precision, device));  // config.json says what was computed
  const auto& spec = dataset_spec(c.dataset);
  auto data = make_train_data(c);
  auto test = make_eval_loader(c, EvalSplit::Test, 256, c.workers);

  torch::manual_seed(c.seed);
  TrainSetup setup;
  setup.model_name = c.model;
  setup.model_options = {spec.shape.channels, data.train->num_classes()};
  setup.model = make_model(c.model, setup.model_options);
  if (!c.pretrained.empty()) load_pretrained(*setup.model, c.pretrained, c.strict);
  setup.config = c;
  setup.train = data.train;
  setup.validation = data.validation;
  setup.device = device;

  fs::create_directories(c.out);
  write_json_file((fs::path(c.out) / "config.json").string(), to_json(c));
  TrainJobResult result;
  result.train = train(setup);
  result.checkpoint = checkpoint_path(c.out);
  result.test = evaluate(*setup.model, *test, device, "test", Precision::FP32, parse_memory_format(c.memory_format));
  write_json_file((fs::path(c.out) / "result.json").string(),
             {{"iterations", result.train.iterations}, {"train_seconds", result.train.seconds},
              {"train_loss", result.train.loss}, {"train_accuracy", result.train.accuracy},
              {"test", to_json(result.test)},
              {"validation", result.train.validation ? to_json(*result.train.validation) : nlohmann::json(nullptr)}});
  return result;
}

EvalResult run_eval_job(const EvalJob& job) {
  auto m = load_inference_model(job.source);
  if (!job.expect_model.empty() && job.expect_model != m.config.model)
    fail("checkpoint {} holds a {}, not a {}", job.source.checkpoint, m.config.model, job.expect_model);
  const auto device = inference_device(job.engine, job.device);
  const auto precision = resolve_precision(job.precision, device);
  auto format = parse_memory_format(job.memory_format);
  m.model->to(device);
  if (job.engine == "nm") {
    use_nm_engine(m, device, precision);
    format = MemoryFormat::Contiguous;  // the engine's kernels read NCHW
  } else if (job.engine != "libtorch") {
    fail("unknown engine '{}' (valid: libtorch, nm)", job.engine);
  }
  set_memory_format(*m.model, format);
  auto loader = make_eval_loader(m.config, job.split, job.batch_size, job.workers);
  return evaluate(*m.model, *loader, device, "eval", precision, format);
}

}  // namespace domino
