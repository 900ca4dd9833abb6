// domino: find and train layer-wise N:M sparse schemes for CNNs.
#include <c10/util/Exception.h>
#include <fmt/format.h>

#include <cstdio>

#include "commands.h"
#include "domino/core/error.h"
#include "domino/core/report.h"
#include "domino/core/runtime.h"
#include "domino/dist/launch_env.h"

namespace {

// In a data-parallel launch every rank runs the same command; rank 0 alone prints what it
// produced and the library's notes (the others' stdout goes nowhere), while any rank's
// warnings and errors still reach stderr, warnings with the rank named.
void quiet_unless_rank_zero() {
  const auto env = domino::dist::launch_env();
  if (!env || env->rank == 0) return;
  if (!std::freopen("/dev/null", "w", stdout)) domino::fail("cannot silence rank {}", env->rank);
  domino::set_reporter([rank = env->rank](domino::ReportKind kind, const std::string& message) {
    if (kind == domino::ReportKind::Warning) fmt::print(stderr, "warning (rank {}): {}\n", rank, message);
  });
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{
      "domino: finds layer-wise N:M sparse schemes for a dense CNN (DominoSearch) and trains it into them.\n"
      "Pipeline: train (dense) or --pretrained weights -> search -> finetune -> export. Run `domino COMMAND --help` for a command's options."};
  app.require_subcommand(1);
  app.set_help_all_flag("--help-all", "Show the help of every command");
  domino::cli::add_train_command(app);
  domino::cli::add_eval_command(app);
  domino::cli::add_info_command(app);
  domino::cli::add_search_command(app);
  domino::cli::add_scheme_command(app);
  domino::cli::add_finetune_command(app);
  domino::cli::add_export_command(app);
  domino::cli::add_verify_command(app);
  domino::cli::add_experiment_command(app);
  domino::cli::add_predict_command(app);
  domino::cli::add_bench_infer_command(app);
  domino::cli::add_latency_table_command(app);
  domino::cli::add_launch_command(app);
  domino::install_interrupt_handler();
  domino::keep_freed_memory();
  try {
    quiet_unless_rank_zero();
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  } catch (const domino::Error& e) {
    fmt::print(stderr, "error: {}\n", e.what());
    return 1;
  } catch (const c10::Error& e) {
    // LibTorch's own messages carry a C++ backtrace; the first line is what matters.
    const std::string what = e.what_without_backtrace();
    fmt::print(stderr, "error: {}\n", what.substr(0, what.find('\n')));
    return 1;
  } catch (const std::exception& e) {
    fmt::print(stderr, "internal error: {}\n", e.what());
    return 2;
  }
  return 0;
}
