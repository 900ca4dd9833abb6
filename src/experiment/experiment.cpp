#include "domino/experiment/experiment.h"

#include <torch/torch.h>

#include <cmath>
#include <filesystem>
#include <map>
#include <set>

#include "domino/core/error.h"
#include "domino/core/names.h"
#include "domino/core/report.h"
#include "domino/core/runtime.h"
#include "domino/data/datasets.h"
#include "domino/engine/latency_table.h"
#include "domino/io/checkpoint.h"
#include "domino/jobs/train_job.h"
#include "domino/models/layer_table.h"
#include "domino/nm/baselines.h"
#include "domino/train/precision.h"
#include "experiment/report.h"
#include "io/files.h"
#include "io/run_dir.h"
#include "jobs/run.h"

namespace fs = std::filesystem;

namespace domino {
namespace {

const std::set<std::string> kSchemes = {"dominosearch", "dominosearch-no-eta", "fixed-n", "uniform", "erk"};

std::string slug(const std::string& budget) {
  std::string s = budget;
  std::replace(s.begin(), s.end(), ':', '-');
  return s;
}

// An experiment's `search:` map: search options (target, M, layout, candidates and eta come
// from the experiment's budgets, M, layout, candidates and scheme sources), and the
// search's training options.
const std::vector<std::string> kSearchMapOptions = {"lambda", "kp", "kc", "vr", "beta1", "beta2", "exclude"};
const std::vector<std::string> kSearchMapTraining = {"lr", "batch-size", "max-iters"};
// An experiment's run options, as a training config names them.
const std::vector<std::string> kRunKeys = {"threads", "device", "precision", "memory-format", "dist-timeout", "dist-backend"};

// The entries of `j` named in `keys`.
nlohmann::json pick(const nlohmann::json& j, const std::vector<std::string>& keys) {
  nlohmann::json out = nlohmann::json::object();
  for (const auto& key : keys)
    if (j.contains(key)) out[key] = j.at(key);
  return out;
}

template <typename T>
T get(const nlohmann::json& j, const char* key, const std::string& source, T fallback) {
  if (!j.contains(key)) return fallback;
  try {
    return j.at(key).get<T>();
  } catch (const nlohmann::json::exception&) {
    fail("{}: '{}' has the wrong type ({})", source, key, json_text(j.at(key)));
  }
}

class Runner {
 public:
  explicit Runner(const ExperimentSpec& spec)
      : spec_(spec), out_(spec.out), cache_(spec.cache.empty() ? spec.out : spec.cache) {}

  ExperimentResult run() {
    RunContext run;
    set_run_options(run);
    group_ = place(run).group;  // launched data-parallel: every job below runs on the ranks
    // One experiment at a time in `out`; its cells resume by design, so nothing there is refused.
    std::optional<RunDirLock> lock;
    if (writes()) lock.emplace(out_.string(), RunDirMode::Force, "");
    const std::string dense = dense_checkpoint();
    const auto checkpoint = load_checkpoint(dense);
    dense_config_ = merge_config(TrainConfig{}, checkpoint.config, dense);
    dense_scheme_ = dense_scheme_of(checkpoint);
    model_options_ = checkpoint.model_options;
    if (!spec_.latency_table.empty())  // the baselines' and cells' latency; checked against the model now
      engine::attach_latency_table(dense_scheme_, spec_.latency_table, candidate_ns(spec_.M, spec_.candidates));
    ExperimentResult result;
    std::vector<Scheme> schemes;
    std::vector<size_t> scheme_of_cell;
    for (const auto& budget : spec_.budgets) {
      const auto target = parse_target(budget);
      for (const auto& source : spec_.schemes) {
        auto [scheme, search_seconds] = scheme_for(source, target, dense);
        for (uint64_t seed : spec_.seeds) {
          result.cells.push_back(cell(source, budget, seed, scheme, search_seconds, dense));
          scheme_of_cell.push_back(schemes.size());
        }
        schemes.push_back(std::move(scheme));
      }
    }
    if (!spec_.latency_table.empty() && writes()) time_forwards(result.cells, scheme_of_cell, schemes);
    result.table_md = results_markdown(result.cells);
    result.table_csv = results_csv(result.cells);
    result.report_html = render_report(spec_.name, result.cells, schemes);
    if (writes())
      for (const auto& [file, text] : {std::pair{"results.md", &result.table_md}, {"results.csv", &result.table_csv},
                                       {"report.html", &result.report_html}})
        write_file_atomic((out_ / file).string(), [body = text](std::ostream& out) { out << *body; });  // (clang: no captured bindings)
    return result;
  }

