"""Parameter sweeps of chapters on Dask distributed: one papermill run per point of a grid, one Dask task each.

    neurobook sweep ch01 -p seed 0,1,2 -p readout gaussian,factorized --profile quick

A sweep lives in ``book/_generated/sweeps/<chapter>-<id>/`` (``id`` is a hash of the grid and the fixed parameters,
so the same command finds the same folder again). Each point has its own folder ``<point>/`` with the executed
notebook, the results JSON, the fingerprint stamp of :func:`neurobook.pipeline.run.run_chapter` (a rerun skips unchanged
points), its lock, and ``point.json`` (status, which worker and device ran it, its error). ``table.csv`` holds the
parameters x headline numbers with a status column. The grid is checked before any cluster starts, with the same
errors as ``neurobook run``.
"""

from __future__ import annotations

import contextlib
import csv
import hashlib
import itertools
import json
import os
import re
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from neurobook.files import atomic_path, write_json
from neurobook.pipeline.chapters import GENERATED_DIR, get_chapter
from neurobook.pipeline.params import ParameterError, notebook_parameters, parse_value, validate
from neurobook.pipeline.run import absolute_paths, build_lock, check_run_values, is_current, is_locked, run_chapter

SWEEPS_DIR = GENERATED_DIR / "sweeps"
SPEC_NAME = "sweep.json"
POINT_NAME = "point.json"
TABLE_NAME = "table.csv"
# one chapter at a time per worker process: run_chapter sets process-wide environment variables
_RUN_LOCK = threading.Lock()


@dataclass(frozen=True)
class Point:
    """One parameter set of a sweep: its folder name and the swept values."""

    id: str
    values: dict[str, Any]


@dataclass
class Sweep:
    """A chapter, the grid of swept values, the fixed parameters, and the folder it all goes to."""

    chapter: str
    grid: dict[str, list[Any]]
    fixed: dict[str, Any]
    directory: Path
    points: list[Point] = field(default_factory=list)

    def parameters(self, point: Point) -> dict[str, Any]:
        """Everything passed to the chapter for ``point``: the fixed values and the point's own."""
        return {**self.fixed, **point.values}

    def write_spec(self) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        spec = {"chapter": self.chapter, "grid": self.grid, "fixed": self.fixed,
                "points": [{"id": p.id, "values": p.values} for p in self.points]}
        _write_json(self.directory / SPEC_NAME, spec)


def _write_json(path: Path, record: dict) -> None:
    write_json(path, record, default=str)  # key order kept: the grid's order is its axes


def split_values(text: str) -> list[str]:
    """Split ``"0,1,2"`` at top-level commas; commas inside brackets or quotes stay (``"[1,2],[3]"``)."""
    parts, depth, quote, current = [], 0, "", ""
    for ch in text:
        if quote:
            quote = "" if ch == quote else quote
        elif ch in "'\"":
            quote = ch
        elif ch in "([{":
            depth += 1
        elif ch in ")]}":
            depth -= 1
        elif ch == "," and depth == 0:
            parts.append(current)
            current = ""
            continue
        current += ch
    parts.append(current)
    return [p.strip() for p in parts if p.strip()]


def parse_grid(pairs: list[tuple[str, str]]) -> tuple[dict[str, list[Any]], dict[str, Any]]:
    """``-p NAME v1,v2`` pairs -> (swept name -> values, fixed name -> value); one value means a fixed parameter."""
    grid: dict[str, list[Any]] = {}
    fixed: dict[str, Any] = {}
    for name, text in pairs:
        if name in grid or name in fixed:
            raise ParameterError(f"parameter {name!r} is given twice; give its values once, separated by commas")
        values = [parse_value(v) for v in split_values(text)]
        if not values:
            raise ParameterError(f"parameter {name!r} has no values; write -p {name} v1,v2,...")
        if len(values) == 1:
            fixed[name] = values[0]
        else:
            if len({json.dumps(v, sort_keys=True, default=str) for v in values}) < len(values):
                raise ParameterError(f"parameter {name!r} repeats a value: {text!r}")
            grid[name] = values
    return grid, fixed


def _slug(value: Any) -> str:
    text = value if isinstance(value, str) else json.dumps(value, default=str)
    if isinstance(value, str) and ("/" in value or os.sep in value):
        text = Path(value).name  # a path: its file name is what tells the points apart
    return re.sub(r"[^A-Za-z0-9.+-]+", "_", text).strip("_")[:24] or "x"


