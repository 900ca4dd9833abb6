#include "domino/dist/process_group.h"

#include <torch/csrc/distributed/c10d/PrefixStore.hpp>
#include <torch/csrc/distributed/c10d/TCPStore.hpp>
#include <torch/torch.h>
// A CUDA build of LibTorch defines USE_C10D_NCCL; Debian's CPU build does not, so the NCCL
// lines below are not compiled (nor run) on the machines this project is tested on.
#ifdef USE_C10D_NCCL
#include <torch/csrc/distributed/c10d/ProcessGroupNCCL.hpp>
#endif

#include <glog/logging.h>

#include <csignal>
#include <cstdlib>
#include <mutex>
#include <utility>

#include <fmt/ranges.h>

#include "domino/core/error.h"
#include "dist/group_impl.h"

namespace domino::dist {

bool nccl_available() {
#ifdef USE_C10D_NCCL
  return true;
#else
  return false;
#endif
}

Backend resolve_backend(Backend asked, c10::Device device) {
  switch (asked) {
    case Backend::Auto:
      return device.is_cuda() && nccl_available() ? Backend::Nccl : Backend::Gloo;
    case Backend::Nccl:
      if (!nccl_available())
        fail("dist-backend nccl: this LibTorch was built without NCCL (a CPU build); use gloo, or a CUDA build of LibTorch");
      if (!device.is_cuda()) fail("dist-backend nccl runs collectives on GPUs; this run's device is {} (use gloo)", device.str());
      return Backend::Nccl;
    case Backend::Gloo:
      break;
  }
  return Backend::Gloo;
}

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

// While one lives, LibTorch's log (glog) prints nothing below FATAL. c10d logs a failed
// rendezvous (and each refused connection while the master starts) before it throws, behind
// a glog banner; the exception says the same, and our error says it once, in one line.
// Counted: ranks run as threads of one process (the tests) overlap their rendezvous.
class QuietLibTorchLog {
 public:
  QuietLibTorchLog() {
    auto& s = shared();
    const std::lock_guard<std::mutex> lock(s.mutex);
    if (s.count++ == 0) s.level = std::exchange(FLAGS_minloglevel, google::GLOG_FATAL);
  }
  ~QuietLibTorchLog() {
    auto& s = shared();
    const std::lock_guard<std::mutex> lock(s.mutex);
    if (--s.count == 0) FLAGS_minloglevel = s.level;
  }
  QuietLibTorchLog(const QuietLibTorchLog&) = delete;
  QuietLibTorchLog& operator=(const QuietLibTorchLog&) = delete;

