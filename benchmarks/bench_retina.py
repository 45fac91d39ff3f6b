"""Retina benchmarks (chapter 2): stimulus regeneration frames/s and retina-model training samples/s.

1. Regeneration of the Liu et al. 2017 running checkerboard (200x150, ``retinawhitenoise``), full frames per
   second, for ``--trials`` trials (each 1500 frames). Needs nothing but the package.
2. Training throughput of ``RetinaCNN`` and ``RetinaLN`` through ``neurobook.train.fit`` on simulated model cells
   (history as channels, int8 stimuli on the device), samples per second, per device.

Usage (from the repository root)::

    PYTHONPATH=. python benchmarks/bench_retina.py                    # CPU
    PYTHONPATH=. python benchmarks/bench_retina.py --device both      # CPU and CUDA when present
"""

from __future__ import annotations

import argparse
import time

import torch

from neurobook.data.liu2017 import running_frames
from neurobook.data.retina_sim import simulate_retina
from neurobook.models.retina import build_retina_model
from neurobook.train import fit


def bench_regeneration(trials: int) -> float:
    start, frames = time.perf_counter(), 0
    for x in running_frames(trials):
        frames += len(x)
    seconds = time.perf_counter() - start
    print(f"regeneration: {frames} frames of 200x150 in {seconds:.1f} s = {frames / seconds:.0f} frames/s "
          f"({seconds / trials:.1f} s per 1500-frame trial)")
    return frames / seconds


def bench_training(device: str, epochs: int, trials: int, grid: int, history: int) -> None:
    rec = simulate_retina(n_cells=1, grid=grid, n_trials=trials + 1, n_lags=history, seed=0)
    data = rec.to_data(history)
    for kind in ("retina_ln", "retina_cnn"):
        torch.manual_seed(0)
        model = build_retina_model(kind, history, data.image_shape)
        # patience > epochs: no early stop, so every run trains the same number of epochs
        result = fit(model, data, epochs=epochs, batch_size=256, device=device, seed=0, patience=epochs + 1)
        print(f"{device:>5} {kind:<11} {(data.tiers == 'train').sum()} samples of {history}x{grid}x{grid}: "
              f"{result.images_per_second:,.0f} samples/s, {result.seconds:.1f} s for {epochs} epochs "
              f"(best validation r {result.best_val_corr:.3f})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", choices=("cpu", "cuda", "both"), default="cpu")
    parser.add_argument("--trials", type=int, default=2, help="regeneration trials to time (1500 frames each)")
    parser.add_argument("--train-trials", type=int, default=8, help="simulated training trials of 1500 bins")
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--grid", type=int, default=16)
    parser.add_argument("--history", type=int, default=12)
    args = parser.parse_args()
    print(f"torch {torch.__version__}, threads {torch.get_num_threads()}")
    bench_regeneration(args.trials)
    devices = ["cpu", "cuda"] if args.device == "both" else [args.device]
    for dev in devices:
        if dev == "cuda" and not torch.cuda.is_available():
            print("cuda: not available, skipped")
            continue
        bench_training(dev, args.epochs, args.train_trials, args.grid, args.history)


if __name__ == "__main__":
    main()
