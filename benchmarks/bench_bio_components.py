"""Throughput of Chapter 4's components: forward + backward images/s of the Chapter-1 CNN with each one added.

Also compares the locally connected layer (depthwise: a sum of shifted copies; full mix: unfold, then one einsum)
with the obvious per-position Python loop, which is what the vectorized version replaces, forward and
forward+backward, for the depthwise layer Chapter 4 uses and for the full channel mix.

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

    for depthwise in (True, False):
        layer = LocallyConnected2d(args.channels, args.channels, shape, 3, depthwise=depthwise).to(device)
        z = torch.randn(args.batch, args.channels, *shape, device=device, requires_grad=True)
        w = layer.weight.view(*shape, args.channels, -1)

        def loop(layer=layer, z=z, w=w, depthwise=depthwise):
            """The obvious version: one small product per output position."""
            padded = F.pad(z, (1, 1, 1, 1))
            cols = []
            for i in range(shape[0]):
                for j in range(shape[1]):
                    patch = padded[:, :, i : i + 3, j : j + 3]
                    if depthwise:  # (B, C, 9) * (C, 9) summed over the patch
                        cols.append((patch.reshape(args.batch, args.channels, 9) * w[i, j]).sum(-1))
                    else:
                        cols.append(patch.reshape(args.batch, -1) @ w[i, j].t())
            return torch.stack(cols, -1).view(args.batch, args.channels, *shape) + layer.bias.view(
                1, args.channels, *shape)

        with torch.no_grad():
            ref = layer(z)
            assert torch.allclose(loop(), ref, atol=1e-4), "the loop and the layer disagree"
        rates = {}
        for name, fn in (("vectorized", layer), ("Python loop", lambda *_, f=loop: f())):
            with torch.no_grad():
                fwd = _rate(lambda fn=fn, z=z: fn(z), args.batch, args.repeats, device)
            both = _rate(lambda fn=fn, z=z: fn(z).sum().backward(), args.batch, args.repeats, device)
            rates[name] = (fwd, both)
        kind = "depthwise (chapter 4's)" if depthwise else "full channel mix"
        (f1, b1), (f2, b2) = rates["vectorized"], rates["Python loop"]
        print(f"locally connected, {kind}: vectorized {f1:.0f} / {b1:.0f} images/s (forward / forward+backward), "
              f"Python loop {f2:.0f} / {b2:.0f}; vectorized/loop {f1 / f2:.1f}x / {b1 / b2:.1f}x")

if __name__ == "__main__":
    main()