 private:
  struct Shared {
    std::mutex mutex;
    int count = 0, level = 0;
  };
  static Shared& shared() {
    static Shared s;
    return s;
  }
};

// c10d's errors carry a C++ backtrace after the first line; the first says what happened.
std::string first_line(const std::string& text) { return text.substr(0, text.find('\n')); }

// "rank 3", "ranks 1, 2".
std::string ranks_text(const std::vector<int>& ranks) {
  return fmt::format("rank{} {}", ranks.size() == 1 ? "" : "s", fmt::join(ranks, ", "));
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

ProcessGroup::ProcessGroup(const LaunchEnv& env, std::chrono::milliseconds timeout, Backend backend)
    : env_(env), backend_(backend == Backend::Nccl ? Backend::Nccl : Backend::Gloo), impl_(std::make_unique<Impl>()) {
  // A write to a lost rank's closed socket raises SIGPIPE, which kills the process before
  // Gloo can report the lost rank (seen once in ProcessGroup.ALostRankIsAnErrorNotAHang).
  // Ignored, the write fails with EPIPE and becomes the one-line error; Python, and so
  // torch.distributed, ignores SIGPIPE from start-up alike.
  std::signal(SIGPIPE, SIG_IGN);
  guarded("rendezvous", [&] {
    const QuietLibTorchLog quiet;
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
    // Each group its own keys in the store, as torch.distributed scopes its groups.
    impl_->gloo = c10::make_intrusive<c10d::ProcessGroupGloo>(c10::make_intrusive<c10d::PrefixStore>("gloo", impl_->store),
                                                              env.rank, env.world_size, options);
#ifdef USE_C10D_NCCL
    if (backend_ == Backend::Nccl) {
      auto nccl = c10d::ProcessGroupNCCL::Options::create();
      nccl->timeout = timeout;
      impl_->nccl = c10::make_intrusive<c10d::ProcessGroupNCCL>(c10::make_intrusive<c10d::PrefixStore>("nccl", impl_->store),
                                                                env.rank, env.world_size, nccl);
    }
#else
    if (backend_ == Backend::Nccl) fail("this LibTorch was built without NCCL");
#endif
  });
  impl_->heartbeat = std::make_unique<Heartbeat>(impl_->store, env.rank, env.world_size);
  check_same(static_cast<uint64_t>(env.world_size), "the world size");
}

ProcessGroup::~ProcessGroup() = default;

void ProcessGroup::allreduce_sum(const std::vector<at::Tensor>& tensors, int64_t bucket_bytes) {
  guarded("all-reduce", [&] {
    bucketed(tensors, bucket_bytes, [&](at::Tensor& flat) {
      std::vector<at::Tensor> one{flat};
      impl_->for_tensor(flat)->allreduce(one)->wait();
    });
  });
}

void ProcessGroup::allreduce_mean(const std::vector<at::Tensor>& tensors, int64_t bucket_bytes) {
  allreduce_sum(tensors, bucket_bytes);
  torch::NoGradGuard no_grad;  // gradients and parameters, in place
  for (const auto& t : tensors) t.div_(env_.world_size);
}

void ProcessGroup::broadcast(const std::vector<at::Tensor>& tensors, int root) {
  guarded("broadcast", [&] {
    bucketed(tensors, 25 << 20, [&](at::Tensor& flat) {
      std::vector<at::Tensor> one{flat};
      c10d::BroadcastOptions options;
      options.rootRank = root;
      impl_->for_tensor(flat)->broadcast(one, options)->wait();
    });
  });
}

// A c10d call's failure (a lost rank, a timeout, a refused connection) becomes one line that
// says which rank saw it and, once every rank had joined, which ranks are gone.
void ProcessGroup::guarded(const char* what, const std::function<void()>& f) const {
  try {
    f();
  } catch (const Error&) {
    throw;
  } catch (const std::exception& e) {
    const std::string lost = impl_->heartbeat ? ": " + who_is_lost() : "";  // the rendezvous: no heartbeats yet
    fail("data-parallel {} failed on rank {} of {}{} (master {}:{}; {})", what, env_.rank, env_.world_size, lost,
         env_.master_addr, env_.master_port, first_line(e.what()));
  }
}

std::string ProcessGroup::who_is_lost() const {
  const auto window = 5 * Heartbeat::kBeat / 2;
  const auto silent = impl_->heartbeat->silent_ranks(window);
  if (!silent)
    return env_.agent_store ? "torchrun's agent, which serves the rendezvous store, is lost"
                            : "rank 0, which serves the rendezvous store, is lost";
  if (silent->empty()) return "every rank is alive, but one did not join this collective within dist-timeout";
  return fmt::format("{} {} lost (no sign of life for {:.1f} s)", ranks_text(*silent), silent->size() == 1 ? "is" : "are",
                     std::chrono::duration<double>(window).count());
}

void ProcessGroup::barrier() {
  guarded("barrier", [&] { impl_->gloo->barrier()->wait(); });
}

void ProcessGroup::check_same(uint64_t value, const std::string& what) {
  std::vector<int64_t> values;
  guarded("check", [&] {
    std::vector<at::Tensor> mine{torch::tensor({static_cast<int64_t>(value)}, torch::kLong)};
    std::vector<std::vector<at::Tensor>> all(1);
    for (int r = 0; r < env_.world_size; ++r) all[0].push_back(torch::empty({1}, torch::kLong));
    impl_->gloo->allgather(all, mine)->wait();
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

ProcessGroup& world(const LaunchEnv& env, std::chrono::milliseconds timeout, Backend backend) {
  static std::mutex mutex;
  static std::unique_ptr<ProcessGroup> group;
  const std::lock_guard<std::mutex> lock(mutex);
  if (!group) group = std::make_unique<ProcessGroup>(env, timeout, backend);
  return *group;
}

}  // namespace domino::dist