 private:
  bool writes() const { return !group_ || group_->rank() == 0; }

  // Every job's run options: the experiment's (precision is set by each stage).
  template <typename C>
  void set_run_options(C& c) const {
    c.threads = spec_.run.threads;
    c.device = spec_.run.device;
    c.memory_format = spec_.run.memory_format;
    c.dist_timeout = spec_.run.dist_timeout;
    c.dist_backend = spec_.run.dist_backend;
  }

  // `seen` (a file found in the cache), as every rank saw it: ranks that see different
  // caches would run different jobs and wait on each other, so that is an error instead.
  bool agreed(bool seen, const fs::path& what) const {
    if (group_)
      group_->check_same(seen ? 1 : 0, fmt::format("whether {} exists (the ranks of an experiment must share its out/cache "
                                                   "directory: one machine or a shared filesystem)", what.string()));
    return seen;
  }

  // Rank 0 wrote a file the others read next: they wait for it.
  void written() const {
    if (group_) group_->barrier();
  }

  std::string dense_checkpoint() {
    if (!spec_.dense_checkpoint.empty()) return spec_.dense_checkpoint;
    const fs::path dir = out_ / "dense";
    const std::string path = checkpoint_path(dir.string());
    if (agreed(fs::exists(dir / "result.json"), dir / "result.json")) return path;  // cached
    auto config = merge_config(TrainConfig{}, load_yaml_file(spec_.dense_train), spec_.dense_train);
    config.out = dir.string();
    set_run_options(config);
    config.precision = spec_.run.precision;
    config.resume = fs::exists(path);
    config.force = !config.resume;  // the experiment owns its directories; a run killed before its first checkpoint restarts
    note("[{}] dense model -> {}", spec_.name, path);
    run_train_job(config);
    return path;
  }

  // The scheme of a source at a budget, and the search time behind it (0 for baselines).
  std::pair<Scheme, double> scheme_for(const std::string& source, const Target& target, const std::string& dense) {
    if (source == "dominosearch" || source == "dominosearch-no-eta") return searched(source, target, dense);
    if (source == "fixed-n") {
      auto [s, seconds] = searched("dominosearch", target, dense);
      s = to_fixed_n(s);
      s.source = "fixed-n";
      return {s, seconds};
    }
    const Scheme& base = dense_scheme_;
    Scheme s;
    if (source == "uniform" && target.kind == TargetKind::Latency) {
      s = uniform_at_latency(base, target);
    } else if (source == "uniform") {
      const double n = static_cast<double>(spec_.M) * (1.0 - target.value);
      const auto candidates = candidate_ns(spec_.M, spec_.candidates);
      if (std::abs(n - std::round(n)) > 1e-9 || std::find(candidates.begin(), candidates.end(), std::llround(n)) == candidates.end())
        fail("no uniform N:{} gives {} (N = {:.3f} is not a candidate)", spec_.M, to_string(target), n);
      s = uniform_scheme(base, std::llround(n));
    } else {
      s = erk_scheme(base, target, candidate_ns(spec_.M, spec_.candidates));
    }
    s.target = target;
    if (writes()) save_scheme(s, (out_ / "schemes" / source / (slug(to_string(target)) + ".json")).string());
    return {s, 0.0};
  }

  // Uniform at a latency budget: the largest candidate N whose scheme meets it by the table
  // (the densest uniform scheme as fast as asked).
  Scheme uniform_at_latency(const Scheme& base, const Target& target) const {
    auto candidates = candidate_ns(spec_.M, spec_.candidates);
    std::sort(candidates.rbegin(), candidates.rend());
    for (int64_t n : candidates) {
      auto s = uniform_scheme(base, n);
      if (s.latency_reduction() >= target.value - 0.001) return s;
    }
    fail("no uniform N:{} reaches {} by the latency table {} (1:{} gives {:.4f})", spec_.M, to_string(target),
         spec_.latency_table, spec_.M, uniform_scheme(base, candidates.back()).latency_reduction());
  }

