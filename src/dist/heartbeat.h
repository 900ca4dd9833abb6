// Each rank's sign of life in the rendezvous store: a counter that a thread of its own bumps
// every second. A rank whose collective failed reads the counters twice: the ranks whose
// counters stood still are gone (killed, crashed, cut off), the others are only slow.
#pragma once

#include <torch/csrc/distributed/c10d/Store.hpp>

#include <chrono>
#include <condition_variable>
#include <mutex>
#include <optional>
#include <thread>
#include <vector>

namespace domino::dist {

class Heartbeat {
 public:
  Heartbeat(c10::intrusive_ptr<c10d::Store> store, int rank, int world_size);
  ~Heartbeat();
  Heartbeat(const Heartbeat&) = delete;
  Heartbeat& operator=(const Heartbeat&) = delete;

  // The ranks whose counters did not move over `window` (longer than the beat); nullopt
  // when the store itself cannot be reached (whoever serves it is gone).
  std::optional<std::vector<int>> silent_ranks(std::chrono::milliseconds window) const;

  static constexpr std::chrono::milliseconds kBeat{1000};

 private:
  std::optional<std::vector<int64_t>> counters() const;

  c10::intrusive_ptr<c10d::Store> store_;
  int rank_, world_size_;
  std::mutex mutex_;
  std::condition_variable wake_;
  bool stop_ = false;
  std::thread thread_;
};

}  // namespace domino::dist