def expand(grid: dict[str, list[Any]]) -> list[Point]:
    """The Cartesian product of the grid, in the order the parameters were given.

    Point ids name the values, e.g. ``003_seed-1_readout-factorized``.
    """
    names = list(grid)
    points = []
    for i, combo in enumerate(itertools.product(*(grid[n] for n in names))):
        values = dict(zip(names, combo, strict=True))
        label = "".join(f"_{n}-{_slug(v)}" for n, v in values.items())
        points.append(Point(id=f"{i:03d}{label}"[:96], values=values))
    return points


def sweep_id(chapter: str, grid: dict[str, list[Any]], fixed: dict[str, Any]) -> str:
    """A short hash of the sweep's definition: the same command finds the same folder (the grid's order counts:
    it orders the points)."""
    spec = json.dumps({"chapter": chapter, "grid": list(grid.items()), "fixed": fixed}, sort_keys=True,
                      default=str)
    return hashlib.sha256(spec.encode()).hexdigest()[:8]


def plan(chapter: str, grid: dict[str, list[Any]], fixed: dict[str, Any] | None = None, *,
         output_dir: Path = SWEEPS_DIR, remote: bool = False) -> Sweep:
    """Check every point against the chapter's parameters (as ``neurobook run`` does) and lay out the sweep.

    Raises :class:`ParameterError` (or the data errors of ``neurobook run``) before anything runs. ``remote``: the
    points run on another machine, so a CUDA device is not required here.
    """
    slug = get_chapter(chapter).slug
    fixed = absolute_paths(dict(fixed or {}))  # the workers run elsewhere: relative data paths would not resolve
    grid = {name: [absolute_paths({name: v})[name] for v in values] for name, values in grid.items()}
    declared = notebook_parameters(get_chapter(slug).source)
    points = expand(grid)
    for point in points:
        values = {**fixed, **point.values}
        validate(declared, values, slug)
        local = dict(values)
        if remote and str(local.get("device", "")).startswith("cuda"):
            local["device"] = "auto"  # the workers have the GPU, maybe not this machine
        check_run_values(local, slug)
    directory = Path(output_dir) / f"{slug}-{sweep_id(slug, grid, fixed)}"
    return Sweep(chapter=slug, grid=grid, fixed=fixed, directory=directory, points=points)


def _failure(err: BaseException, slug: str, folder: Path) -> dict[str, Any]:
    """The error of a failed point: chapter, cell and message (from papermill when the chapter itself raised)."""
    import papermill as pm

    cause = err.__context__ if isinstance(err.__context__, pm.PapermillExecutionError) else None
    partial = folder / f"{slug}.partial.ipynb"
    return {
        "chapter": slug,
        "cell": getattr(cause, "exec_count", None),
        "cell_index": getattr(cause, "cell_index", None),
        "type": getattr(cause, "ename", None) or type(err).__name__,
        "message": str(getattr(cause, "evalue", "") or err).strip(),
        "notebook": str(partial) if partial.exists() else None,
        "summary": str(err),
    }


def run_point(slug: str, parameters: dict[str, Any], folder: str, threads: int = 1,
              force: bool = False) -> dict[str, Any]:
    """Run one point of a sweep (this is the Dask task); never raises for a failing chapter, returns its record.

    Sets the thread count of torch and of the chapter's kernel (``OMP_NUM_THREADS``; the kernel inherits it) so
    that the points running side by side do not oversubscribe the cores.
    """
    out = Path(folder)
    out.mkdir(parents=True, exist_ok=True)
    for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        os.environ[var] = str(threads)
    import torch

    torch.set_num_threads(threads)
    record: dict[str, Any] = {
        "point": out.name, "chapter": slug, "parameters": parameters, "status": "running",
        "worker": _worker_address(), "host": socket.gethostname(), "pid": os.getpid(), "threads": threads,
        "gpu": torch.cuda.get_device_name() if torch.cuda.is_available() else None,
        "started": time.strftime("%Y-%m-%dT%H:%M:%S"), "error": None,
    }
    start = time.time()
    with _RUN_LOCK:
        record["executed"] = force or not is_current(slug, parameters, out)
        _write_json(out / POINT_NAME, record)
        try:
            run_chapter(slug, parameters, force=force, output_dir=out, log=False)
            record["status"] = "done"
        except Exception as err:  # noqa: BLE001  (a failed point is a record, the other points go on)
            record["status"] = "failed"
            record["error"] = _failure(err, slug, out)
        except KeyboardInterrupt as err:
            record["status"] = "interrupted"
            record["error"] = _failure(err, slug, out)
    results = out / f"{slug}.results.json"
    if record["status"] == "done" and results.exists():
        record["device"] = json.loads(results.read_text()).get("device")
    record["runtime_s"] = round(time.time() - start, 1)
    record["finished"] = time.strftime("%Y-%m-%dT%H:%M:%S")
    _write_json(out / POINT_NAME, record)
    return record


