// Process-level settings every command shares: thread count, device, and a Ctrl-C that
// asks long work to stop at a safe point (after saving) instead of killing it.
#pragma once

#include <c10/core/Device.h>

#include <string>

namespace domino {

// 0 means every core. LibTorch on these machines otherwise starts with one thread.
void set_threads(int threads);

// "auto" (cuda when LibTorch sees a GPU, else cpu), "cpu", "cuda" or "cuda:K".
c10::Device resolve_device(const std::string& name);

// After this, SIGINT/SIGTERM set a flag that long-running loops poll; a second
// SIGINT kills the process as usual.
void install_interrupt_handler();
bool interrupt_requested();
void request_interrupt();  // as if a signal arrived (tests)
void clear_interrupt();

}  // namespace domino
