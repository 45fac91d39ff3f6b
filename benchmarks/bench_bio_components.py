"""Throughput of Chapter 4's components: forward + backward images/s of the Chapter-1 CNN with each one added.

Also compares the locally connected layer (unfold + einsum) with the obvious per-position Python loop, which is
what the vectorized version replaces.

Usage (from the repository root)::

    PYTHONPATH=. python benchmarks/bench_bio_components.py [--device cpu|cuda] [--batch 64] [--shape 18 32]
"""

from __future__ import annotations

import argparse
import time

import torch
from torch.nn import functional as F

from neurobook.models import COMPONENTS, build_model, count_parameters
from neurobook.models.local import LocallyConnected2d


def _rate(fn, n_images: int, repeats: int, device: torch.device) -> float:
    fn()  # warm-up
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    t0 = time.perf_counter()
    for _ in range(repeats):
        fn()
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    return n_images * repeats / (time.perf_counter() - t0)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--shape", type=int, nargs=2, default=(18, 32))
    parser.add_argument("--neurons", type=int, default=500)
    parser.add_argument("--channels", type=int, default=16)
    parser.add_argument("--repeats", type=int, default=10)
    args = parser.parse_args()
    device = torch.device(args.device)
    shape = tuple(args.shape)
    x = torch.randn(args.batch, *shape, device=device)
    print(f"device {device}, batch {args.batch}, images {shape}, {args.neurons} neurons, {args.channels} channels")
    for comps in [(), *[(c,) for c in COMPONENTS], COMPONENTS]:
        model = build_model("cnn_gaussian", shape, args.neurons, components=comps, hidden_channels=args.channels,
                            layers=2).to(device)

        def step(model=model):
            model.zero_grad(set_to_none=True)
            (model(x).sum() + model.regularizer()).backward()

        rate = _rate(step, args.batch, args.repeats, device)
        print(f"{'+'.join(comps) or 'Chapter 1 core':<60s} {count_parameters(model):>9d} params "
              f"{rate:>9.0f} images/s (forward+backward)")

    layer = LocallyConnected2d(args.channels, args.channels, shape, 3).to(device)
    z = torch.randn(args.batch, args.channels, *shape, device=device)
    w = layer.weight.view(*shape, args.channels, -1)

    def loop():
        padded = F.pad(z, (1, 1, 1, 1))
        out = torch.empty(args.batch, args.channels, *shape, device=device)
        for i in range(shape[0]):
            for j in range(shape[1]):
                patch = padded[:, :, i : i + 3, j : j + 3].reshape(args.batch, -1)
                out[:, :, i, j] = patch @ w[i, j].t()
        return out

    with torch.no_grad():
        fast = _rate(lambda: layer(z), args.batch, args.repeats, device)
        slow = _rate(loop, args.batch, max(1, args.repeats // 5), device)
    print(f"locally connected layer: unfold+einsum {fast:.0f} images/s, Python loop {slow:.0f} images/s "
          f"({fast / slow:.1f}x)")


if __name__ == "__main__":
    main()
