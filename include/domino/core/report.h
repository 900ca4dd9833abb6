// The library reports, the application prints. Notes (what a job is doing: "resuming …",
// a search decision) and warnings (input skipped or ignored) go to the process's reporter:
// by default stderr, as the CLI shows them; a test or an embedding program installs its own.
// Progress bars are train/progress.h's.
#pragma once

#include <fmt/format.h>

#include <functional>
#include <string>
#include <utility>

namespace domino {

enum class ReportKind { Note, Warning };
using Reporter = std::function<void(ReportKind, const std::string&)>;

// Installs `reporter` for the whole process; returns the one it replaces. An empty
// function restores the default. Reports arrive one at a time (under a lock), so a
// reporter must not report itself.
Reporter set_reporter(Reporter reporter);
void report(ReportKind kind, const std::string& message);

template <typename... Args>
void note(fmt::format_string<Args...> format, Args&&... args) {
  report(ReportKind::Note, fmt::format(format, std::forward<Args>(args)...));
}
template <typename... Args>
void warn(fmt::format_string<Args...> format, Args&&... args) {
  report(ReportKind::Warning, fmt::format(format, std::forward<Args>(args)...));
}

// Installs a reporter for its lifetime (tests: collect what a job reported).
class ScopedReporter {
 public:
  explicit ScopedReporter(Reporter reporter) : previous_(set_reporter(std::move(reporter))) {}
  ~ScopedReporter() { set_reporter(std::move(previous_)); }
  ScopedReporter(const ScopedReporter&) = delete;
  ScopedReporter& operator=(const ScopedReporter&) = delete;

 private:
  Reporter previous_;
};

}  // namespace domino
