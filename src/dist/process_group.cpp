#include "domino/dist/process_group.h"

// LibTorch's CMake config defines this for a build with Gloo (Debian's is one); the Gloo
// header is empty without it.
#ifndef USE_C10D_GLOO
#error "this LibTorch was built without Gloo (USE_C10D_GLOO): data-parallel runs need it"
#endif

#include <torch/csrc/distributed/c10d/PrefixStore.hpp>
#include <torch/csrc/distributed/c10d/ProcessGroupGloo.hpp>
#include <torch/csrc/distributed/c10d/TCPStore.hpp>
#include <torch/torch.h>

#include <cstdlib>

#include <fmt/ranges.h>

#include "domino/core/error.h"

namespace domino::dist {

struct ProcessGroup::Impl {
  c10::intrusive_ptr<c10d::Store> store;
  c10::intrusive_ptr<c10d::ProcessGroupGloo> group;
};

namespace {

bool is_loopback(const std::string& address) {
  return address == "localhost" || address.rfind("127.", 0) == 0 || address == "::1";
}

// The network device Gloo binds: the interface named by GLOO_SOCKET_IFNAME (as PyTorch reads
// it), loopback for a run on one machine, else the address the host name resolves to.
std::shared_ptr<gloo::transport::Device> make_device(const LaunchEnv& env) {
  if (const char* name = std::getenv("GLOO_SOCKET_IFNAME")) return c10d::ProcessGroupGloo::createDeviceForInterface(name);
  if (is_loopback(env.master_addr)) return c10d::ProcessGroupGloo::createDeviceForHostname("127.0.0.1");
  return c10d::ProcessGroupGloo::createDefaultDevice();
}

// c10d's errors carry a C++ backtrace after the first line; the first says what happened.
std::string first_line(const std::string& text) { return text.substr(0, text.find('\n')); }

// Runs a c10d call; its failures (a lost rank, a timeout, a refused connection) become one
// line that says which rank saw it.
template <typename F>
void guarded(const char* what, const LaunchEnv& env, F&& f) {
  try {
    f();
  } catch (const Error&) {
    throw;
  } catch (const std::exception& e) {
    fail("data-parallel {} failed on rank {} of {} (master {}:{}): {}", what, env.rank, env.world_size, env.master_addr,
         env.master_port, first_line(e.what()));
  }
}

// Applies `op` to `tensors` packed into flat buckets (same dtype, at most `bucket_bytes`
// each), then copies the results back: one collective per bucket, any memory layout.
template <typename Op>
void bucketed(const std::vector<at::Tensor>& tensors, int64_t bucket_bytes, Op&& op) {
  torch::NoGradGuard no_grad;  // parameters are written in place
  std::vector<at::Tensor> bucket;
  int64_t bytes = 0;
  auto flush = [&] {
    if (bucket.empty()) return;
    std::vector<at::Tensor> flat_parts;
    for (const auto& t : bucket) flat_parts.push_back(t.reshape({-1}));
    auto flat = torch::cat(flat_parts);
    op(flat);
    int64_t offset = 0;
    for (auto& t : bucket) {
      t.copy_(flat.narrow(0, offset, t.numel()).view(t.sizes()));
      offset += t.numel();
    }
    bucket.clear();
    bytes = 0;
  };
  for (const auto& t : tensors) {
    const int64_t size = static_cast<int64_t>(t.nbytes());
    if (!bucket.empty() && (t.scalar_type() != bucket.front().scalar_type() || bytes + size > bucket_bytes)) flush();
    bucket.push_back(t);
    bytes += size;
  }
  flush();
}

}  // namespace

ProcessGroup::ProcessGroup(const LaunchEnv& env, std::chrono::milliseconds timeout)
    : env_(env), impl_(std::make_unique<Impl>()) {
  guarded("rendezvous", env_, [&] {
    c10d::TCPStoreOptions store;
    store.port = static_cast<uint16_t>(env.master_port);
    store.isServer = env.rank == 0 && !env.agent_store;
    if (!env.agent_store) store.numWorkers = static_cast<size_t>(env.world_size);
    store.waitWorkers = !env.agent_store;
    store.timeout = timeout;
    auto tcp = c10::make_intrusive<c10d::TCPStore>(env.master_addr, store);
    // As PyTorch's workers name their keys: apart from the agent's and from other attempts'.
    impl_->store = c10::make_intrusive<c10d::PrefixStore>(fmt::format("/worker/attempt_{}", env.restart_count), tcp);
    auto options = c10d::ProcessGroupGloo::Options::create(timeout);
    options->devices.push_back(make_device(env));
    impl_->group = c10::make_intrusive<c10d::ProcessGroupGloo>(impl_->store, env.rank, env.world_size, options);
  });
  check_same(static_cast<uint64_t>(env.world_size), "the world size");
}

ProcessGroup::~ProcessGroup() = default;

void ProcessGroup::allreduce_sum(const std::vector<at::Tensor>& tensors, int64_t bucket_bytes) {
  guarded("all-reduce", env_, [&] {
    bucketed(tensors, bucket_bytes, [&](at::Tensor& flat) {
      std::vector<at::Tensor> one{flat};
      impl_->group->allreduce(one)->wait();
    });
  });
}

void ProcessGroup::allreduce_mean(const std::vector<at::Tensor>& tensors, int64_t bucket_bytes) {
  allreduce_sum(tensors, bucket_bytes);
  torch::NoGradGuard no_grad;  // gradients and parameters, in place
  for (const auto& t : tensors) t.div_(env_.world_size);
}

void ProcessGroup::broadcast(const std::vector<at::Tensor>& tensors, int root) {
  guarded("broadcast", env_, [&] {
    bucketed(tensors, 25 << 20, [&](at::Tensor& flat) {
      std::vector<at::Tensor> one{flat};
      c10d::BroadcastOptions options;
      options.rootRank = root;
      impl_->group->broadcast(one, options)->wait();
    });
  });
}

void ProcessGroup::barrier() {
  guarded("barrier", env_, [&] { impl_->group->barrier()->wait(); });
}

void ProcessGroup::check_same(uint64_t value, const std::string& what) {
  std::vector<int64_t> values;
  guarded("check", env_, [&] {
    std::vector<at::Tensor> mine{torch::tensor({static_cast<int64_t>(value)}, torch::kLong)};
    std::vector<std::vector<at::Tensor>> all(1);
    for (int r = 0; r < env_.world_size; ++r) all[0].push_back(torch::empty({1}, torch::kLong));
    impl_->group->allgather(all, mine)->wait();
    for (const auto& t : all[0]) values.push_back(t.item<int64_t>());
  });
  std::vector<int> differ;
  for (size_t r = 1; r < values.size(); ++r)
    if (values[r] != values[0]) differ.push_back(static_cast<int>(r));
  if (!differ.empty())
    fail("the ranks of this data-parallel run disagree on {}: rank {} differ{} from rank 0 (were they started with "
         "the same options?)", what, fmt::join(differ, ", "), differ.size() == 1 ? "s" : "");
}

namespace {

struct SumOverRanks : torch::autograd::Function<SumOverRanks> {
  static at::Tensor forward(torch::autograd::AutogradContext* ctx, const at::Tensor& x, ProcessGroup* group) {
    ctx->saved_data["group"] = reinterpret_cast<int64_t>(group);
    auto out = x.detach().clone().contiguous();
    group->allreduce_sum({out});
    return out;
  }
  static torch::autograd::variable_list backward(torch::autograd::AutogradContext* ctx,
                                                 torch::autograd::variable_list grads) {
    auto* group = reinterpret_cast<ProcessGroup*>(ctx->saved_data["group"].toInt());
    auto grad = grads[0].detach().clone().contiguous();
    group->allreduce_sum({grad});
    return {grad, at::Tensor()};
  }
};

}  // namespace

at::Tensor differentiable_sum(const at::Tensor& x, ProcessGroup& group) { return SumOverRanks::apply(x, &group); }

}  // namespace domino::dist
