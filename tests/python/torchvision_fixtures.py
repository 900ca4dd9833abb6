"""Writes what the C++ tests compare against, with Debian's python3-torch/torchvision:
torchvision models with a fixed seed (and non-trivial BatchNorm statistics) saved by
torch.save(model.state_dict()), an input, and the logits torchvision computes for it.

usage: torchvision_fixtures.py OUT_DIR MODEL [MODEL ...] [--classes N] [--size S]
"""
import argparse
import os

import torch
import torchvision

parser = argparse.ArgumentParser()
parser.add_argument("out")
parser.add_argument("models", nargs="+")
parser.add_argument("--classes", type=int, default=1000)
parser.add_argument("--size", type=int, default=224)
parser.add_argument("--broken", action="store_true", help="also write state dicts with a missing/extra/mis-shaped key")
args = parser.parse_args()
os.makedirs(args.out, exist_ok=True)

for name in args.models:
    torch.manual_seed(0)
    model = getattr(torchvision.models, name)(num_classes=args.classes)
    with torch.no_grad():  # make the BN statistics and affine terms matter
        for m in model.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                m.running_mean.normal_(0, 0.1)
                m.running_var.uniform_(0.5, 1.5)
                m.weight.uniform_(0.5, 1.5)
                m.bias.normal_(0, 0.1)
                m.num_batches_tracked.fill_(7)
    model.eval()
    state = model.state_dict()
    torch.save(state, os.path.join(args.out, name + ".pth"))
    x = torch.randn(2, 3, args.size, args.size)
    with torch.no_grad():
        logits = model(x)
    torch.save({"input": x, "logits": logits}, os.path.join(args.out, name + ".io.pth"))
    if args.broken:
        extra = state.copy()
        extra["head.weight"] = torch.zeros(3)
        torch.save(extra, os.path.join(args.out, name + ".extra.pth"))
        missing = state.copy()
        del missing["fc.bias"]
        torch.save(missing, os.path.join(args.out, name + ".missing.pth"))
        shape = state.copy()
        shape["conv1.weight"] = torch.zeros(64, 3, 3, 3)
        torch.save(shape, os.path.join(args.out, name + ".shape.pth"))
        torch.save(state, os.path.join(args.out, name + ".legacy.pth"), _use_new_zipfile_serialization=False)
        torch.save({"epoch": 3, "state_dict": {"module." + k: v for k, v in state.items()}},
                   os.path.join(args.out, name + ".wrapped.pth"))
print("ok")
