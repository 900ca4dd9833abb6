#include "domino/io/checkpoint.h"

#include <torch/torch.h>

#include "core/shape.h"
#include "domino/core/error.h"
#include "domino/core/report.h"
#include "io/files.h"

namespace domino {
namespace {

constexpr const char* kFormat = "dominosearch-checkpoint-1";

c10::impl::GenericDict to_generic(const TensorDict& d) {
  auto out = make_generic_dict();
  for (const auto& item : d) out.insert(item.key(), item.value());
  return out;
}

TensorDict tensor_dict(const c10::IValue& value, const std::string& what) {
  TensorDict out;
  if (!value.isGenericDict()) fail("{}: entry is not a dict", what);
  for (const auto& item : value.toGenericDict()) {
    if (!item.key().isString() || !item.value().isTensor()) fail("{}: entry is not a name -> tensor dict", what);
    out.insert(item.key().toStringRef(), item.value().toTensor());
  }
  return out;
}

}  // namespace

c10::impl::GenericDict make_generic_dict() { return c10::impl::GenericDict(c10::StringType::get(), c10::AnyType::get()); }

void save_checkpoint(const Checkpoint& c, const std::string& path) {
  auto d = make_generic_dict();
  d.insert("format", std::string(kFormat));
  d.insert("model", c.model);
  d.insert("in_channels", c.model_options.in_channels);
  d.insert("num_classes", c.model_options.num_classes);
  d.insert("config", json_text(c.config));
  d.insert("iteration", c.iteration);
  d.insert("epoch", c.epoch);
  d.insert("model_state", to_generic(c.model_state));
  d.insert("optimizer_state", to_generic(c.optimizer_state));
  d.insert("rng_state", c.rng_state.defined() ? c.rng_state : torch::empty({0}, torch::kUInt8));
  d.insert("extra", c.extra);
  const auto bytes = torch::pickle_save(c10::IValue(d));
  write_file_atomic(path, [&](std::ostream& out) { out.write(bytes.data(), static_cast<std::streamsize>(bytes.size())); });
}

Checkpoint load_checkpoint(const std::string& path) { return checkpoint_from_dict(read_pickled_dict(path, "checkpoint"), path); }

Checkpoint checkpoint_from_dict(const c10::impl::GenericDict& d, const std::string& path) {
  // Each entry checked for its type: LibTorch's accessors end in an internal assert otherwise.
  auto get = [&](const char* key, bool (c10::IValue::*is)() const, const char* type) {
    auto found = d.find(std::string(key));
    if (found == d.end()) fail("{} is not a domino checkpoint (no '{}' entry)", path, key);
    if (!(found->value().*is)()) fail("{} is damaged: its '{}' entry is not {}", path, key, type);
    return found->value();
  };
  const auto text = [&](const char* key) { return get(key, &c10::IValue::isString, "text").toStringRef(); };
  const auto integer = [&](const char* key) { return get(key, &c10::IValue::isInt, "an integer").toInt(); };
  if (!d.contains("format") || !d.at("format").isString() || d.at("format").toStringRef() != kFormat)
    fail("{} is not a domino checkpoint of format {}", path, kFormat);
  Checkpoint c;
  c.model = text("model");
  c.model_options = {integer("in_channels"), integer("num_classes")};
  c.config = parse_json(text("config"), path + " (its config)");
  if (!c.config.is_object()) fail("{} is damaged: its config is not a mapping", path);
  c.iteration = integer("iteration");
  c.epoch = d.contains("epoch") ? integer("epoch") : 0;  // absent in files from before it was recorded
  if (c.iteration < 0 || c.epoch < 0) fail("{} is damaged: negative iteration or epoch", path);
  c.model_state = tensor_dict(get("model_state", &c10::IValue::isGenericDict, "a dict"), path);
  c.optimizer_state = tensor_dict(get("optimizer_state", &c10::IValue::isGenericDict, "a dict"), path);
  c.rng_state = get("rng_state", &c10::IValue::isTensor, "a tensor").toTensor();
  for (const auto& item : get("extra", &c10::IValue::isGenericDict, "a dict").toGenericDict()) {
    if (!item.key().isString()) fail("{} is damaged: its 'extra' entry has a key that is not text", path);
    c.extra.insert(item.key(), item.value());
  }
  return c;
}

TensorDict module_state(const torch::nn::Module& module) {
  TensorDict out;
  // Contiguous: files are the same whatever memory format the run computed in.
  for (const auto& p : module.named_parameters()) out.insert(p.key(), p.value().detach().to(torch::kCPU).contiguous());
  for (const auto& b : module.named_buffers()) out.insert(b.key(), b.value().detach().to(torch::kCPU).contiguous());
  return out;
}

void load_module_state(torch::nn::Module& module, const TensorDict& state, const std::string& source,
                       bool allow_unexpected) {
  std::vector<std::string> missing, mismatched, unexpected;
  std::vector<std::pair<torch::Tensor, torch::Tensor>> copies;
  size_t used = 0;
  auto collect = [&](const std::string& name, const torch::Tensor& target) {
    auto found = state.find(name);
    if (found == state.end()) return missing.push_back(name);
    ++used;
    if (!found->value().sizes().equals(target.sizes()))
      return mismatched.push_back(fmt::format("{} ({} vs {})", name, shape_str(found->value().sizes()), shape_str(target.sizes())));
    copies.emplace_back(target, found->value());
  };
  for (const auto& p : module.named_parameters()) collect(p.key(), p.value());
  for (const auto& b : module.named_buffers()) collect(b.key(), b.value());
  if (used != state.size()) {
    auto names = module.named_parameters();
    auto buffers = module.named_buffers();
    for (const auto& item : state)
      if (!names.contains(item.key()) && !buffers.contains(item.key())) unexpected.push_back(item.key());
  }
  auto list = [](const std::vector<std::string>& v) {
    const size_t shown = std::min<size_t>(v.size(), 5);
    return fmt::format("{}{}", fmt::join(v.begin(), v.begin() + static_cast<std::ptrdiff_t>(shown), ", "),
                       v.size() > shown ? fmt::format(", ... ({} in all)", v.size()) : "");
  };
  if (allow_unexpected && !unexpected.empty()) {
    warn("{}: ignored {} entries the model does not have: {}", source, unexpected.size(), list(unexpected));
    unexpected.clear();
  }
  if (!missing.empty() || !mismatched.empty() || !unexpected.empty()) {
    std::string why;
    if (!missing.empty()) why += fmt::format("; missing: {}", list(missing));
    if (!mismatched.empty()) why += fmt::format("; wrong shape: {}", list(mismatched));
    if (!unexpected.empty()) why += fmt::format("; unexpected: {}", list(unexpected));
    fail("{} does not fit the model{}{}", source, why,
         unexpected.empty() || !missing.empty() || !mismatched.empty() ? "" : " (with --pretrained, --strict=false ignores unexpected entries)");
  }
  torch::NoGradGuard no_grad;
  for (auto& [target, value] : copies) target.copy_(value);
}

}  // namespace domino
