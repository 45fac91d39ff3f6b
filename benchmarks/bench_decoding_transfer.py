"""Leave-mice-out transfer on the Allen Gabor data, all folds and mice batched in one model: wall time and throughput.

Prints the wall time of :func:`neurobook.decoding.transfer_across_animals` (every fold's classifier and every mouse's
input layer in one model step) and its throughput in slot-steps per second (one slot = one mouse's decoder in one
fold). Plain python, not a test::

    NEUROBOOK_DATA_DIR=../shared/data python benchmarks/bench_decoding_transfer.py --mice 8 --device cpu
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch

from neurobook import decoding
from neurobook.config import resolve_device
from neurobook.data import allen_gabor


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--mice", type=int, default=8, help="mice (sessions) to use")
    ap.add_argument("--folds", type=int, default=0, help="folds of mice, 0 = leave-one-mouse-out")
    ap.add_argument("--components", type=int, default=64, help="principal components per mouse (0 = all units)")
    ap.add_argument("--steps", type=int, default=100)
    ap.add_argument("--adapt-steps", type=int, default=100)
    ap.add_argument("--latent", type=int, default=64, help="latent size of the transfer decoder")
    ap.add_argument("--hidden", type=int, default=256, help="hidden size of the shared classifier")
    ap.add_argument("--batch", type=int, default=256, help="trials per mouse (and fold) per step")
    ap.add_argument("--lr", type=float, default=3e-3)
    ap.add_argument("--threads", type=int, default=0, help="torch threads, 0 = torch's default")
    ap.add_argument("--device", default="auto")
    args = ap.parse_args()
    dev = resolve_device(args.device)
    if args.threads:
        torch.set_num_threads(args.threads)
    ids = allen_gabor.list_sessions()[: args.mice]
    sessions = [s.area(*allen_gabor.AREAS) for s in allen_gabor.load_gabor_sessions(ids)]
    pop = decoding.build_population(sessions, n_components=args.components or None, device=dev)
    folds = args.folds or pop.n_animals
    kw = dict(shots=(1, 5), steps=args.steps, adapt_steps=args.adapt_steps, batch_size=args.batch,
              latent=args.latent, hidden=args.hidden, lr=args.lr, seed=0)
    if dev.type == "cuda":
        torch.cuda.synchronize()
    t0, c0 = time.time(), time.process_time()
    res = decoding.transfer_across_animals(pop, "position", n_folds=folds, **kw)
    batched, cpu = time.time() - t0, time.process_time() - c0
    slot_steps = pop.n_animals * folds * args.steps + 2 * pop.n_animals * 2 * args.adapt_steps
    print(f"device {dev}; {pop.n_animals} mice, {folds} folds, input {pop.x.shape[2]}; torch {torch.__version__}, "
          f"{torch.get_num_threads()} threads")
    print(f"batched: {batched:.1f} s wall, {cpu:.1f} s process CPU, {slot_steps / batched:.0f} slot-steps/s; "
          f"median adapted accuracy at 5 shots {np.median(res.adapted[:, 1]):.3f}")

if __name__ == "__main__":
    main()
