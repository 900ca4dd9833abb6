#include "domino/dist/launch_env.h"

#include <cstdlib>

#include "domino/core/error.h"

namespace domino::dist {
namespace {

std::optional<std::string> from_process(const char* name) {
  const char* value = std::getenv(name);
  return value ? std::optional<std::string>(value) : std::nullopt;
}

// The whole text as an integer in [lo, hi], or an error naming the variable.
int whole_int(const std::string& name, const std::string& text, int lo, int hi) {
  size_t used = 0;
  long long value = 0;
  try {
    value = std::stoll(text, &used);
  } catch (const std::logic_error&) {
    used = 0;
  }
  if (text.empty() || used != text.size() || value < lo || value > hi)
    fail("environment variable {}='{}' must be an integer in [{}, {}]", name, text, lo, hi);
  return static_cast<int>(value);
}

}  // namespace

std::optional<LaunchEnv> launch_env(const std::function<std::optional<std::string>(const char*)>& get_variable) {
  const auto get = get_variable ? get_variable : from_process;
  const auto world = get("WORLD_SIZE");
  if (!world) return std::nullopt;
  auto required = [&](const char* name) {
    const auto value = get(name);
    if (!value) fail("environment variable {} is not set, but WORLD_SIZE is (a launcher sets both)", name);
    return *value;
  };
  constexpr int kMaxRanks = 1 << 20;
  LaunchEnv env;
  env.world_size = whole_int("WORLD_SIZE", *world, 1, kMaxRanks);
  env.rank = whole_int("RANK", required("RANK"), 0, env.world_size - 1);
  const auto local_world = get("LOCAL_WORLD_SIZE");
  env.local_world_size = local_world ? whole_int("LOCAL_WORLD_SIZE", *local_world, 1, env.world_size) : 1;
  const auto local_rank = get("LOCAL_RANK");
  env.local_rank = local_rank ? whole_int("LOCAL_RANK", *local_rank, 0, env.local_world_size - 1) : 0;
  env.master_addr = required("MASTER_ADDR");
  if (env.master_addr.empty()) fail("environment variable MASTER_ADDR is empty");
  env.master_port = whole_int("MASTER_PORT", required("MASTER_PORT"), 1, 65535);
  env.agent_store = get("TORCHELASTIC_USE_AGENT_STORE").value_or("") == "True";
  const auto restarts = get("TORCHELASTIC_RESTART_COUNT");
  env.restart_count = restarts ? whole_int("TORCHELASTIC_RESTART_COUNT", *restarts, 0, kMaxRanks) : 0;
  return env;
}

}  // namespace domino::dist
