#include <fstream>

#include "commands.h"
#include "config_options.h"
#include "domino/core/error.h"
#include "domino/core/runtime.h"
#include "domino/jobs/inference.h"
#include "domino/jobs/predict.h"
#include "io/files.h"

namespace domino::cli {
namespace {

std::vector<std::string> read_labels(const std::string& path) {
  if (path.empty()) return {};
  std::ifstream in(path);
  if (!in) fail("labels file {} not found", path);
  std::vector<std::string> labels;
  for (std::string line; std::getline(in, line);) labels.push_back(line);
  return labels;
}

constexpr int64_t kBatchSize = 32;

}  // namespace

void add_predict_command(CLI::App& app) {
  auto* command = app.add_subcommand("predict", "Classify image files: top-k classes with their logits, per image");
  command->footer(
      "Images (JPEG, PNG, ...) get the dataset's evaluation transform (imagenet: resize 256, centre crop 224).\n"
      "Example: domino predict --pretrained resnet18.pth --model resnet18 --images cat.jpg photos/ --labels classes.txt");
  struct Args {
    std::string labels, engine = "libtorch";
    InferenceSource source;
    std::vector<std::string> images;
    int64_t top = 5;
    bool json = false;
    OptionFlags options;  // batch-size, threads, device: as train names them
  };
  auto a = std::make_shared<Args>();
  a->source.classes_from_weights = true;
  add_inference_source_options(command, a->source);
  command->add_option("--model", a->source.pretrained.model, "with --pretrained: the zoo model the weights are for");
  command->add_option("--images", a->images, "image files and folders (searched recursively)")->required();
  command->add_option("--labels", a->labels, "text file of class names, one per line, in class order");
  command->add_option("--top", a->top, "classes shown per image")->check(CLI::PositiveNumber)->capture_default_str();
  const auto defaults = inference_defaults(kBatchSize);
  a->options.add(command, train_options(), defaults, {"batch-size", "threads", "device"});
  command->add_option("--engine", a->engine, "libtorch, or nm: the N:M engine runs the N:M layers (CPU)")
      ->check(CLI::IsMember(kEngines.names()))
      ->capture_default_str();
  command->add_flag("--json", a->json, "print the predictions as JSON");
  command->callback([a] {
    refuse_launch("predict", "every rank would classify and print the same images");
    const auto options = merge_config(inference_defaults(kBatchSize), a->options.given(), "command line");
    validate(options);
    set_threads(options.threads);
    auto m = load_inference_model(a->source);
    const auto engine = kEngines.parse(a->engine, "engine");
    const auto device = inference_device(engine, options.device);
    m.model->to(device);
    if (engine == Engine::Nm) use_nm_engine(m, device, Precision::FP32);
    auto& model = m.model;
    const std::string dataset = m.config.dataset;
    const auto labels = read_labels(a->labels);
    const auto predictions = predict_images(*model, dataset_spec(dataset), list_images(a->images), a->top, device, options.batch_size);
    auto label = [&](int64_t c) { return c < static_cast<int64_t>(labels.size()) ? labels[static_cast<size_t>(c)] : ""; };
    nlohmann::json all = nlohmann::json::array();
    size_t failed = 0;
    for (const auto& p : predictions) {
      failed += !p.error.empty();
      if (a->json) {
        nlohmann::json top = nlohmann::json::array();
        for (const auto& [c, logit] : p.top) top.push_back({{"class", c}, {"label", label(c)}, {"logit", logit}});
        all.push_back({{"image", p.image}, {"top", top}, {"error", p.error.empty() ? nlohmann::json(nullptr) : nlohmann::json(p.error)}});
        continue;
      }
      fmt::print("{}\n", p.image);
      if (!p.error.empty()) fmt::print("  error: {}\n", p.error);
      for (size_t i = 0; i < p.top.size(); ++i)
        fmt::print("  {}. class {:>4} {:<24} logit {:9.4f}\n", i + 1, p.top[i].first, label(p.top[i].first), p.top[i].second);
    }
    if (a->json) fmt::print("{}\n", json_text(all, 2));
    if (failed > 0) fail("{} of {} images could not be read (listed above)", failed, predictions.size());
  });
}

}  // namespace domino::cli
