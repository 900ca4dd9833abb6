#include "dist/heartbeat.h"

#include <fmt/format.h>

namespace domino::dist {
namespace {

std::string key(int rank) { return fmt::format("heartbeat/{}", rank); }

}  // namespace

Heartbeat::Heartbeat(c10::intrusive_ptr<c10d::Store> store, int rank, int world_size)
    : store_(std::move(store)), rank_(rank), world_size_(world_size) {
  thread_ = std::thread([this] {
    while (true) {
      try {
        store_->add(key(rank_), 1);
      } catch (const std::exception&) {
        return;  // the store is gone: there is nobody left to tell
      }
      std::unique_lock<std::mutex> lock(mutex_);
      if (wake_.wait_for(lock, kBeat, [this] { return stop_; })) return;
    }
  });
}

Heartbeat::~Heartbeat() {
  {
    const std::lock_guard<std::mutex> lock(mutex_);
    stop_ = true;
  }
  wake_.notify_all();
  thread_.join();
}

std::optional<std::vector<int64_t>> Heartbeat::counters() const {
  std::vector<int64_t> out;
  try {
    for (int r = 0; r < world_size_; ++r) out.push_back(store_->add(key(r), 0));  // add 0: a read that never waits
  } catch (const std::exception&) {
    return std::nullopt;
  }
  return out;
}

std::optional<std::vector<int>> Heartbeat::silent_ranks(std::chrono::milliseconds window) const {
  const auto before = counters();
  if (!before) return std::nullopt;
  std::this_thread::sleep_for(window);
  const auto after = counters();
  if (!after) return std::nullopt;
  std::vector<int> silent;
  for (int r = 0; r < world_size_; ++r)
    if (r != rank_ && (*after)[static_cast<size_t>(r)] == (*before)[static_cast<size_t>(r)]) silent.push_back(r);
  return silent;
}

}  // namespace domino::dist
