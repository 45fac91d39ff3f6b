"""The sweeps page of the book (generated like the scorecard): each sweep's table and its headline numbers plotted
against the swept parameter, mean and standard deviation over seeds."""

from __future__ import annotations

import csv
import math
import os
from pathlib import Path

from neurobook.files import atomic_path, write_text
from neurobook.pipeline.chapters import GENERATED_DIR
from neurobook.pipeline.sweep import SWEEPS_DIR, TABLE_NAME, Sweep, list_sweeps, table_rows, write_table

PAGE_NAME = "sweeps_page.md"
SEED = "seed"
HAS_RESULTS = ("done", "stale")  # stale: finished, but the chapter, code or data changed since (a rerun redoes it)
HOW_TO = """No sweep has run yet. Run one, e.g. Chapter 1 over three seeds and both readouts in the quick profile:

```bash
.venv/bin/neurobook sweep ch01 -p seed 0,1,2 -p readout gaussian,factorized --profile quick
```

then rebuild the book (`neurobook build`); the sweep's table and plots appear here. The README's section
*Parameter sweeps on Dask* shows how to send the same sweep to a cluster.
"""


def _number(value) -> float | None:
    if isinstance(value, bool) or value is None or value == "":
        return None
    try:
        x = float(value)
    except (TypeError, ValueError):
        return None
    return x if math.isfinite(x) else None


def headline_keys(sweep: Sweep, rows: list[dict]) -> list[str]:
    """The numeric headline columns of the table (not the parameters or the bookkeeping columns)."""
    skip = {"point", "status", "run_device", "worker", "runtime_s", "error", *sweep.grid, *sweep.fixed}
    keys = []
    for row in rows:
        for key, value in row.items():
            if key not in skip and key not in keys and _number(value) is not None:
                keys.append(key)
    return keys


def plot_sweep(sweep: Sweep, rows: list[dict], out_dir: Path) -> list[tuple[str, Path]]:
    """One PNG per headline number against the swept parameter (not the seed), mean ± s.d. over seeds."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    done = [r for r in rows if r["status"] in HAS_RESULTS]
    others = [n for n in sweep.grid if n != SEED]
    x_name = others[0] if others else SEED
    series_names = others[1:]
    x_values = list(sweep.grid[x_name])
    categorical = not all(_number(v) is not None for v in x_values)
    out_dir.mkdir(parents=True, exist_ok=True)
    figures = []
    for key in headline_keys(sweep, done):
        fig, ax = plt.subplots(figsize=(4.2, 3.0))
        series = sorted({tuple(r[n] for n in series_names) for r in done}, key=str)
        for k, label in enumerate(series):
            xs, means, sds, ns = [], [], [], []
            for i, xv in enumerate(x_values):
                vals = [_number(r.get(key)) for r in done
                        if r[x_name] == xv and tuple(r[n] for n in series_names) == label]
                vals = [v for v in vals if v is not None]
                if not vals:
                    continue
                offset = (k - (len(series) - 1) / 2) * 0.08 if categorical else 0.0
                xs.append((i if categorical else float(xv)) + offset)
                means.append(float(np.mean(vals)))
                sds.append(float(np.std(vals, ddof=1)) if len(vals) > 1 else 0.0)
                ns.append(len(vals))
            name = ", ".join(f"{n}={v}" for n, v in zip(series_names, label, strict=True)) or None
            ax.errorbar(xs, means, yerr=sds, marker="o", capsize=4, label=name,
                        linestyle="none" if categorical else "-")
        if categorical:
            ax.set_xticks(range(len(x_values)), [str(v) for v in x_values])
            ax.set_xlim(-0.5, len(x_values) - 0.5)
        n_seeds = len(sweep.grid.get(SEED, [])) or 1
        ax.set_xlabel(x_name)
        ax.set_ylabel(key)
        ax.set_title(f"mean ± s.d. over {n_seeds} seed(s)" if n_seeds > 1 else "one seed", fontsize=9)
        if series_names:
            ax.legend(fontsize=7)
        fig.tight_layout()
        path = out_dir / f"plot_{key.replace('/', '_')}.png"
        with atomic_path(path) as tmp:  # its name ends in .png, so savefig writes a PNG
            fig.savefig(tmp, dpi=110)
        plt.close(fig)
        figures.append((key, path))
    return figures


def _cell(value) -> str:
    x = _number(value)
    if x is not None and not float(x).is_integer():
        return f"{x:.3f}"
    return "" if value is None else str(value).replace("|", "\\|")


def sweep_section(sweep: Sweep, page_dir: Path) -> str:
    """Markdown for one sweep: what was swept, the table (short columns) and the plots."""
    rows = table_rows(sweep)
    write_table(sweep)
    done = [r for r in rows if r["status"] in HAS_RESULTS]
    stale = sum(r["status"] == "stale" for r in rows)
    keys = headline_keys(sweep, done)
    columns = ["point", *sweep.grid, "status", *keys[:6], "run_device", "error"]
    table = Path(os.path.relpath(sweep.directory / TABLE_NAME, page_dir))
    lines = [f"## {sweep.chapter}: {' x '.join(f'{n} {v}' for n, v in sweep.grid.items())}", "",
             f"Fixed parameters: {sweep.fixed or 'none'}; {len(done)} of {len(rows)} points done"
             + (f" ({stale} stale: the chapter, code or data changed since they ran)" if stale else "") + ". "
             f"Full table (every headline number): `{table}`.",
             "", "| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    lines += ["| " + " | ".join(_cell(r.get(c)) for c in columns) + " |" for r in rows]
    lines.append("")
    for key, path in plot_sweep(sweep, rows, sweep.directory):
        rel = os.path.relpath(path, page_dir)
        lines += [f"![{key} against the swept parameter]({rel})", ""]
    return "\n".join(lines)


def sweep_page_markdown(sweeps_dir: Path = SWEEPS_DIR, page_dir: Path = GENERATED_DIR) -> str:
    sweeps = list_sweeps(sweeps_dir) if Path(sweeps_dir).is_dir() else []
    if not sweeps:
        return HOW_TO
    return "\n".join(sweep_section(s, page_dir) for s in sweeps)


def write_sweep_page(directory: Path = GENERATED_DIR, sweeps_dir: Path | None = None) -> Path:
    """Write ``sweeps_page.md`` (included by ``book/sweeps.md``) from the sweeps under ``sweeps_dir``."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / PAGE_NAME
    text = sweep_page_markdown(Path(sweeps_dir) if sweeps_dir else directory / "sweeps", directory)
    return write_text(path, text)


def read_table(path: Path) -> list[dict]:
    """Read a sweep's ``table.csv``."""
    with open(path, newline="") as f:
        return list(csv.DictReader(f))
