// Experiments: a grid of cells — scheme source × budget × seed — each fine-tuned from one
// dense model and evaluated, with every cell's outputs cached so a killed experiment
// resumes where it stopped. Produces a results table (Markdown, CSV) and an HTML report.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "domino/jobs/finetune_job.h"
#include "domino/jobs/search_job.h"

namespace domino {

struct ExperimentSpec {
  std::string name;
  std::string out;
  std::string dense_checkpoint;  // an existing dense model, or
  std::string dense_train;       // a `domino train` YAML config: trained once into <out>/dense
  int64_t M = 16;
  Layout layout = Layout::NHWC;
  CandidateSet candidates = CandidateSet::Pow2;
  std::vector<std::string> budgets;  // "params:0.875", "flops:0.75", ...
  // dominosearch, dominosearch-no-eta, fixed-n (the DominoSearch result mapped), uniform, erk
  std::vector<std::string> schemes;
  std::vector<uint64_t> seeds = {0};
  // search options (lambda, kp, kc, vr, beta1, beta2, exclude) and the search's lr,
  // batch-size and max-iters
  nlohmann::json search = nlohmann::json::object();
  // Where searches (<cache>/<source>/<budget>/) and fine-tuned cells (<cache>/cells/...) are
  // kept: <out>, unless shared with another experiment on the same dense model, so that
  // what both ask for runs once. A cell fine-tuned with other options is an error; searches
  // are taken as they are, so share a cache only between equal `search` options.
  std::string cache;
  // A `domino latency-table` file of the dense model: needed by latency:R budgets; with it
  // every cell also reports its scheme's latency by the table, and the whole forward of a
  // model of its scheme measured under the engine at the table's batch size and threads.
  std::string latency_table;
  nlohmann::json finetune = nlohmann::json::object();  // recipe, then any training option (epochs, lr, ...)
  // How to run every stage of every cell: the run options of experiment_run_keys() (threads,
  // device, precision, memory-format, dist-timeout, dist-backend), as a training config
  // holds them (defaults: train's); its other fields are unused. Precision applies to every stage it runs
  // (dense training, searches, fine-tuning) unless `finetune` names its own; it is part of
  // what is computed, so cached cells and searches must match it.
  TrainConfig run;
};

ExperimentSpec load_experiment(const std::string& yaml_path);  // checks every key and value

// The run options an experiment takes (threads, device, precision, memory-format,
// dist-timeout, dist-backend), as a training config names them; `options` (of `source`) replaces the spec's values, checked.
const std::vector<std::string>& experiment_run_keys();
void apply_run_options(ExperimentSpec& spec, const nlohmann::json& options, const std::string& source);

struct CellResult {
  std::string scheme, budget;
  uint64_t seed = 0;
  double top1 = 0, top5 = 0;
  double sparse_params = 0, sparse_flops = 0, param_sparsity = 0, flops_reduction = 0;
  std::optional<double> latency_ms, latency_reduction;  // by the experiment's latency table
  // Measured at the end of the experiment, every scheme in interleaved rounds at the table's
  // batch size and threads: the whole forward under the engine, and LibTorch's dense one.
  std::optional<double> forward_ms, dense_forward_ms;
  double search_seconds = 0, finetune_seconds = 0;
};

struct ExperimentResult {
  std::vector<CellResult> cells;
  std::string table_md, table_csv, report_html;
};

// Launched data-parallel (torchrun's variables), every stage of every cell runs on all the
// ranks; rank 0 writes the cache, tables and report. The ranks must share the out/cache
// directory (one machine, or a shared filesystem): they decide alike what is cached, and
// stop with an error if they do not.
ExperimentResult run_experiment(const ExperimentSpec& spec);

}  // namespace domino
