// The data-parallel runtime: torchrun's variables, and c10d (TCPStore + Gloo) driven
// through dist::ProcessGroup by ranks that are threads of this process, on loopback.
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>
#include <torch/torch.h>

#include <chrono>
#include <future>
#include <map>

#include "domino/dist/launch_env.h"
#include "domino/dist/overlapped_reduce.h"
#include "domino/dist/process_group.h"
#include "domino/models/prunable.h"
#include "test_util.h"

using domino::test::expect_error_containing;

namespace domino::dist {
namespace {

LaunchEnv rank_env(int rank, int world_size, int port) {
  LaunchEnv env;
  env.rank = rank;
  env.world_size = world_size;
  env.master_addr = "127.0.0.1";
  env.master_port = port;
  return env;
}

// Runs `body(rank)` on `world_size` threads at once; returns each rank's error text ("" if none).
template <typename Body>
std::vector<std::string> run_ranks(int world_size, Body body) {
  std::vector<std::future<std::string>> ranks;
  for (int r = 0; r < world_size; ++r)
    ranks.push_back(std::async(std::launch::async, [r, &body]() -> std::string {
      try {
        body(r);
        return "";
      } catch (const std::exception& e) {
        return e.what();
      }
    }));
  std::vector<std::string> errors;
  for (auto& r : ranks) errors.push_back(r.get());
  return errors;
}

const std::chrono::milliseconds kTimeout{20000};

}  // namespace

TEST(LaunchEnv, ReadsTorchrunsVariables) {
  std::map<std::string, std::string> vars;
  auto get = [&](const char* name) -> std::optional<std::string> {
    const auto it = vars.find(name);
    return it == vars.end() ? std::nullopt : std::optional<std::string>(it->second);
  };
  EXPECT_FALSE(launch_env(get).has_value());  // no launcher: one process
  vars = {{"WORLD_SIZE", "4"}, {"RANK", "3"}, {"LOCAL_RANK", "1"}, {"LOCAL_WORLD_SIZE", "2"},
          {"MASTER_ADDR", "10.0.0.7"}, {"MASTER_PORT", "29400"}};
  const auto env = launch_env(get);
  ASSERT_TRUE(env.has_value());
  EXPECT_EQ(env->rank, 3);
  EXPECT_EQ(env->world_size, 4);
  EXPECT_EQ(env->local_rank, 1);
  EXPECT_EQ(env->local_world_size, 2);
  EXPECT_EQ(env->master_addr, "10.0.0.7");
  EXPECT_EQ(env->master_port, 29400);

  vars["RANK"] = "4";
  expect_error_containing([&] { launch_env(get); }, {"RANK='4'", "[0, 3]"});
  vars["RANK"] = "1";
  vars["MASTER_PORT"] = "29400x";
  expect_error_containing([&] { launch_env(get); }, {"MASTER_PORT='29400x'"});
  vars["MASTER_PORT"] = "29400";
  vars.erase("MASTER_ADDR");
  expect_error_containing([&] { launch_env(get); }, {"MASTER_ADDR is not set"});
}

TEST(Backend, AutoIsGlooOnCpusAndNcclNeedsABuildWithIt) {
  const c10::Device cpu(c10::kCPU), gpu(c10::kCUDA, 1);
  EXPECT_EQ(resolve_backend(Backend::Auto, cpu), Backend::Gloo);
  EXPECT_EQ(resolve_backend(Backend::Gloo, gpu), Backend::Gloo);
  EXPECT_EQ(resolve_backend(Backend::Auto, gpu), nccl_available() ? Backend::Nccl : Backend::Gloo);
  expect_error_containing([&] { resolve_backend(Backend::Nccl, cpu); },
                          {"dist-backend nccl", nccl_available() ? "device is cpu" : "without NCCL"});
  EXPECT_EQ(kBackends.parse("nccl", "dist-backend"), Backend::Nccl);
  expect_error_containing([] { kBackends.parse("ncl", "dist-backend"); }, {"did you mean 'nccl'"});
}

TEST(ProcessGroup, AllReduceBroadcastAndAgreementAcrossTwoRanks) {
  const int port = test::free_port();
  std::vector<at::Tensor> reduced(2), broadcast(2), summed(2);
  const auto errors = run_ranks(2, [&](int rank) {
    ProcessGroup group(rank_env(rank, 2, port), kTimeout);
    EXPECT_EQ(group.rank(), rank);
    EXPECT_EQ(group.size(), 2);
    // A gradient-like set: several shapes, one in channels-last, a double, bucketed in 64 bytes.
    const double r = rank;
    std::vector<at::Tensor> grads = {torch::full({3}, 1 + r), torch::arange(24).reshape({1, 2, 3, 4}).to(torch::kFloat).mul(1 + r)
                                         .contiguous(at::MemoryFormat::ChannelsLast),
                                     torch::full({5}, 10 * r, torch::kDouble)};
    group.allreduce_mean(grads, 64);
    reduced[static_cast<size_t>(rank)] = torch::cat({grads[0], grads[1].reshape({-1}), grads[2].to(torch::kFloat)});
    EXPECT_TRUE(grads[1].is_contiguous(at::MemoryFormat::ChannelsLast));  // layout kept

    std::vector<at::Tensor> weights = {torch::full({4}, r), torch::full({2, 2}, 7 * r)};
    group.broadcast(weights, 1);
    broadcast[static_cast<size_t>(rank)] = torch::cat({weights[0], weights[1].reshape({-1})});

    std::vector<at::Tensor> counts = {torch::tensor({static_cast<int64_t>(rank + 1)})};
    group.allreduce_sum(counts);
    summed[static_cast<size_t>(rank)] = counts[0];
    group.check_same(42, "a checksum");
    group.barrier();
  });
  EXPECT_EQ(errors, (std::vector<std::string>{"", ""}));
  const auto expected = torch::cat({torch::full({3}, 1.5), torch::arange(24).to(torch::kFloat).mul(1.5), torch::full({5}, 5.0)});
  for (int r = 0; r < 2; ++r) {
    EXPECT_TRUE(torch::equal(reduced[static_cast<size_t>(r)], expected.to(torch::kFloat))) << r;
    const auto from_rank_1 = torch::cat({torch::full({4}, 1.0), torch::full({4}, 7.0)}).to(torch::kFloat);
    EXPECT_TRUE(torch::equal(broadcast[static_cast<size_t>(r)], from_rank_1));
    EXPECT_EQ(summed[static_cast<size_t>(r)].item<int64_t>(), 3);
  }
}

TEST(ProcessGroup, SyncBatchNormOverTwoHalvesIsBatchNormOverTheWhole) {
  // Forward and backward of BatchNorm on a batch of 8, against two ranks with 4 each whose
  // statistics are summed over the ranks: outputs, input gradients and the affine
  // parameters' gradients (summed over the ranks) agree to float rounding.
  torch::manual_seed(3);
  const auto x = torch::randn({8, 3, 5, 5}) * 2 + 1, upstream = torch::randn({8, 3, 5, 5});
  FoldableBatchNorm2d whole(3);
  auto xw = x.clone().requires_grad_(true);
  const auto yw = whole->forward(xw);
  (yw * upstream).sum().backward();

  const int port = test::free_port();
  std::vector<at::Tensor> y(2), dx(2), dweight(2), dbias(2), running(2);
  const auto errors = run_ranks(2, [&](int rank) {
    ProcessGroup group(rank_env(rank, 2, port), kTimeout);
    FoldableBatchNorm2d half(3);
    half->set_cross_batch_sum([&group](const at::Tensor& t) { return differentiable_sum(t, group); });
    auto xr = x.narrow(0, 4 * rank, 4).clone().requires_grad_(true);
    const auto yr = half->forward(xr);
    (yr * upstream.narrow(0, 4 * rank, 4)).sum().backward();
    const auto r = static_cast<size_t>(rank);
    y[r] = yr.detach();
    dx[r] = xr.grad();
    dweight[r] = half->weight.grad();
    dbias[r] = half->bias.grad();
    running[r] = torch::cat({half->running_mean, half->running_var});
  });
  ASSERT_EQ(errors, (std::vector<std::string>{"", ""}));
  EXPECT_TRUE(torch::allclose(torch::cat({y[0], y[1]}), yw, 1e-5, 1e-5));
  EXPECT_TRUE(torch::allclose(torch::cat({dx[0], dx[1]}), xw.grad(), 1e-5, 1e-5))
      << (torch::cat({dx[0], dx[1]}) - xw.grad()).abs().max().item<double>();
  EXPECT_TRUE(torch::allclose(dweight[0] + dweight[1], whole->weight.grad(), 1e-5, 1e-5));
  EXPECT_TRUE(torch::allclose(dbias[0] + dbias[1], whole->bias.grad(), 1e-5, 1e-5));
  EXPECT_TRUE(torch::allclose(running[0], torch::cat({whole->running_mean, whole->running_var}), 1e-6, 1e-6));
  EXPECT_TRUE(torch::equal(running[0], running[1]));
}

TEST(ProcessGroup, RanksThatDisagreeStopWithTheRanksNamed) {
  const int port = test::free_port();
  const auto errors = run_ranks(3, [&](int rank) {
    ProcessGroup group(rank_env(rank, 3, port), kTimeout);
    group.check_same(rank == 2 ? 8 : 7, "the search's decisions");
  });
  for (const auto& e : errors) {
    EXPECT_NE(e.find("disagree on the search's decisions: rank 2 differs from rank 0"), std::string::npos) << e;
  }
}

TEST(ProcessGroup, ALostRankIsAnErrorNotAHang) {
  // Rank 1 leaves right after the rendezvous (as a killed process would): rank 0's next
  // collective fails with one line, well within the timeout's bound.
  const int port = test::free_port();
  const auto start = std::chrono::steady_clock::now();
  const auto errors = run_ranks(2, [&](int rank) {
    ProcessGroup group(rank_env(rank, 2, port), std::chrono::milliseconds(3000));
    if (rank == 1) return;
    std::vector<at::Tensor> grads = {torch::ones({8})};
    group.allreduce_mean(grads);
  });
  EXPECT_EQ(errors[1], "");
  EXPECT_NE(errors[0].find("data-parallel all-reduce failed on rank 0 of 2: rank 1 is lost"), std::string::npos) << errors[0];
  EXPECT_EQ(errors[0].find('\n'), std::string::npos) << errors[0];  // one line, no backtrace
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(60));

