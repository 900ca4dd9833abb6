#!/usr/bin/python3
"""DominoSearch on ResNet-20 / Fashion-MNIST written the way the authors' PyTorch code runs
it: fp32, NCHW, masks by an argsort of |w| per group at every forward, the penalty added to
the gradients between backward and the SGD step, votes every kc iterations, a torch
DataLoader with worker processes. The yardstick for `domino search` in
docs/benchmarks.md (bench/search_vs_python.sh runs both).

    /usr/bin/python3 bench/python/search_reference.py --checkpoint runs/demo/dense/checkpoint.pt \
        --iters 600 --threads 2 --workers 2

Reads our dense checkpoint (torch.load reads LibTorch's pickle_save files) and the IDX files
of Debian's dataset-fashion-mnist. Prints the seconds of the whole run and of the loop.
"""
import argparse
import gzip
import math
import os
import time

T0 = time.time()
import numpy as np  # noqa: E402
import torch  # noqa: E402
import torch.nn as nn  # noqa: E402
import torch.nn.functional as F  # noqa: E402

MEAN, STD = 0.2860, 0.3530  # Fashion-MNIST, as our dataset table


def read_idx(path):
    with gzip.open(path, "rb") if path.endswith(".gz") else open(path, "rb") as f:
        data = f.read()
    dims = data[3]
    shape = [int.from_bytes(data[4 + 4 * i:8 + 4 * i], "big") for i in range(dims)]
    return np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * dims).reshape(shape)


class FashionTrain(torch.utils.data.Dataset):
    """Random crop with 2 pixels of padding, horizontal flip, normalisation (our pipeline)."""

    def __init__(self, root):
        name = lambda n: os.path.join(root, n + (".gz" if os.path.exists(os.path.join(root, n + ".gz")) else ""))
        self.images = torch.from_numpy(read_idx(name("train-images-idx3-ubyte")).copy())
        self.labels = torch.from_numpy(read_idx(name("train-labels-idx1-ubyte")).astype(np.int64))

    def __len__(self):
        return len(self.labels)

    def __getitem__(self, i):
        x = F.pad(self.images[i].float().div(255).unsqueeze(0), (2, 2, 2, 2))
        top, left = np.random.randint(0, 5, size=2)
        x = x[:, top:top + 28, left:left + 28]
        if np.random.rand() < 0.5:
            x = x.flip(2)
        return (x - MEAN) / STD, self.labels[i]


class MaskedConv(nn.Conv2d):
    """Conv2d whose forward uses W * mask, the mask from an argsort of |W| in NHWC groups."""

    def __init__(self, *a, **k):
        super().__init__(*a, **k)
        self.n, self.m = self.weight.numel(), 16  # N = M: dense until the search lowers it

    def mask(self):
        w = self.weight.detach().permute(0, 2, 3, 1).reshape(-1, self.m)
        order = torch.argsort(w.abs(), dim=1, descending=True)
        keep = torch.zeros_like(w).scatter_(1, order[:, :self.n], 1.0)
        o, i, h, k = self.weight.shape
        return keep.reshape(o, h, k, i).permute(0, 3, 1, 2)

    def forward(self, x):
        w = self.weight if self.n >= self.m else self.weight * self.mask()
        return F.conv2d(x, w, None, self.stride, self.padding)


class Block(nn.Module):
    def __init__(self, i, o, s):
        super().__init__()
        self.conv1, self.bn1 = MaskedConv(i, o, 3, s, 1, bias=False), nn.BatchNorm2d(o)
        self.conv2, self.bn2 = MaskedConv(o, o, 3, 1, 1, bias=False), nn.BatchNorm2d(o)
        self.downsample = None
        if s != 1 or i != o:
            self.downsample = nn.Sequential(MaskedConv(i, o, 1, s, 0, bias=False), nn.BatchNorm2d(o))

    def forward(self, x):
        y = F.relu(self.bn1(self.conv1(x)))
        y = self.bn2(self.conv2(y))
        return F.relu(y + (x if self.downsample is None else self.downsample(x)))


class ResNet20(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1, self.bn1 = nn.Conv2d(1, 16, 3, 1, 1, bias=False), nn.BatchNorm2d(16)
        blocks, i = [], 16
        for stage, (o, s) in enumerate([(16, 1), (32, 2), (64, 2)]):
            layer = []
            for b in range(3):
                layer.append(Block(i, o, s if b == 0 else 1))
                i = o
            setattr(self, f"layer{stage + 1}", nn.Sequential(*layer))
        self.fc = nn.Linear(64, 10)

    def forward(self, x):
        x = F.relu(self.bn1(self.conv1(x)))
        x = self.layer3(self.layer2(self.layer1(x)))
        return self.fc(F.adaptive_avg_pool2d(x, 1).flatten(1))


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--checkpoint", required=True)
    p.add_argument("--data-dir", default="/usr/share/datasets/fashion-mnist")
    p.add_argument("--iters", type=int, default=600)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--lr", type=float, default=0.01)
    p.add_argument("--lam", type=float, default=0.1)
    p.add_argument("--kp", type=int, default=5)
    p.add_argument("--kc", type=int, default=100)
    p.add_argument("--vr", type=float, default=0.75)
    a = p.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(0)

    model = ResNet20()
    state = torch.load(a.checkpoint)["model_state"]
    model.load_state_dict(state)
    model.train()
    layers = [m for m in model.modules() if isinstance(m, MaskedConv)]
    for m in layers:  # N_int starts at M; thresholds: mean of the M/2 smallest |w| per group
        m.n = m.m
        g = m.weight.detach().permute(0, 2, 3, 1).reshape(-1, m.m).abs()
        m.threshold = g.sort(1)[0][:, : m.m // 2].mean(1)
    eta = {m: 1.0 for m in layers}
    opt = torch.optim.SGD(model.parameters(), lr=a.lr, momentum=0, weight_decay=0)
    loader = torch.utils.data.DataLoader(FashionTrain(a.data_dir), batch_size=a.batch_size, shuffle=True,
                                         num_workers=a.workers, drop_last=True, persistent_workers=a.workers > 0)

    start, t = time.time(), 0
    while t < a.iters:
        for x, y in loader:
            loss = F.cross_entropy(model(x), y)
            opt.zero_grad()
            loss.backward()
            if t % a.kp == 0:  # layer-wise penalty on the surviving weights
                with torch.no_grad():
                    for m in layers:
                        w = m.weight if m.n >= m.m else m.weight * m.mask()
                        m.weight.grad.add_(w, alpha=a.lam * eta[m])
            if t % a.kc == 0 and t > 0:  # votes: groups with fewer than N_int weights above the threshold
                with torch.no_grad():
                    for m in layers:
                        g = m.weight.permute(0, 2, 3, 1).reshape(-1, m.m).abs()
                        above = (g > m.threshold.unsqueeze(1)).sum(1)
                        if (above < m.n).float().mean().item() >= a.vr and m.n > 1:
                            m.n -= 1
            opt.step()
            loss.item()
            t += 1
            if t >= a.iters:
                break
    loop = time.time() - start
    print(f"python reference: {a.iters} iterations, loop {loop:.2f} s ({a.iters / loop:.1f} it/s), "
          f"whole run {time.time() - T0:.2f} s")


if __name__ == "__main__":
    main()