  std::pair<Scheme, double> searched(const std::string& source, const Target& target, const std::string& dense) {
    const fs::path dir = cache_ / source / slug(to_string(target));
    const fs::path scheme_file = dir / "scheme.json";
    const std::string precision = to_string(resolve_precision(spec_.run.precision, resolve_device(spec_.run.device)));
    if (agreed(fs::exists(scheme_file), scheme_file)) {
      auto s = load_scheme(scheme_file.string());
      s.source = source;
      const std::string searched_in = s.options.is_object() ? s.options.value("precision", "fp32") : "fp32";
      if (searched_in != precision)
        fail("the cached search {} ran in {}, this experiment asks for {}; give the experiment another out/cache, or "
             "set precision: {}", dir.string(), searched_in, precision, searched_in);
      if (s.achieved(target.kind) >= target.value - 0.001) return {s, s.run.value("seconds", 0.0)};
    }
    SearchJob job;
    job.checkpoint = dense;
    job.options.target = target;
    job.options.M = spec_.M;
    job.options.layout = spec_.layout;
    job.options.candidates = spec_.candidates;
    job.options.use_eta = source == "dominosearch";
    job.options.latency_table = spec_.latency_table;
    const std::string where = spec_.name + " search";
    job.options = search_options().merge(job.options, pick(spec_.search, kSearchMapOptions), where);
    job.train = merge_config(job.train, pick(spec_.search, kSearchMapTraining), where);
    auto& t = job.train;
    set_run_options(t);
    t.precision = precision;
    t.out = dir.string();
    t.resume = fs::exists(dir / "checkpoint.pt");
    t.force = !t.resume;
    note("[{}] {} at {} -> {}", spec_.name, source, to_string(target), dir.string());
    auto r = run_search_job(job);
    r.scheme.source = source;
    return {r.scheme, r.scheme.run.value("seconds", 0.0)};
  }

  // A cached cell counts only if it was fine-tuned with the options asked for now (a
  // changed config, or a cache shared with another experiment, must not pass silently).
  static void check_same_computation(const nlohmann::json& cached, const TrainConfig& now, const fs::path& dir) {
    const auto wanted = to_json(now), defaults = to_json(legacy_config_defaults());  // keys newer than the file: what runs did before them
    if (!cached.is_object())
      fail("{}: not a config this tool wrote (expected a mapping); remove the cell {} to fine-tune it again",
           (dir / "config.json").string(), dir.string());
    std::vector<std::string> differ;
    for (const auto& key : train_options().keys())
      if (!key.run_only && cached.value(key.name, defaults.at(key.name)) != wanted.at(key.name)) differ.push_back(key.name);
    if (!differ.empty())
      fail("the cached cell {} was fine-tuned with other options ({}); remove it, or give the experiment another out/cache",
           dir.string(), fmt::join(differ, ", "));
  }

  // A finished cell's result; a damaged one is named, with what to do about it.
  static FinetuneResult read_cell_result(const fs::path& dir) {
    try {
      return read_finetune_result(dir.string());
    } catch (const Error& e) {
      fail("{}; remove the cell {} to fine-tune it again", e.what(), dir.string());
    }
  }

  // Per-layer name and N:M: what makes two schemes the same fine-tuning.
  static std::string layer_signature(const Scheme& scheme) {
    std::string out;
    for (const auto& l : scheme.layers) out += fmt::format("{}={}:{},", l.name, l.N, l.M);
    return out;
  }

  // A cached cell (finished or half-way) holds a scheme; one searched anew since, or taken
  // from a shared cache with other search options, must not be reported under its name.
  static void check_same_scheme(const Scheme& cached, const Scheme& now, const fs::path& dir) {
    if (layer_signature(cached) != layer_signature(now))
      fail("the cached cell {} was fine-tuned from another scheme than the one asked for now (was its search rerun?); "
           "remove the cell, or give the experiment another out/cache", dir.string());
  }

  // Every prunable layer dense: the base of the baseline schemes.
  Scheme dense_scheme_of(const Checkpoint& checkpoint) const {
    const auto& spec = dataset_spec(dense_config_.dataset);
    auto model = make_model(checkpoint.model, checkpoint.model_options);
    auto s = dense_scheme(build_layer_table(*model, spec.shape), spec_.M, spec_.layout);
    s.model = checkpoint.model;
    s.dataset = dense_config_.dataset;
    return s;
  }