  // A rank that never comes: the rendezvous gives up after the timeout.
  const int lonely = test::free_port();
  expect_error_containing([&] { ProcessGroup(rank_env(0, 2, lonely), std::chrono::milliseconds(1500)); },
                          {"data-parallel rendezvous failed on rank 0 of 2"});
}

TEST(OverlappedReduce, GradientsAreTheRanksMeanWhenBackwardReturns) {
  // Two ranks, one linear layer, different inputs: after backward each rank holds the mean of
  // the two ranks' own gradients, in the first iteration (one bucket) and after the buckets
  // are rebuilt (the second), with tiny buckets so that there are several.
  torch::manual_seed(5);
  const auto weight = torch::randn({3, 4}), bias = torch::randn({3});
  const auto inputs = torch::randn({2, 2, 5, 4});  // [iteration][rank][batch][features]
  auto local_grads = [&](int iteration, int rank) {
    auto w = weight.clone().requires_grad_(true), b = bias.clone().requires_grad_(true);
    torch::nn::functional::linear(inputs[iteration][rank], w, b).pow(2).sum().backward();
    return std::make_pair(w.grad(), b.grad());
  };
  const int port = test::free_port();
  std::vector<std::vector<at::Tensor>> reduced(2);
  const auto errors = run_ranks(2, [&](int rank) {
    ProcessGroup group(rank_env(rank, 2, port), kTimeout);
    auto w = weight.clone().requires_grad_(true), b = bias.clone().requires_grad_(true);
    OverlappedReduce reduce(group, {w, b}, /*bucket_bytes=*/16);
    for (int iteration = 0; iteration < 2; ++iteration) {
      for (auto* p : {&w, &b})
        if (p->grad().defined()) p->mutable_grad().zero_();
      reduce.before_forward();
      reduce.backward(torch::nn::functional::linear(inputs[iteration][rank], w, b).pow(2).sum());
      reduced[static_cast<size_t>(rank)].push_back(w.grad().clone());
      reduced[static_cast<size_t>(rank)].push_back(b.grad().clone());
    }
  });
  ASSERT_EQ(errors, (std::vector<std::string>{"", ""}));
  for (int iteration = 0; iteration < 2; ++iteration) {
    const auto [w0, b0] = local_grads(iteration, 0);
    const auto [w1, b1] = local_grads(iteration, 1);
    for (size_t r = 0; r < 2; ++r) {
      EXPECT_TRUE(torch::allclose(reduced[r][2 * static_cast<size_t>(iteration)], (w0 + w1) / 2, 1e-5, 1e-6)) << r;
      EXPECT_TRUE(torch::allclose(reduced[r][2 * static_cast<size_t>(iteration) + 1], (b0 + b1) / 2, 1e-5, 1e-6)) << r;
    }
  }
}

TEST(ProcessGroup, MismatchedLaunchesAreErrorsNotHangs) {
  const std::chrono::milliseconds quick(2000);
  // The master's port is taken by another program.
  const int taken = test::free_port();
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  address.sin_port = htons(static_cast<uint16_t>(taken));
  ASSERT_EQ(bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof(address)), 0);
  ASSERT_EQ(listen(fd, 1), 0);
  expect_error_containing([&] { ProcessGroup(rank_env(0, 2, taken), quick); },
                          {"data-parallel rendezvous failed on rank 0 of 2", "Address already in use"});
  close(fd);

  // No master where the others look for one.
  expect_error_containing([&] { ProcessGroup(rank_env(1, 2, test::free_port()), quick); },
                          {"data-parallel rendezvous failed on rank 1 of 2", "timed out"});

  // Ranks told different world sizes: every rank stops, none hangs.
  const int port = test::free_port();
  const auto start = std::chrono::steady_clock::now();
  const auto errors = run_ranks(2, [&](int rank) { ProcessGroup group(rank_env(rank, rank == 0 ? 2 : 3, port), quick); });
  for (const auto& e : errors) EXPECT_NE(e.find("data-parallel"), std::string::npos) << e;
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(30));
}

}  // namespace domino::dist
