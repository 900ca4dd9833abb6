#include "commands.h"
#include "config_options.h"
#include "domino/core/error.h"
#include "domino/data/datasets.h"
#include "domino/engine/latency_table.h"
#include "domino/io/checkpoint.h"
#include "domino/models/layer_table.h"
#include "domino/models/models.h"
#include "domino/nm/baselines.h"
#include "domino/search/search.h"
#include "model_args.h"

namespace domino::cli {
namespace {

// A scheme's group options (M, layout, exclude; erk also candidates), named, typed and
// checked as the search's are.
struct BaseArgs {
  ModelArgs model;
  OptionFlags flags;
  std::string out;
  SearchOptions options;  // after parse()

  void add(CLI::App* c, std::vector<std::string> keys = {"M", "layout", "exclude", "latency-table"}) {
    model.add(c);
    flags.add(c, search_options(), SearchOptions{}, keys);
    c->add_option("--out", out, "scheme file to write")->required();
  }
  void parse() {
    options = search_options().merge(SearchOptions{}, flags.given(), "command line");
    validate(options);
  }
  Scheme dense() const {
    Scheme s;
    const auto table = model.table(s.model, s.dataset);
    const auto m = s.model, d = s.dataset;
    s = dense_scheme(table, options.M, options.layout, options.exclude);
    s.model = m;
    s.dataset = d;
    return s;
  }
  // With --latency-table: the scheme's layer times, at its Ns and at `candidates`.
  void attach_latency(Scheme& s, const std::vector<int64_t>& candidates = {}) const {
    if (!options.latency_table.empty()) engine::attach_latency_table(s, options.latency_table, candidates);
  }
};

void finish(const Scheme& s, const std::string& out) {
  save_scheme(s, out);
  fmt::print("{}scheme: {}\n", format_scheme_table(s), out);
}

}  // namespace

void add_scheme_command(CLI::App& app) {
  auto* command = app.add_subcommand("scheme", "Baseline schemes (uniform, ERK), policy conversion, and display");
  command->require_subcommand(1);

  auto* uniform = command->add_subcommand("uniform", "Every prunable layer the same N:M");
  auto u = std::make_shared<std::pair<BaseArgs, int64_t>>(BaseArgs{}, 2);
  u->first.add(uniform);
  uniform->add_option("--N", u->second, "N of every layer")->required();
  uniform->callback([u] {
    u->first.parse();
    auto s = uniform_scheme(u->first.dense(), u->second);
    u->first.attach_latency(s);
    const auto& o = u->first.options;
    s.options = {{"N", u->second}, {"M", o.M}, {"layout", to_string(o.layout)}, {"exclude", o.exclude}};
    finish(s, u->first.out);
  });

  auto* erk = command->add_subcommand("erk", "ERK sparsities rounded to candidate N, adjusted to meet the target");
  struct ErkArgs {
    BaseArgs base;
    std::string target;
  };
  auto e = std::make_shared<ErkArgs>();
  e->base.add(erk, {"M", "layout", "candidates", "exclude", "latency-table"});
  erk->add_option("--target", e->target, "params:S, flops:S, or latency:S (with --latency-table)")->required();
  erk->callback([e] {
    e->base.parse();
    const auto target = parse_target(e->target);
    const auto& o = e->base.options;
    auto base = e->base.dense();
    e->base.attach_latency(base, candidate_ns(o.M, o.candidates));  // a latency target counts them while rounding
    auto s = erk_scheme(base, target, candidate_ns(o.M, o.candidates));
    s.options = {{"target", to_string(target)}, {"M", o.M}, {"layout", to_string(o.layout)},
                 {"candidates", kCandidateSets.name(o.candidates)}, {"exclude", o.exclude}};
    finish(s, e->base.out);
  });

  struct FileArgs {
    ModelArgs model;
    std::string scheme, policy = "fixed-n", out, latency_table;
  };
  auto load = [](const FileArgs& f) {
    Scheme s;
    if (!f.model.given()) {
      s = load_scheme(f.scheme);
    } else {
      std::string model, dataset;
      const auto table = f.model.table(model, dataset);
      s = load_scheme(f.scheme, &table);
      check_scheme_fits(s, table, f.scheme);
      if (s.model.empty()) s.model = model;
      if (s.dataset.empty()) s.dataset = dataset;
    }
    if (!f.latency_table.empty()) engine::attach_latency_table(s, f.latency_table, {});
    return s;
  };

  auto* convert = command->add_subcommand("convert", "Map a fixed-M scheme to the fixed-N policy: N:M -> 1:(M/N)");
  auto c = std::make_shared<FileArgs>();
  c->model.add(convert);
  convert->add_option("--scheme", c->scheme, "scheme file (JSON, or the authors' format with --model)")->required();
  convert->add_option("--policy", c->policy, "target policy")->check(CLI::IsMember({"fixed-n"}))->capture_default_str();
  convert->add_option("--out", c->out, "scheme file to write")->required();
  convert->callback([c, load] { finish(to_fixed_n(load(*c)), c->out); });

  auto* show = command->add_subcommand("show", "Print a scheme file as a table (checks it against --model if given)");
  auto sh = std::make_shared<FileArgs>();
  sh->model.add(show);
  show->add_option("--scheme", sh->scheme, "scheme file (JSON, or the authors' format with --model)")->required();
  show->add_option("--latency-table", sh->latency_table, "also give the scheme's latency by this table (domino latency-table)");
  show->callback([sh, load] { fmt::print("{}", format_scheme_table(load(*sh))); });
}

}  // namespace domino::cli
