// `domino launch`: torchrun for users without Python. Starts this machine's ranks of a
// data-parallel run as child processes with the variables torchrun sets, forwards Ctrl-C
// and SIGTERM once, and stops the others when one fails.
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "commands.h"
#include "domino/core/error.h"
#include "domino/core/runtime.h"

namespace domino::cli {
namespace {

struct LaunchArgs {
  int nproc_per_node = 1, nnodes = 1, node_rank = 0, master_port = 29500;
  std::string master_addr = "127.0.0.1";
  double grace_seconds = 30;
  std::vector<std::string> command;
};

// The child: its own process group (the terminal's Ctrl-C reaches the launcher alone, which
// forwards it once), told SIGTERM if the launcher dies, then this same executable.
[[noreturn]] void exec_rank(const LaunchArgs& a, int local_rank) {
  setpgid(0, 0);
  prctl(PR_SET_PDEATHSIG, SIGTERM);
  const int world = a.nnodes * a.nproc_per_node;
  setenv("RANK", std::to_string(a.node_rank * a.nproc_per_node + local_rank).c_str(), 1);
  setenv("WORLD_SIZE", std::to_string(world).c_str(), 1);
  setenv("LOCAL_RANK", std::to_string(local_rank).c_str(), 1);
  setenv("LOCAL_WORLD_SIZE", std::to_string(a.nproc_per_node).c_str(), 1);
  setenv("MASTER_ADDR", a.master_addr.c_str(), 1);
  setenv("MASTER_PORT", std::to_string(a.master_port).c_str(), 1);
  std::vector<char*> argv = {const_cast<char*>("domino")};
  for (const auto& arg : a.command) argv.push_back(const_cast<char*>(arg.c_str()));
  argv.push_back(nullptr);
  execv("/proc/self/exe", argv.data());
  std::perror("domino launch: cannot start a rank");
  _exit(127);
}

std::string describe_exit(int status) {
  if (WIFSIGNALED(status)) return fmt::format("was killed by signal {} ({})", WTERMSIG(status), strsignal(WTERMSIG(status)));
  return fmt::format("exited with code {}", WEXITSTATUS(status));
}

void run_launch(const LaunchArgs& a) {
  if (a.nproc_per_node < 1 || a.nnodes < 1) fail("nproc-per-node and nnodes must be positive");
  if (a.node_rank < 0 || a.node_rank >= a.nnodes) fail("node-rank {} is not in [0, {})", a.node_rank, a.nnodes);
  if (a.command.empty() || a.command.front() == "launch") fail("give the command to run after --, e.g. -- train --out runs/dp");
  std::fflush(nullptr);
  std::vector<pid_t> ranks;  // by local rank; 0 once it has exited
  for (int r = 0; r < a.nproc_per_node; ++r) {
    const pid_t pid = fork();
    if (pid < 0) fail("cannot start local rank {}: fork failed", r);
    if (pid == 0) exec_rank(a, r);
    ranks.push_back(pid);
  }
  using Clock = std::chrono::steady_clock;
  std::optional<std::pair<int, int>> failed;  // (global rank, wait status) of the first to fail
  std::optional<Clock::time_point> kill_at;
  bool forwarded = false;
  auto signal_all = [&](int sig) {
    for (pid_t pid : ranks)
      if (pid > 0) kill(pid, sig);
  };
  for (int alive = a.nproc_per_node; alive > 0;) {
    int status = 0;
    const pid_t pid = waitpid(-1, &status, WNOHANG);
    if (pid > 0) {
      for (int r = 0; r < a.nproc_per_node; ++r)
        if (ranks[static_cast<size_t>(r)] == pid) {
          ranks[static_cast<size_t>(r)] = 0;
          --alive;
          const bool ok = WIFEXITED(status) && WEXITSTATUS(status) == 0;
          if (!ok && !failed) {
            failed = {{a.node_rank * a.nproc_per_node + r, status}};
            signal_all(SIGTERM);  // the others would wait for it until their timeout
            kill_at = Clock::now() + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(a.grace_seconds));
          }
        }
      continue;
    }
    if (interrupt_requested() && !forwarded) {
      signal_all(SIGINT);  // each rank saves a checkpoint and stops
      forwarded = true;
    }
    if (kill_at && Clock::now() >= *kill_at) signal_all(SIGKILL);
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  if (failed)
    fail("rank {} {}; the other ranks on this node were stopped (its own error, if any, is above)", failed->first,
         describe_exit(failed->second));
}

}  // namespace

void add_launch_command(CLI::App& app) {
  auto* command = app.add_subcommand("launch", "Run a command data-parallel: start this machine's ranks, as torchrun does");
  command->footer(
      "Each rank gets RANK, WORLD_SIZE, LOCAL_RANK, LOCAL_WORLD_SIZE, MASTER_ADDR and MASTER_PORT, as from torchrun.\n"
      "A rank that fails stops the others on this node; Ctrl-C and SIGTERM are passed on once (ranks save, then stop).\n"
      "One machine:  domino launch --nproc-per-node 2 -- train --config c.yaml --out runs/dp\n"
      "Two machines: domino launch --nnodes 2 --node-rank R --nproc-per-node 8 --master-addr HOST0 -- train ...");
  auto a = std::make_shared<LaunchArgs>();
  command->add_option("--nproc-per-node", a->nproc_per_node, "ranks on this machine")->capture_default_str();
  command->add_option("--nnodes", a->nnodes, "machines in the run")->capture_default_str();
  command->add_option("--node-rank", a->node_rank, "this machine's place among them (0: it hosts the rendezvous)")
      ->capture_default_str();
  command->add_option("--master-addr", a->master_addr, "address of node 0, where rank 0 serves the rendezvous")
      ->capture_default_str();
  command->add_option("--master-port", a->master_port, "its port")->check(CLI::Range(1, 65535))->capture_default_str();
  command->add_option("--grace", a->grace_seconds, "seconds the other ranks get to stop after one failed, then SIGKILL")
      ->capture_default_str();
  command->add_option("command", a->command, "the domino command each rank runs, after --")->required();
  command->callback([a] { run_launch(*a); });
}

}  // namespace domino::cli
