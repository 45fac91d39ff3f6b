"""Throughput of chapter 5's tools: DCGAN prior training (images/s) and black-box evolution (evaluations/s).

Plain python, not a test. Uses random patches (the speed does not depend on the content) and a V4-sized encoding
model with random weights (the evaluation cost does not depend on training).

    python benchmarks/bench_generative.py [--device auto] [--size 28] [--neurons 64] [--json-out FILE]
"""

from __future__ import annotations

import argparse
import json
import platform
import time

import numpy as np
import torch

from neurobook.config import resolve_device
from neurobook.generative import PriorConfig, train_prior
from neurobook.inversion import cma_es, genetic_algorithm, latent_ascent, neuron_objective
from neurobook.models import build_model


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--device", default="auto")
    ap.add_argument("--size", type=int, default=28, help="image side (28 = 112 px V4 images downsampled 4x)")
    ap.add_argument("--width", type=int, default=32, help="prior width")
    ap.add_argument("--steps", type=int, default=60, help="prior training steps to time")
    ap.add_argument("--neurons", type=int, default=64, help="neurons evolved at once")
    ap.add_argument("--population", type=int, default=32)
    ap.add_argument("--generations", type=int, default=10)
    ap.add_argument("--json-out", default=None)
    args = ap.parse_args()
    dev = resolve_device(args.device)
    torch.manual_seed(0)
    out: dict = {"device": str(dev), "torch": torch.__version__, "threads": torch.get_num_threads(),
                 "machine": platform.processor() or platform.machine(), "args": vars(args)}

    cfg = PriorConfig(size=args.size, z_dim=64, width=args.width, steps=args.steps, batch_size=64, n_patches=2048)
    patches = np.random.default_rng(0).uniform(-1, 1, (2048, 3, args.size, args.size)).astype(np.float32)
    train_prior(patches, PriorConfig(**{**cfg.as_dict(), "steps": 3}), device=str(dev))  # warm-up
    prior = train_prior(patches, cfg, device=str(dev))
    out["prior_images_per_second"] = prior.images_per_second
    print(f"prior training ({args.size}px, width {args.width}): {prior.images_per_second:.0f} images/s on {dev}")

    model = build_model("cnn_gaussian", (args.size, args.size), 600, in_channels=3, hidden_channels=16, layers=3,
                        input_kernel=7, hidden_kernel=5).to(dev).eval()
    neurons = np.arange(args.neurons)
    f = neuron_objective(model, neurons, prior, device=str(dev))
    f(np.zeros((args.neurons, args.population, 64), np.float32))  # warm-up
    for name, method in (("GA", genetic_algorithm), ("CMA-ES", cma_es)):
        t0 = time.perf_counter()
        res = method(f, args.neurons, 64, generations=args.generations, population=args.population)
        if dev.type == "cuda":
            torch.cuda.synchronize()
        seconds = time.perf_counter() - t0
        rate = args.neurons * res.n_evaluations / seconds
        out[f"{name}_evaluations_per_second"] = rate
        print(f"{name}: {rate:.0f} evaluations/s ({args.neurons} neurons x {args.population} x "
              f"{args.generations} generations in {seconds:.1f} s)")
    t0 = time.perf_counter()
    latent_ascent(model, neurons, prior, steps=20, device=dev)
    seconds = time.perf_counter() - t0
    out["latent_ascent_neuron_steps_per_second"] = args.neurons * 20 / seconds
    print(f"latent gradient ascent: {args.neurons * 20 / seconds:.0f} neuron-steps/s")
    if args.json_out:
        with open(args.json_out, "w") as fh:
            json.dump(out, fh, indent=2)


if __name__ == "__main__":
    main()