def _worker_address() -> str | None:
    try:
        from distributed import get_worker

        return get_worker().address
    except (ImportError, ValueError):
        return None


def point_status(sweep: Sweep, point: Point) -> dict[str, Any]:
    """The state of one point: done, stale (done, but its inputs changed), running, failed, interrupted, pending."""
    folder = sweep.directory / point.id
    record: dict[str, Any] = {}
    if (folder / POINT_NAME).exists():
        record = json.loads((folder / POINT_NAME).read_text())
    status = record.get("status", "pending")
    if is_locked(folder):
        status = "running"
    elif status == "running":
        status = "interrupted"  # its run died without finishing: the lock was dropped with it
    elif status == "done" and not is_current(sweep.chapter, sweep.parameters(point), folder):
        status = "stale"
    return {**record, "point": point.id, "values": point.values, "status": status}


def _flatten(headline: dict[str, Any]) -> dict[str, Any]:
    flat: dict[str, Any] = {}
    for key, value in headline.items():
        if isinstance(value, dict):
            for k, v in value.items():
                flat[f"{key}.{k}"] = v
        else:
            flat[key] = value
    return flat


def table_rows(sweep: Sweep) -> list[dict[str, Any]]:
    """One row per point: the swept parameters, status, the headline numbers, device, worker, runtime, error."""
    rows = []
    for point in sweep.points:
        state = point_status(sweep, point)
        row: dict[str, Any] = {"point": point.id, **point.values, "status": state["status"]}
        results = sweep.directory / point.id / f"{sweep.chapter}.results.json"
        if state["status"] in ("done", "stale") and results.exists():
            row.update(_flatten(json.loads(results.read_text())["headline"]))
        row.update({"run_device": state.get("device"), "worker": state.get("worker"),
                    "runtime_s": state.get("runtime_s"), "error": _error_line(state.get("error"))})
        rows.append(row)
    return rows


def _error_line(error: dict | None) -> str | None:
    if not error:
        return None
    cell = f" in cell {error['cell']}" if error.get("cell") is not None else ""
    return f"{error['chapter']}{cell}: {error['type']}: {error['message']}"


def write_table(sweep: Sweep) -> Path:
    """Write ``table.csv`` (parameters x headline numbers, with a status column) atomically."""
    rows = table_rows(sweep)
    columns: list[str] = []
    for row in rows:
        columns += [c for c in row if c not in columns]
    path = sweep.directory / TABLE_NAME
    with atomic_path(path) as tmp, open(tmp, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=columns)
        writer.writeheader()
        for row in rows:
            writer.writerow({k: json.dumps(v) if isinstance(v, list | dict) else v for k, v in row.items()})
    return path


def load_sweep(directory: Path) -> Sweep:
    """Read a sweep back from its ``sweep.json``."""
    spec = json.loads((Path(directory) / SPEC_NAME).read_text())
    return Sweep(chapter=spec["chapter"], grid=spec["grid"], fixed=spec["fixed"], directory=Path(directory),
                 points=[Point(p["id"], p["values"]) for p in spec["points"]])


def list_sweeps(output_dir: Path = SWEEPS_DIR, chapter: str | None = None) -> list[Sweep]:
    """Every sweep under ``output_dir`` (of one chapter when named), oldest first."""
    slug = get_chapter(chapter).slug if chapter else None
    found = sorted(Path(output_dir).glob(f"*/{SPEC_NAME}"), key=lambda p: p.stat().st_mtime)
    sweeps = [load_sweep(p.parent) for p in found]
    return [s for s in sweeps if slug is None or s.chapter == slug]


def status_text(sweep: Sweep) -> str:
    """``neurobook sweep --status``: one line per point, and the counts."""
    lines = [f"{sweep.chapter} sweep {sweep.directory}", f"  grid: {sweep.grid}; fixed: {sweep.fixed}"]
    counts: dict[str, int] = {}
    for point in sweep.points:
        state = point_status(sweep, point)
        counts[state["status"]] = counts.get(state["status"], 0) + 1
        where = f" on {state['worker'] or state.get('host')} ({state.get('device') or 'device n/a'})" \
            if state.get("host") else ""
        took = f" in {state['runtime_s']:.0f} s" if state.get("runtime_s") is not None else ""
        line = f"  {state['status']:<11} {point.id}{where}{took}"
        if state["status"] in ("failed", "interrupted") and state.get("error"):
            line += f"\n              {_error_line(state['error'])}"
        lines.append(line)
    lines.append("  " + ", ".join(f"{n} {s}" for s, n in sorted(counts.items())))
    return "\n".join(lines)


