#include "commands.h"
#include "domino/core/error.h"
#include "domino/sparse/export.h"
#include "domino/sparse/finetune.h"
#include "model_args.h"

namespace domino::cli {
namespace {

Scheme scheme_for(const Checkpoint& checkpoint, const std::string& checkpoint_path, const std::string& scheme_path) {
  if (!scheme_path.empty()) return load_scheme(scheme_path);
  if (auto s = scheme_of(checkpoint, checkpoint_path)) return *s;
  fail("{} carries no scheme (it is not from domino finetune): pass --scheme", checkpoint_path);
}

}  // namespace

void add_export_command(CLI::App& app) {
  auto* command = app.add_subcommand("export", "Write a checkpoint's N:M weights as a PyTorch state dict or in the compressed N:M format");
  command->footer("pytorch: torch.load(FILE) gives {'layer1.0.conv1.weight': tensor, ...}, pruned weights.\n"
                  "nm: per layer, the N kept values of every group and their in-group indices (docs/nm-format.md).");
  struct Args {
    std::string checkpoint, scheme, format = "pytorch", out;
  };
  auto a = std::make_shared<Args>();
  command->add_option("--checkpoint", a->checkpoint, "checkpoint (pruned.pt from finetune, or any with --scheme)")->required();
  command->add_option("--scheme", a->scheme, "scheme file (default: the one inside the checkpoint)");
  command->add_option("--format", a->format, "pytorch or nm")->check(CLI::IsMember({"pytorch", "nm"}))->capture_default_str();
  command->add_option("--out", a->out, "file to write")->required();
  command->callback([a] {
    const auto checkpoint = load_checkpoint(a->checkpoint);
    const auto scheme = scheme_for(checkpoint, a->checkpoint, a->scheme);
    const auto state = pruned_state(checkpoint.model_state, scheme);
    if (a->format == "pytorch") {
      export_pytorch(state, a->out);
      fmt::print("wrote {} tensors to {}\n", state.size(), a->out);
      return;
    }
    const auto layers = compress_nm(state, scheme);
    write_nm(layers, a->out);
    int64_t dense_bytes = 0;
    for (const auto& l : layers) dense_bytes += c10::multiply_integers(l.shape) * 4;
    const auto bytes = nm_payload_bytes(layers);
    fmt::print("wrote {} N:M layers to {}: {} bytes of values and indices for {} dense fp32 bytes (compression {:.2f}x)\n",
               layers.size(), a->out, bytes, dense_bytes, bytes ? static_cast<double>(dense_bytes) / static_cast<double>(bytes) : 0.0);
  });
}

void add_verify_command(CLI::App& app) {
  auto* command = app.add_subcommand("verify", "Check a weight file against a scheme, group by group");
  struct Args {
    std::string weights, scheme;
    ModelArgs model;
  };
  auto a = std::make_shared<Args>();
  command->add_option("--weights", a->weights, "domino checkpoint or PyTorch state dict")->required();
  command->add_option("--scheme", a->scheme, "scheme file (JSON, or the authors' text format)")->required();
  a->model.add(command, /*with_checkpoint=*/false);
  command->footer("The authors' text format names layers by position: it needs the model, which a domino checkpoint "
                  "carries; for a plain state dict give --model (and --dataset).");
  command->callback([a] {
    const auto weights = read_weight_file(a->weights);
    Scheme scheme;
    if (a->model.given() || weights.checkpoint) {
      std::string model, dataset;
      const auto table = a->model.table(model, dataset, weights.checkpoint ? &*weights.checkpoint : nullptr);
      scheme = load_scheme(a->scheme, &table);
      check_scheme_fits(scheme, table, a->scheme);
    } else {
      scheme = load_scheme(a->scheme);
    }
    const auto checks = verify_nm(weights.state, scheme);
    int64_t broken_layers = 0;
    fmt::print("{:<28} {:>6} {:>10} {:>10} {:>8}  {}\n", "layer", "N:M", "non-zeros", "weights", "density", "groups");
    for (const auto& c : checks) {
      const std::string verdict = c.N >= c.M ? "dense" :
          c.broken_groups == 0 ? fmt::format("all {} groups N:M", c.groups) :
          fmt::format("BROKEN: {} of {} groups exceed N (first: group {})", c.broken_groups, c.groups, c.first_broken);
      fmt::print("{:<28} {:>6} {:>10} {:>10} {:>7.1f}%  {}\n", c.name, fmt::format("{}:{}", c.N, c.M), c.nonzeros, c.elements,
                 100.0 * static_cast<double>(c.nonzeros) / static_cast<double>(c.elements), verdict);
      broken_layers += c.broken_groups > 0;
    }
    if (broken_layers > 0) fail("{} of {} layers break their N:M scheme", broken_layers, checks.size());
    fmt::print("verified: every group of every layer is within its N:M\n");
  });
}

}  // namespace domino::cli
