// Where this process stands in a data-parallel run, as torchrun (and Slurm scripts,
// Kubernetes operators, `domino launch`) tell it: RANK, WORLD_SIZE, LOCAL_RANK,
// LOCAL_WORLD_SIZE, MASTER_ADDR, MASTER_PORT.
#pragma once

#include <functional>
#include <optional>
#include <string>

namespace domino::dist {

struct LaunchEnv {
  int rank = 0;
  int world_size = 1;
  int local_rank = 0;
  int local_world_size = 1;
  std::string master_addr = "127.0.0.1";
  int master_port = 29500;
  // torchrun's agent already serves the store at MASTER_PORT (TORCHELASTIC_USE_AGENT_STORE):
  // every rank joins it as a client, under the key prefix of this restart attempt.
  bool agent_store = false;
  int restart_count = 0;  // TORCHELASTIC_RESTART_COUNT
};

// The launch a process was started in; nullopt when WORLD_SIZE is not set (one process, no
// launcher). A variable that is missing or malformed once WORLD_SIZE is set is an error
// naming it. `get` reads a variable (default: the process environment; tests pass their own).
std::optional<LaunchEnv> launch_env(const std::function<std::optional<std::string>(const char*)>& get = {});

}  // namespace domino::dist
