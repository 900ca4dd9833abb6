#include "domino/core/report.h"

#include <unistd.h>

#include <cstdio>
#include <mutex>

namespace domino {
namespace {

std::mutex& reporter_mutex() {
  static std::mutex m;
  return m;
}

Reporter& current() {
  static Reporter r;
  return r;
}

// On a terminal a progress bar may own the current line: clear it first (the bar redraws
// itself at its next update), so a message never lands in the middle of one.
void print_to_stderr(ReportKind kind, const std::string& message) {
  static const bool tty = isatty(fileno(stderr));
  fmt::print(stderr, "{}{}{}\n", tty ? "\r\033[K" : "", kind == ReportKind::Warning ? "warning: " : "", message);
}

}  // namespace

Reporter set_reporter(Reporter reporter) {
  std::lock_guard<std::mutex> lock(reporter_mutex());
  std::swap(current(), reporter);
  return reporter;
}

void report(ReportKind kind, const std::string& message) {
  std::lock_guard<std::mutex> lock(reporter_mutex());  // one message at a time, from any thread
  if (current())
    current()(kind, message);
  else
    print_to_stderr(kind, message);
}

}  // namespace domino
