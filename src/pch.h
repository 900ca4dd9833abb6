// Precompiled header: LibTorch is most of every translation unit's compile time.
#pragma once
#include <torch/torch.h>
