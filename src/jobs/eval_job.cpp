#include "domino/jobs/eval_job.h"

#include <torch/torch.h>

#include "domino/core/error.h"
#include "domino/core/runtime.h"
#include "domino/train/precision.h"
#include "jobs/run.h"

namespace domino {

EvalResult run_eval_job(const EvalJob& job) {
  RunContext run = job.run;
  const auto placed = place(run);  // launched data-parallel: each rank evaluates its shard
  auto m = load_inference_model(job.source);
  if (!job.expect_model.empty() && job.expect_model != m.config.model)
    fail("checkpoint {} holds a {}, not a {}", job.source.checkpoint, m.config.model, job.expect_model);
  const auto device = job.engine == Engine::Nm ? inference_device(job.engine, run.device) : placed.device;
  const auto precision = resolve_precision(job.precision, device);
  auto format = parse_memory_format(run.memory_format);
  m.model->to(device);
  if (job.engine == Engine::Nm) {
    use_nm_engine(m, device, precision);
    format = MemoryFormat::Contiguous;  // the row kernel reads NCHW; where the channels-last one runs, the stem converts
  }
  set_memory_format(*m.model, format);
  m.config.rank = run.rank;
  m.config.world_size = run.world_size;
  auto loader = make_eval_loader(m.config, job.split, job.batch_size, run.workers);
  return evaluate(*m.model, *loader, device, "eval", precision, format, placed.group);
}

}  // namespace domino