  CellResult cell(const std::string& source, const std::string& budget, uint64_t seed, const Scheme& scheme,
                  double search_seconds, const std::string& dense) {
    // The same scheme at another budget (uniform 4:16 is params:0.75 and flops:0.75) is fine-tuned once.
    const auto [known, first] = cell_dirs_.emplace(fmt::format("{}|{}|{}", source, seed, layer_signature(scheme)),
                                                   cache_ / "cells" / source / slug(budget) / fmt::format("seed{}", seed));
    const fs::path dir = known->second;
    if (!first) note("[{}] {} at {} seed {}: the scheme of {}, fine-tuned once", spec_.name, source, budget, seed, dir.string());
    FinetuneJob job;
    job.checkpoint = dense;
    job.scheme = (dir / "input-scheme.json").string();
    auto base = finetune_recipe(get(spec_.finetune, "recipe", spec_.name + " finetune", std::string("cifar")), dense_config_);
    auto overrides = spec_.finetune;
    overrides.erase("recipe");
    job.config = merge_config(base, overrides, spec_.name + " finetune");
    job.config.seed = seed;
    {
      const auto own = job.config;  // what `finetune:` names itself stays
      set_run_options(job.config);
      for (const auto& key : {"device", "memory-format", "dist-timeout", "dist-backend"})
        if (spec_.finetune.contains(key)) job.config = copy_options(own, job.config, {key});
    }
    if (!spec_.finetune.contains("precision")) job.config.precision = spec_.run.precision;
    // What the cell computes in, resolved as its run will (config.json records the resolved name).
    job.config.precision = to_string(resolve_precision(job.config.precision, resolve_device(job.config.device)));
    job.config.out = dir.string();
    job.config.resume = fs::exists(dir / "checkpoint.pt");
    job.config.force = !job.config.resume;
    if (fs::exists(dir / "config.json")) check_same_computation(read_json_file((dir / "config.json").string()), job.config, dir);
    if (fs::exists(job.scheme)) check_same_scheme(load_scheme(job.scheme), scheme, dir);
    FinetuneResult r;
    if (agreed(fs::exists(dir / "result.json"), dir / "result.json")) {
      r = read_cell_result(dir);
    } else {
      if (writes()) {
        fs::create_directories(dir);
        save_scheme(scheme, job.scheme);
      }
      written();  // the job reads the scheme on every rank
      note("[{}] fine-tune {} at {} seed {} -> {}", spec_.name, source, budget, seed, dir.string());
      r = run_finetune_job(job);
    }
    CellResult c;
    c.scheme = source;
    c.budget = budget;
    c.seed = seed;
    c.top1 = r.test.top1;
    c.top5 = r.test.top5;
    c.sparse_params = scheme.sparse_params();
    c.sparse_flops = scheme.sparse_flops();
    c.param_sparsity = scheme.param_sparsity();
    c.flops_reduction = scheme.flops_reduction();
    if (scheme.latency) {
      c.latency_ms = scheme.sparse_latency_ms();
      c.latency_reduction = scheme.latency_reduction();
    }
    c.search_seconds = search_seconds;
    c.finetune_seconds = r.train.seconds;
    return c;
  }

  // Every scheme the table times, end to end under the engine, at the table's batch size and
  // threads, in interleaved rounds (one process measuring: rank 0, after the training).
  void time_forwards(std::vector<CellResult>& cells, const std::vector<size_t>& scheme_of_cell,
                     const std::vector<Scheme>& schemes) const {
    const auto table = engine::latency_table_from_json(read_json_file(spec_.latency_table), spec_.latency_table);
    std::vector<Scheme> timed;                 // distinct per-layer N:M, in order
    std::map<std::string, size_t> index;       // signature -> position in `timed`
    for (const auto& s : schemes)
      if (s.latency && index.emplace(layer_signature(s), timed.size()).second) timed.push_back(s);
    if (timed.empty()) return;
    engine::LatencyOptions o;
    o.batch_size = table.key.input.empty() ? 1 : table.key.input[0];
    if (table.repeats > 0) o.warmup = table.warmup, o.repeats = table.repeats, o.rounds = table.rounds;
    const int threads = at::get_num_threads();
    at::set_num_threads(std::max(1, table.key.threads));
    note("[{}] timing {} schemes end to end under the engine (batch {}, {} threads, {} rounds)", spec_.name, timed.size(),
         o.batch_size, at::get_num_threads(), o.rounds);
    const auto& spec = dataset_spec(dense_config_.dataset);
    const auto measured = engine::measure_forward_latencies(dense_scheme_.model, model_options_, spec.shape, timed, o);
    at::set_num_threads(threads);
    for (size_t i = 0; i < cells.size(); ++i) {
      const auto& s = schemes[scheme_of_cell[i]];
      if (!s.latency) continue;
      cells[i].forward_ms = measured.engine_ms[index.at(layer_signature(s))];
      cells[i].dense_forward_ms = measured.dense_ms;
    }
  }

