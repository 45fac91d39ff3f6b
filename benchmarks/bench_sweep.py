"""Speed of ``neurobook sweep``: 4 quick points of Chapter 1 on Dask with 1 and 2 workers vs one after the other.

What runs (each configuration in fresh folders, every point executed, nothing cached):

1. ``sequential``: the 4 points run by :func:`neurobook.pipeline.run.run_chapter` one after the other in this process
   (what a loop would do);
2. ``dask-1``: the same 4 points as a sweep on a LocalCluster of 1 worker process (1 thread);
3. ``dask-2``: the same on 2 worker processes.

It prints the wall time of each, the time to start the LocalCluster, the mean run time of a point inside its task,
and the overhead of Dask per point: ``(dask-1 wall - sequential wall) / points`` (cluster start, task shipping,
result gathering; the 1-worker sweep does the same work in the same order as the loop). The 2-worker speed-up is
bounded by the cores: on a 2-core machine shared with other work it is well below 2.

Usage (from the repository root)::

    PYTHONPATH=. OMP_NUM_THREADS=1 python benchmarks/bench_sweep.py
    PYTHONPATH=. python benchmarks/bench_sweep.py --points 4 -p n_neurons 60 -p epochs 1 -p n_mei 2 --json-out b.json
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import tempfile
import time
from pathlib import Path


def main() -> None:
    from neurobook.pipeline import sweep as sw
    from neurobook.pipeline.run import run_chapter

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--chapter", default="ch01")
    parser.add_argument("--points", type=int, default=4, help="seeds 0..points-1 of the chapter")
    parser.add_argument("-p", "--parameter", nargs=2, action="append", metavar=("NAME", "VALUE"),
                        default=[("n_neurons", "60"), ("epochs", "1"), ("n_mei", "2")],
                        help="fixed chapter parameters (default: Chapter 1 made cheap)")
    parser.add_argument("--workers", default="1,2", help="worker counts to time, comma-separated")
    parser.add_argument("--json-out", help="write every number as JSON")
    args = parser.parse_args()

    os.environ["OMP_NUM_THREADS"] = "1"  # the loop's kernels get the one thread each Dask point gets
    fixed_pairs = dict(args.parameter)  # a -p given again replaces the default
    grid, fixed = sw.parse_grid([("seed", ",".join(map(str, range(args.points)))), ("profile", "quick"),
                                 *fixed_pairs.items()])
    out: dict = {"chapter": args.chapter, "points": args.points, "fixed": fixed, "cores": os.cpu_count(),
                 "load_before": os.getloadavg(), "machine": platform.platform()}
    with tempfile.TemporaryDirectory(prefix="bench-sweep-") as tmp:
        root = Path(tmp)
        sweep = sw.plan(args.chapter, grid, fixed, output_dir=root / "seq")
        start = time.time()
        seq_points = []
        for point in sweep.points:
            t = time.time()
            run_chapter(sweep.chapter, sweep.parameters(point), force=True, output_dir=root / "seq" / point.id,
                        log=False)
            seq_points.append(time.time() - t)
        out["sequential"] = {"wall_s": time.time() - start, "per_point_s": seq_points}
        print(f"sequential: {out['sequential']['wall_s']:.1f} s for {args.points} points "
              f"({sum(seq_points) / len(seq_points):.1f} s per point)", flush=True)
        for n in [int(w) for w in args.workers.split(",")]:
            sweep = sw.plan(args.chapter, grid, fixed, output_dir=root / f"dask{n}")
            start = time.time()
            with sw.open_client(workers=n, log=False) as client:
                started = time.time() - start
                rows = sw.run_sweep(sweep, client=client, log=False)
            wall = time.time() - start
            inside = [json.loads((sweep.directory / p.id / sw.POINT_NAME).read_text())["runtime_s"]
                      for p in sweep.points]
            assert all(r["status"] == "done" for r in rows), rows
            out[f"dask-{n}"] = {"wall_s": wall, "cluster_start_s": started, "task_runtime_s": inside}
            print(f"dask-{n}: {wall:.1f} s for {args.points} points (LocalCluster start {started:.1f} s, "
                  f"mean point {sum(inside) / len(inside):.1f} s inside its task)", flush=True)
    seq = out["sequential"]["wall_s"]
    if "dask-1" in out:
        overhead = (out["dask-1"]["wall_s"] - seq) / args.points
        out["dask_overhead_per_point_s"] = overhead
        print(f"Dask overhead per point (dask-1 vs sequential): {overhead:+.1f} s")
    for key in [k for k in out if k.startswith("dask-") and k != "dask-1"]:
        print(f"{key} speed-up over sequential: {seq / out[key]['wall_s']:.2f}x")
    out["load_after"] = os.getloadavg()
    print(f"load average before/after: {out['load_before'][0]:.1f} / {out['load_after'][0]:.1f} "
          f"on {out['cores']} cores")
    if args.json_out:
        Path(args.json_out).write_text(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
