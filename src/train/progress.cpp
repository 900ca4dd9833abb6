#include "domino/train/progress.h"

#include <fmt/format.h>
#include <unistd.h>

#include "domino/core/error.h"
#include "io/files.h"

namespace domino {

Progress::Progress(std::string label, int64_t total, std::FILE* out)
    : label_(std::move(label)), total_(std::max<int64_t>(total, 0)), out_(out), tty_(isatty(fileno(out)) != 0),
      start_(std::chrono::steady_clock::now()), last_draw_(start_) {}

std::string Progress::format_duration(double seconds) {
  const auto s = static_cast<int64_t>(seconds + 0.5);
  if (s >= 3600) return fmt::format("{}:{:02}:{:02}", s / 3600, (s / 60) % 60, s % 60);
  return fmt::format("{}:{:02}", s / 60, s % 60);
}

std::string Progress::render(int64_t done, const std::string& stats) const {
  const double elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
  const double rate = elapsed > 0 ? static_cast<double>(done - start_done_) / elapsed : 0.0;
  if (total_ == 0)  // open-ended: the stats say how far along it is
    return fmt::format("{}{} {} | {} | {:.1f} it/s, elapsed {}{}", tty_ ? "\r" : "", label_, done, stats, rate,
                       format_duration(elapsed), tty_ ? "\x1b[K" : "\n");
  const std::string eta = rate > 0 ? format_duration(static_cast<double>(total_ - done) / rate) : "?";
  const double fraction = static_cast<double>(done) / static_cast<double>(total_);
  if (!tty_)
    return fmt::format("{} {}/{} ({:.0f}%) {} | elapsed {} ETA {}\n", label_, done, total_, 100 * fraction, stats,
                       format_duration(elapsed), eta);
  constexpr int kWidth = 24;
  const int filled = static_cast<int>(fraction * kWidth);
  return fmt::format("\r{} [{}{}] {}/{} {} | ETA {}\x1b[K", label_, std::string(static_cast<size_t>(filled), '#'),
                     std::string(static_cast<size_t>(kWidth - filled), '.'), done, total_, stats, eta);
}

void Progress::update(int64_t done, const std::string& stats) {
  const auto now = std::chrono::steady_clock::now();
  if (start_done_ < 0) {  // rates count from the first update (a resumed run starts mid-way)
    start_done_ = done;
    start_ = now;
  }
  // A terminal redraws ten times a second; a log gets a line every 15 seconds.
  const auto interval = tty_ ? std::chrono::milliseconds(100) : std::chrono::milliseconds(15000);
  if (now - last_draw_ < interval) return;
  last_draw_ = now;
  std::fputs(render(done, stats).c_str(), out_);
  std::fflush(out_);
}

void Progress::finish(int64_t done, const std::string& stats) {
  if (start_done_ < 0) start_done_ = 0;
  std::string line = render(done, stats);
  if (tty_) line += "\n";
  std::fputs(line.c_str(), out_);
  std::fflush(out_);
}

namespace {

void drop_records_after(const std::string& path, int64_t iteration) {
  std::ifstream in(path);
  if (!in) return;
  std::string kept, line;
  while (std::getline(in, line)) {
    if (in.eof()) break;  // no newline: cut short by a kill
    const auto record = nlohmann::json::parse(line, nullptr, /*allow_exceptions=*/false);
    if (record.is_object() && record.value("iteration", int64_t{0}) <= iteration) kept += line + '\n';
  }
  write_file_atomic(path, [&](std::ostream& out) { out << kept; });
}

}  // namespace

MetricsLog::MetricsLog(const std::string& path, bool append, int64_t resumed_at) {
  if (append) drop_records_after(path, resumed_at);
  out_.open(path, append ? std::ios::app : std::ios::trunc);
  if (!out_) fail("cannot write metrics log {}", path);
}

void MetricsLog::write(const nlohmann::json& record) {
  out_ << json_text(record) << '\n';
  out_.flush();
}

}  // namespace domino
