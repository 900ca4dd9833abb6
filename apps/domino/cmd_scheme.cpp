#include "commands.h"
#include "domino/core/error.h"
#include "domino/data/datasets.h"
#include "domino/io/checkpoint.h"
#include "domino/models/layer_table.h"
#include "domino/models/models.h"
#include "domino/nm/baselines.h"
#include "model_args.h"

namespace domino::cli {
namespace {

struct BaseArgs {
  ModelArgs model;
  int64_t M = 16;
  std::string layout = "NHWC";
  std::vector<std::string> exclude;
  std::string out;

  void add(CLI::App* c) {
    model.add(c);
    c->add_option("--M", M, "group size M")->check(CLI::IsMember({4, 8, 16, 32}))->capture_default_str();
    c->add_option("--layout", layout, "NHWC or NCHW")->check(CLI::IsMember({"NHWC", "NCHW"}))->capture_default_str();
    c->add_option("--exclude", exclude, "layer-name globs to keep dense (repeatable)");
    c->add_option("--out", out, "scheme file to write")->required();
  }
  Scheme dense() const {
    Scheme s;
    const auto table = model.table(s.model, s.dataset);
    const auto m = s.model, d = s.dataset;
    s = dense_scheme(table, M, parse_layout(layout), exclude);
    s.model = m;
    s.dataset = d;
    return s;
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
    auto s = uniform_scheme(u->first.dense(), u->second);
    s.options = {{"N", u->second}, {"M", u->first.M}, {"layout", u->first.layout}, {"exclude", u->first.exclude}};
    finish(s, u->first.out);
  });

  auto* erk = command->add_subcommand("erk", "ERK sparsities rounded to candidate N, adjusted to meet the target");
  struct ErkArgs {
    BaseArgs base;
    std::string target, candidates = "pow2";
  };
  auto e = std::make_shared<ErkArgs>();
  e->base.add(erk);
  erk->add_option("--target", e->target, "params:S or flops:S")->required();
  erk->add_option("--candidates", e->candidates, "pow2 or all")->check(CLI::IsMember(kCandidateSets.names()))->capture_default_str();
  erk->callback([e] {
    const auto target = parse_target(e->target);
    auto s = erk_scheme(e->base.dense(), target, candidate_ns(e->base.M, kCandidateSets.parse(e->candidates, "candidate set")));
    s.options = {{"target", to_string(target)}, {"M", e->base.M}, {"layout", e->base.layout},
                 {"candidates", e->candidates}, {"exclude", e->base.exclude}};
    finish(s, e->base.out);
  });

  struct FileArgs {
    ModelArgs model;
    std::string scheme, policy = "fixed-n", out;
  };
  auto load = [](const FileArgs& f) {
    if (!f.model.given()) return load_scheme(f.scheme);
    std::string model, dataset;
    const auto table = f.model.table(model, dataset);
    auto s = load_scheme(f.scheme, &table);
    check_scheme_fits(s, table, f.scheme);
    if (s.model.empty()) s.model = model;
    if (s.dataset.empty()) s.dataset = dataset;
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
  show->callback([sh, load] { fmt::print("{}", format_scheme_table(load(*sh))); });
}

}  // namespace domino::cli
