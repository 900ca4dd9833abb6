#include "domino/jobs/results.h"

#include <torch/torch.h>

#include <filesystem>

#include "domino/core/error.h"
#include "io/files.h"

namespace fs = std::filesystem;

namespace domino {
namespace {

nlohmann::json training_part(const TrainResult& r) {
  return {{"iterations", r.iterations},
          {"train_seconds", r.seconds},
          {"train_loss", r.loss},
          {"train_accuracy", r.accuracy},
          {"validation", r.validation ? to_json(*r.validation) : nlohmann::json(nullptr)}};
}

EvalResult eval_result_from_json(const nlohmann::json& j) {
  EvalResult r;
  r.top1 = j.at("top1").get<double>();
  r.top5 = j.at("top5").get<double>();
  r.loss = j.at("loss").get<double>();
  r.samples = j.value("samples", int64_t{0});
  return r;
}

}  // namespace

nlohmann::json to_json(const EvalResult& r) {
  return {{"loss", r.loss}, {"top1", r.top1}, {"top5", r.top5}, {"samples", r.samples}};
}

nlohmann::json to_json(const TrainJobResult& r) {
  auto j = training_part(r.train);
  j["test"] = to_json(r.test);
  return j;
}

nlohmann::json to_json(const FinetuneResult& r) {
  auto j = training_part(r.train);
  j["test"] = to_json(r.test);
  j["param_sparsity"] = r.scheme.param_sparsity();
  j["flops_reduction"] = r.scheme.flops_reduction();
  return j;
}

FinetuneResult read_finetune_result(const std::string& dir) {
  const auto path = (fs::path(dir) / "result.json").string();
  const auto j = read_json_file(path);  // names the file if it is not JSON
  FinetuneResult r;
  try {
    r.test = eval_result_from_json(j.at("test"));
    r.train.iterations = j.at("iterations").get<int64_t>();
    r.train.seconds = j.at("train_seconds").get<double>();
    r.train.loss = j.value("train_loss", 0.0);  // absent from results of earlier versions
    r.train.accuracy = j.value("train_accuracy", 0.0);
    if (j.contains("validation") && !j.at("validation").is_null())
      r.train.validation = eval_result_from_json(j.at("validation"));
  } catch (const nlohmann::json::exception& e) {
    fail("{}: not a fine-tuning result this tool wrote ({})", path, e.what());
  }
  r.scheme = load_scheme((fs::path(dir) / "scheme.json").string());
  r.pruned = (fs::path(dir) / "pruned.pt").string();
  return r;
}

}  // namespace domino
