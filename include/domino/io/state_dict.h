// PyTorch state dicts, as `torch.save(model.state_dict(), f)` writes them: a zip archive
// whose data.pkl pickles an OrderedDict of tensors. LibTorch's own torch::pickle_load
// turns every OrderedDict into None (it expects them only as tensors' backward hooks), so
// state dicts are read here with a small pickle machine that knows just what they hold.
#pragma once

#include <ATen/Tensor.h>

#include <string>
#include <utility>
#include <vector>

namespace domino {

using StateDict = std::vector<std::pair<std::string, at::Tensor>>;  // in file order

// Reads a state dict; also one nested under "state_dict", "model_state" or "model" of a
// checkpoint dict, with DataParallel's "module." prefix removed. Clear errors for files
// that are not PyTorch zip archives, are truncated, or hold something else.
StateDict read_pytorch_state_dict(const std::string& path);

}  // namespace domino
