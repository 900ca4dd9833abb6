// Each `domino` subcommand registers itself on the app.
#pragma once

#include <CLI/CLI.hpp>
#include <fmt/format.h>

namespace domino::cli {

void add_train_command(CLI::App& app);
void add_eval_command(CLI::App& app);
void add_info_command(CLI::App& app);
void add_search_command(CLI::App& app);
void add_scheme_command(CLI::App& app);
void add_finetune_command(CLI::App& app);
void add_export_command(CLI::App& app);
void add_verify_command(CLI::App& app);
void add_experiment_command(CLI::App& app);
void add_predict_command(CLI::App& app);
void add_bench_infer_command(CLI::App& app);
void add_launch_command(CLI::App& app);
void add_latency_table_command(CLI::App& app);

// For commands that are one process's work (timing, printing predictions): started under a
// data-parallel launch of more than one rank, an error saying `why` — not N copies racing
// for the CPU and the same output.
void refuse_launch(const char* command, const char* why);

}  // namespace domino::cli
