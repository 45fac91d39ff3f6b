"""Loader for published macaque V1 tuning-property histograms on Brain-Score's bins (``v1_tuning_literature``).

See the data set's SOURCE.md: Ringach et al. 2002 (per-cell database), De Valois et al. 1982, Schiller et al. 1976
and Cavanaugh et al. 2002, each histogram on the bins Brain-Score's Marques et al. (2021) benchmarks use.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np
import pandas as pd

from neurobook.data.fetch import ChecksumError, data_file

NAME = "v1_tuning_literature"
FILE = "v1_tuning_properties.csv"
COLUMNS = ("property", "source_paper", "bin_left", "bin_right", "count_or_fraction", "unit", "note")


@dataclass(frozen=True)
class ReferenceHistogram:
    """One published distribution: bin edges (n_bins + 1), counts per bin, its unit and source paper."""

    name: str
    edges: np.ndarray
    counts: np.ndarray
    unit: str
    source: str

    @property
    def n(self) -> int:
        return int(self.counts.sum())

    @property
    def log_bins(self) -> bool:
        """True when the bins are (close to) evenly spaced in log: show them on a log axis."""
        e = self.edges
        return bool(e[0] > 0 and np.allclose(np.diff(np.log(e)), np.log(e[1] / e[0]), rtol=0.15))


def load_v1_tuning_literature(data_dir: str | os.PathLike | None = None) -> dict[str, ReferenceHistogram]:
    """Every histogram of the CSV (summary-statistic rows, with ``__`` in their name, are skipped)."""
    path = data_file(NAME, FILE, data_dir)
    try:
        table = pd.read_csv(path)
    except (OSError, ValueError, pd.errors.ParserError) as err:
        raise ChecksumError(f"{path} could not be read as a CSV ({err}); download the data set again") from err
    missing = set(COLUMNS) - set(table.columns)
    if missing:
        raise ValueError(f"{path}: missing columns {sorted(missing)}; expected {COLUMNS}")
    rows = table[~table["property"].str.contains("__") & ~table["property"].str.contains(r"\[")]
    rows = rows.dropna(subset=["bin_left", "bin_right"])
    out: dict[str, ReferenceHistogram] = {}
    for name, group in rows.groupby("property", sort=False):
        group = group.sort_values("bin_left")
        edges = np.append(group["bin_left"].to_numpy(float), group["bin_right"].to_numpy(float)[-1])
        out[str(name)] = ReferenceHistogram(str(name), edges, group["count_or_fraction"].to_numpy(float),
                                            str(group["unit"].iloc[0]), str(group["source_paper"].iloc[0]))
    return out
