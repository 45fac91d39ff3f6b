"""Chapter 1's gpu-profile models (the Sensorium 2022 baseline and its LN model) trained to early stopping, on any
device, resumable: the learning curve, the test numbers and the hours, so the gpu profile's claim is measured.

Each model's training checkpoints after every epoch (``neurobook.train.fit(checkpoint=...)``); run the same command
again after an interruption and it goes on from the last finished epoch. The JSON log (``--json-out``) is rewritten
after each model with everything measured so far.

Usage (from the repository root; the data found as in the chapters)::

    PYTHONPATH=. .venv/bin/python benchmarks/bench_ch01_gpu_model.py --device cpu --json-out gpu_model_cpu.json
    PYTHONPATH=. python benchmarks/bench_ch01_gpu_model.py --device cuda          # on a GPU machine
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from pathlib import Path

import numpy as np
import torch

from neurobook import evaluation
from neurobook.config import seed_everything
from neurobook.data import load_lurz2020
from neurobook.data.paths import cache_dir
from neurobook.models import build_model, sensorium_options
from neurobook.train import fit

CHAPTER_FIT = {"batch_size": 64, "lr": 5e-3, "patience": 5, "lr_decay": 0.3, "max_lr_decays": 3}


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--device", default="auto")
    p.add_argument("--max-epochs", type=int, default=200, help="a cap far above where early stopping ends")
    p.add_argument("--models", default="cnn,ln", help="comma-separated: cnn (the baseline), ln (its LN model)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=0, help="torch CPU threads, 0 = torch's default")
    p.add_argument("--data-dir", default=None)
    p.add_argument("--checkpoint-dir", default=str(cache_dir() / "bench_ch01_gpu_model"))
    p.add_argument("--json-out", default=None)
    return p.parse_args()


def train_one(name: str, data, args: argparse.Namespace) -> dict:
    seed_everything(args.seed)
    options = sensorium_options(data.meta.get("neuron_xyz"), linear=name == "ln")
    model = build_model("cnn_gaussian", data.image_shape, data.n_neurons, **options)
    ckpt = Path(args.checkpoint_dir) / f"{name}_seed{args.seed}.pt"
    t0 = time.perf_counter()
    run = fit(model, data, epochs=args.max_epochs, device=args.device, seed=args.seed, checkpoint=ckpt,
              desc=f"{name} (gpu profile model)", **CHAPTER_FIT)
    summary = evaluation.summarize(evaluation.evaluate(run.model, data.tier("test"), device=args.device))
    history = run.history
    stopped = len(history) < args.max_epochs
    return {
        "model": name, "options": {k: v for k, v in options.items() if k != "source_grid"},
        "grid_predictor": "source_grid" in options, "epochs_run": len(history), "best_epoch": run.best_epoch,
        "stopped_early": stopped, "best_val_corr": run.best_val_corr,
        "test_corr_to_avg": summary["mean_corr_to_avg"], "test_single_trial_corr": summary["mean_single_trial_corr"],
        "test_feve": summary["mean_feve"], "share_within_limit": summary["share_within_limit"],
        "hours_all_sessions": sum(h["seconds"] for h in history) / 3600,
        "hours_this_call": (time.perf_counter() - t0) / 3600,
        "median_epoch_seconds": float(np.median([h["seconds"] for h in history])),
        "learning_curve": [{k: h[k] for k in ("epoch", "val_corr", "lr", "seconds")} for h in history],
    }


def main() -> None:
    args = parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    data = load_lurz2020(args.data_dir, downsample=1)
    log = {"device": args.device, "torch": torch.__version__, "numpy": np.__version__,
           "python": platform.python_version(), "cpu_count": os.cpu_count(),
           "threads": torch.get_num_threads(), "fit": CHAPTER_FIT, "results": []}
    for name in args.models.split(","):
        result = train_one(name.strip(), data, args)
        log["results"].append(result)
        print(f"{name}: {result['epochs_run']} epochs (best {result['best_epoch']}, stopped early: "
              f"{result['stopped_early']}), {result['hours_all_sessions']:.2f} h of epochs; test correlation to "
              f"average {result['test_corr_to_avg']:.3f}, single-trial {result['test_single_trial_corr']:.3f}",
              flush=True)
        if args.json_out:
            Path(args.json_out).write_text(json.dumps(log, indent=1))


if __name__ == "__main__":
    main()