  const ExperimentSpec& spec_;
  fs::path out_;
  fs::path cache_;
  std::map<std::string, fs::path> cell_dirs_;  // (source, seed, per-layer N:M) -> its cell
  dist::ProcessGroup* group_ = nullptr;        // launched data-parallel: the launch's
  TrainConfig dense_config_;
  ModelOptions model_options_;
  Scheme dense_scheme_;
};

// A misspelt key must not silently run the default ("max-iter: 5" ran 100 000 iterations).
void check_keys(const nlohmann::json& j, const std::set<std::string>& keys, const std::string& where) {
  if (!j.is_object()) fail("{}: expected a mapping, got {}", where, json_text(j));
  for (const auto& item : j.items())
    if (!keys.count(item.key())) fail_unknown("key", item.key(), {keys.begin(), keys.end()}, where);
}

}  // namespace

ExperimentSpec load_experiment(const std::string& path) {
  const auto j = load_yaml_file(path);
  check_keys(j, {"name", "out", "dense", "M", "layout", "candidates", "budgets", "schemes", "seeds", "search", "cache",
                 "finetune", "latency-table", "threads", "device", "precision", "memory-format", "dist-timeout",
                 "dist-backend"}, path);
  ExperimentSpec s;
  s.name = get(j, "name", path, fs::path(path).stem().string());
  s.out = get(j, "out", path, "runs/experiments/" + s.name);
  const auto dense = get(j, "dense", path, nlohmann::json::object());
  check_keys(dense, {"checkpoint", "train"}, path + ": dense");
  s.dense_checkpoint = get(dense, "checkpoint", path, std::string());
  s.dense_train = get(dense, "train", path, std::string());
  if (s.dense_checkpoint.empty() == s.dense_train.empty())
    fail("{}: 'dense' needs exactly one of 'checkpoint' (a dense model) or 'train' (a training config)", path);
  s.budgets = get(j, "budgets", path, std::vector<std::string>{});
  s.latency_table = get(j, "latency-table", path, std::string());
  s.schemes = get(j, "schemes", path, std::vector<std::string>{});
  for (const auto& name : s.schemes)
    if (!kSchemes.count(name)) fail_unknown("scheme source", name, {kSchemes.begin(), kSchemes.end()}, path);
  for (const auto& b : s.budgets) {
    if (parse_target(b).kind != TargetKind::Latency) continue;
    if (s.latency_table.empty())
      fail("{}: budget {} needs the dense model's latency table: latency-table: FILE (made by `domino latency-table`)", path, b);
    if (std::find(s.schemes.begin(), s.schemes.end(), "fixed-n") != s.schemes.end())
      fail("{}: budget {}: fixed-n gives layers their own M (1:(M/N)), which the latency table did not time; leave it "
           "out of a grid with latency budgets", path, b);
  }
  if (s.budgets.empty() || s.schemes.empty()) fail("{}: needs at least one budget and one scheme", path);
  if (j.contains("seeds"))
    for (const auto& seed : j.at("seeds").is_array() ? j.at("seeds") : nlohmann::json::array({j.at("seeds")}))
      if (!seed.is_number_integer() || seed.get<int64_t>() < 0)
        fail("{}: seeds must be a list of non-negative integers, got {}", path, json_text(j.at("seeds")));
  s.seeds = get(j, "seeds", path, s.seeds);
  s.search = get(j, "search", path, s.search);
  {  // M, layout, candidates and the search map's options: named and checked as the search's are, now
    std::set<std::string> keys(kSearchMapOptions.begin(), kSearchMapOptions.end());
    keys.insert(kSearchMapTraining.begin(), kSearchMapTraining.end());
    check_keys(s.search, keys, path + ": search");
    const auto& table = search_options();
    const auto o = table.merge(table.merge(SearchOptions{}, pick(j, {"M", "layout", "candidates"}), path),
                               pick(s.search, kSearchMapOptions), path + ": search");
    validate(o);
    s.M = o.M;
    s.layout = o.layout;
    s.candidates = o.candidates;
    merge_config(TrainConfig{}, pick(s.search, kSearchMapTraining), path + ": search");
  }
  s.cache = get(j, "cache", path, s.out);
  s.finetune = get(j, "finetune", path, s.finetune);
  auto training_options = s.finetune;  // checked now, not when the first cell starts hours later
  if (training_options.is_object()) training_options.erase("recipe");
  merge_config(TrainConfig{}, training_options, path + ": finetune");
  apply_run_options(s, pick(j, kRunKeys), path);
  return s;
}

const std::vector<std::string>& experiment_run_keys() { return kRunKeys; }

void apply_run_options(ExperimentSpec& spec, const nlohmann::json& options, const std::string& source) {
  spec.run = train_options().merge(spec.run, options, source, kRunKeys);
  validate(spec.run);
}

ExperimentResult run_experiment(const ExperimentSpec& spec) { return Runner(spec).run(); }

}  // namespace domino
