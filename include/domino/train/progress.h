// Progress reporting for long loops: a redrawn bar on a terminal, plain periodic lines
// otherwise (logs, CI), and a JSON-lines metrics file per run.
#pragma once

#include <nlohmann/json.hpp>

#include <chrono>
#include <cstdio>
#include <fstream>
#include <string>

namespace domino {

class Progress {
 public:
  // `total` units of work (0: open-ended, no bar or ETA); `out` is normally stderr.
  Progress(std::string label, int64_t total, std::FILE* out = stderr);
  // `done` units finished; `stats` is shown beside the bar (e.g. "loss 0.41 acc 85.2%").
  void update(int64_t done, const std::string& stats);
  void finish(int64_t done, const std::string& stats);

  static std::string format_duration(double seconds);

 private:
  std::string render(int64_t done, const std::string& stats) const;

  std::string label_;
  int64_t total_;
  std::FILE* out_;
  bool tty_;
  std::chrono::steady_clock::time_point start_, last_draw_;
  int64_t start_done_ = -1;
};

// Appends one JSON object per line, flushed so that a killed run keeps what it logged.
class MetricsLog {
 public:
  // append: continue a resumed run's log from iteration `resumed_at`. Records of later
  // iterations (logged by a run killed after its last checkpoint, and about to be logged
  // again) and a half-written last line are dropped first.
  MetricsLog(const std::string& path, bool append, int64_t resumed_at = 0);
  void write(const nlohmann::json& record);

 private:
  std::ofstream out_;
};

}  // namespace domino
