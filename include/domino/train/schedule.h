// Learning-rate schedules, as a pure function of the global iteration.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "domino/core/names.h"

namespace domino {

enum class ScheduleKind { Multistep, Cosine, Constant };
inline constexpr EnumNames<ScheduleKind, 3> kScheduleKinds{
    {{{ScheduleKind::Multistep, "multistep"}, {ScheduleKind::Cosine, "cosine"}, {ScheduleKind::Constant, "constant"}}}};

struct LrSchedule {
  ScheduleKind kind = ScheduleKind::Multistep;
  double base_lr = 0.1;
  std::vector<int64_t> milestones;  // multistep: epochs at which lr is multiplied by gamma
  double gamma = 0.1;
  double warmup_epochs = 0.0;       // linear warm-up from base_lr/warmup_iters to base_lr
  int64_t iters_per_epoch = 1;
  int64_t total_iters = 1;

  double lr_at(int64_t iteration) const;
};

// Checks the values; throws domino::Error naming the problem.
void validate(const LrSchedule& schedule);

}  // namespace domino