@contextlib.contextmanager
def open_client(scheduler: str | None = None, workers: int | None = None, threads: int = 1,
                n_points: int | None = None, log: bool = True) -> Iterator[Any]:
    """A Dask client: on ``scheduler`` (``tcp://host:8786``) if given, else on a new LocalCluster.

    The LocalCluster has ``workers`` processes (default: the cores divided by ``threads``, at most one per point)
    with one Dask thread each; ``threads`` is what torch and the chapter's kernel use inside each worker.
    """
    from distributed import Client, LocalCluster

    if scheduler:
        with Client(scheduler, timeout="30s") as client:
            if log:
                n = len(client.scheduler_info(n_workers=-1)["workers"])
                print(f"[sweep] connected to {scheduler} ({n} workers); dashboard: {client.dashboard_link}",
                      flush=True)
            yield client
        return
    cores = os.cpu_count() or 1
    n = workers or max(1, cores // max(1, threads))
    if n_points:
        n = min(n, n_points) if not workers else n
    env = {var: str(threads) for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS")}
    with LocalCluster(n_workers=n, threads_per_worker=1, processes=True, env=env,
                      dashboard_address=":8787", silence_logs=40) as cluster, Client(cluster) as client:
        if log:
            print(f"[sweep] LocalCluster of {n} worker processes x 1 thread ({threads} torch thread(s) each) on "
                  f"{cores} cores; dashboard: {client.dashboard_link}", flush=True)
        yield client


def run_sweep(sweep: Sweep, *, scheduler: str | None = None, workers: int | None = None, threads: int | None = None,
              force: bool = False, log: bool = True, client: Any = None) -> list[dict[str, Any]]:
    """Run the points of ``sweep`` that are not up to date, one Dask task each; write the table; return the rows.

    Points whose fingerprint is unchanged are skipped without starting a cluster. A failing point is recorded
    (chapter, cell, message, partial notebook) and the others finish. ``client``: an existing Dask client to use.
    """
    threads = threads or get_chapter(sweep.chapter).threads
    with build_lock(sweep.directory):
        sweep.write_spec()
        todo = [p for p in sweep.points
                if force or not is_current(sweep.chapter, sweep.parameters(p), sweep.directory / p.id)]
        if log:
            print(f"[sweep] {sweep.chapter}: {len(sweep.points)} points, {len(sweep.points) - len(todo)} unchanged, "
                  f"{len(todo)} to run -> {sweep.directory}", flush=True)
        if todo:
            if client is not None:
                _submit_all(client, sweep, todo, threads, force, log)
            else:
                with open_client(scheduler, workers, threads, n_points=len(todo), log=log) as own:
                    _submit_all(own, sweep, todo, threads, force, log)
        table = write_table(sweep)
    rows = table_rows(sweep)
    if log:
        failed = [r for r in rows if r["status"] != "done"]
        print(f"[sweep] table: {table}" + (f"; {len(failed)} point(s) not done" if failed else ""), flush=True)
    return rows


def _submit_all(client: Any, sweep: Sweep, todo: list[Point], threads: int, force: bool, log: bool) -> None:
    from distributed import as_completed

    futures = {}
    for p in todo:
        future = client.submit(run_point, sweep.chapter, sweep.parameters(p), str(sweep.directory / p.id),
                               threads, force, key=f"{sweep.directory.name}-{p.id}-{time.time_ns()}", pure=False)
        futures[future] = p
    start = time.time()
    try:
        for i, future in enumerate(as_completed(futures), 1):
            point = futures[future]
            try:
                record = future.result()
            except Exception as err:  # noqa: BLE001  (the worker died, e.g. out of memory)
                record = {"point": point.id, "chapter": sweep.chapter, "status": "failed", "worker": None,
                          "error": {"chapter": sweep.chapter, "cell": None, "type": type(err).__name__,
                                    "message": f"the Dask task failed: {err}", "notebook": None}}
                _write_json(sweep.directory / point.id / POINT_NAME, record)
            write_table(sweep)
            if log:
                where = f"on {record.get('worker')} ({record.get('device') or record.get('gpu') or 'cpu'})"
                took = f" in {record['runtime_s']:.0f} s" if record.get("runtime_s") is not None else ""
                line = f"[sweep] {i}/{len(todo)} {record['status']}: {point.id} {where}{took}"
                if record.get("error"):
                    line += f"\n        {_error_line(record['error'])}"
                print(line, f"({time.time() - start:.0f} s)", flush=True)
    except KeyboardInterrupt:
        client.cancel(list(futures))
        raise
