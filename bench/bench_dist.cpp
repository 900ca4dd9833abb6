// The data-parallel all-reduce: a model's gradients averaged over 2 ranks (threads of this
// process, each with one LibTorch thread, over loopback Gloo), bucketed as training does
// (25 MB), as one flat bucket, and one collective per tensor.
#include <benchmark/benchmark.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <torch/torch.h>
#include <unistd.h>

#include <thread>

#include "domino/core/runtime.h"
#include "domino/dist/process_group.h"
#include "domino/models/models.h"

namespace {

using namespace domino;

constexpr int kIterations = 20;

int free_port() {
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof(address));
  socklen_t length = sizeof(address);
  getsockname(fd, reinterpret_cast<sockaddr*>(&address), &length);
  close(fd);
  return ntohs(address.sin_port);
}

std::vector<at::Tensor> gradients_of(const std::string& model, int64_t classes) {
  std::vector<at::Tensor> out;
  for (const auto& p : make_model(model, {3, classes})->parameters()) out.push_back(torch::randn_like(p));
  return out;
}

// range(0): 0 ResNet-20 (CIFAR-10), 1 ResNet-50 (ImageNet). range(1): bucket bytes, 0: one
// collective per tensor.
void BM_AllReduceGradients(benchmark::State& state) {
  set_threads(1);
  const auto grads = state.range(0) == 0 ? gradients_of("resnet20", 10) : gradients_of("resnet50", 1000);
  int64_t bytes = 0;
  for (const auto& g : grads) bytes += static_cast<int64_t>(g.nbytes());
  const int64_t bucket = state.range(1);
  // A bucket of 0 bytes holds one tensor each: one collective per tensor.
  auto reduce = [&](dist::ProcessGroup& group, const std::vector<at::Tensor>& tensors) { group.allreduce_mean(tensors, bucket); };
  dist::LaunchEnv env;
  env.world_size = 2;
  env.master_port = free_port();
  std::thread other([&] {  // rank 1: the same collectives, as many times
    auto e = env;
    e.rank = 1;
    dist::ProcessGroup group(e, std::chrono::seconds(120));
    auto mine = gradients_of(state.range(0) == 0 ? "resnet20" : "resnet50", state.range(0) == 0 ? 10 : 1000);
    for (int i = 0; i < kIterations + 1; ++i) reduce(group, mine);
  });
  dist::ProcessGroup group(env, std::chrono::seconds(120));
  reduce(group, grads);  // warm-up: connections, buffers
  for (auto _ : state) reduce(group, grads);
  other.join();
  state.counters["MB"] = static_cast<double>(bytes) / 1e6;
  state.counters["tensors"] = static_cast<double>(grads.size());
}
BENCHMARK(BM_AllReduceGradients)
    ->Args({0, 25 << 20})
    ->Args({0, 1LL << 40})
    ->Args({0, 0})
    ->Args({1, 25 << 20})
    ->Args({1, 1LL << 40})
    ->Args({1, 0})
    ->Iterations(kIterations)
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();

}  // namespace
