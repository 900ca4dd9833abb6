#include "commands.h"
#include "domino/data/datasets.h"
#include "domino/models/layer_table.h"
#include "domino/models/models.h"
#include "io/files.h"

namespace domino::cli {

void add_info_command(CLI::App& app) {
  auto* command = app.add_subcommand("info", "Print a model's prunable-layer table (no dataset files needed)");
  command->footer(fmt::format("Models: {}\nDatasets: {}", fmt::join(model_names(), ", "), fmt::join(dataset_names(), ", ")));
  struct Args {
    std::string model = "resnet20", dataset = "fashion-mnist";
    bool json = false;
  };
  auto args = std::make_shared<Args>();
  command->add_option("--model", args->model, "model from the zoo")->capture_default_str();
  command->add_option("--dataset", args->dataset, "dataset whose input size and classes to use")->capture_default_str();
  command->add_flag("--json", args->json, "print JSON (per layer and totals) instead of a table");
  command->callback([args] {
    const auto& spec = dataset_spec(args->dataset);
    auto model = make_model(args->model, {spec.shape.channels, spec.num_classes});
    const auto table = build_layer_table(*model, spec.shape);
    if (args->json) {
      auto j = to_json(table);
      j["model"] = args->model;
      j["dataset"] = args->dataset;
      fmt::print("{}\n", json_text(j, 2));
    } else {
      fmt::print("{} on {} ({} classes)\n{}", args->model, args->dataset, spec.num_classes, format_layer_table(table));
    }
  });
}

}  // namespace domino::cli
