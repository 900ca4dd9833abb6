#include "domino/jobs/train_job.h"

#include <torch/torch.h>

#include "domino/data/datasets.h"
#include "domino/jobs/train_data.h"
#include "domino/models/pretrained.h"
#include "io/files.h"
#include "jobs/run.h"

namespace domino {

TrainJobResult run_train_job(TrainConfig c) {
  validate(c);
  const Run run(c);
  const auto data = make_train_data(c);
  const auto test = make_eval_loader(c, EvalSplit::Test);

  torch::manual_seed(c.seed);
  const ModelOptions options{dataset_spec(c.dataset).shape.channels, data.train->num_classes()};
  auto model = make_model(c.model, options);
  if (!c.pretrained.empty()) load_pretrained(*model, c.pretrained, c.strict);
  auto setup = make_train_setup(model, c.model, options, c, data, run.device, nullptr, run.group());

  run.write_config(c);
  TrainJobResult result;
  result.train = train(setup);
  result.checkpoint = checkpoint_path(c.out);
  result.test = evaluate(*model, *test, run.device, "test", Precision::FP32, parse_memory_format(c.memory_format), run.group());
  if (run.writes()) write_json_file(run.file("result.json"), to_json(result));
  return result;
}

}  // namespace domino
