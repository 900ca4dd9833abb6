// Where a scheme's layers come from: --model/--dataset, or a checkpoint's model. Shared by
// the commands that read schemes (scheme, verify): the authors' text format names layers
// by position, so reading it needs the model's layer table.
#pragma once

#include <CLI/CLI.hpp>

#include <optional>
#include <string>

#include "domino/core/error.h"
#include "domino/data/datasets.h"
#include "domino/io/checkpoint.h"
#include "domino/models/layer_table.h"
#include "domino/models/models.h"

namespace domino::cli {

struct ModelArgs {
  std::string model, dataset, checkpoint;

  void add(CLI::App* c, bool with_checkpoint = true) {
    c->add_option("--model", model, "model from the zoo");
    c->add_option("--dataset", dataset, "dataset whose input size and classes to use");
    if (with_checkpoint) c->add_option("--checkpoint", checkpoint, "take model and dataset from this checkpoint instead");
  }
  bool given() const { return !checkpoint.empty() || !model.empty(); }
  // The layer table, and the model and dataset names it is of; `loaded` stands in for
  // --checkpoint when the caller has read one already.
  LayerTable table(std::string& model_name, std::string& dataset_name, const Checkpoint* loaded = nullptr) const {
    model_name = model;
    dataset_name = dataset.empty() ? "fashion-mnist" : dataset;
    std::optional<Checkpoint> from_file;
    if (!loaded && !checkpoint.empty()) loaded = &from_file.emplace(load_checkpoint(checkpoint));
    if (loaded) {
      if (model.empty()) model_name = loaded->model;
      if (dataset.empty()) dataset_name = loaded->config.value("dataset", dataset_name);
    }
    if (model_name.empty()) fail("say which model: --model NAME or --checkpoint FILE");
    const auto& spec = dataset_spec(dataset_name);
    // A checkpoint's own class count (an ImageFolder dataset has as many as its folders).
    const bool same_model = loaded && loaded->model == model_name;
    auto net = make_model(model_name, same_model ? loaded->model_options : ModelOptions{spec.shape.channels, spec.num_classes});
    return build_layer_table(*net, spec.shape);
  }
};

}  // namespace domino::cli
