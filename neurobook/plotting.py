"""Shared figures (matplotlib + seaborn), one style for every chapter."""

from __future__ import annotations

from collections.abc import Sequence

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns

PALETTE = "colorblind"


def set_style() -> None:
    """The book's plotting style."""
    sns.set_theme(context="notebook", style="ticks", palette=PALETTE)
    plt.rcParams.update({"figure.dpi": 100, "savefig.dpi": 100, "axes.spines.top": False,
                         "axes.spines.right": False})


def compare_distributions(tables: dict[str, pd.DataFrame], column: str, ax=None, reference: float | None = None,
                          label: str | None = None):
    """Histograms of one per-neuron measure for several models, with an optional reference line."""
    ax = ax or plt.gca()
    long = pd.concat([t[[column]].assign(model=name) for name, t in tables.items()], ignore_index=True)
    sns.histplot(long, x=column, hue="model", element="step", stat="density", common_norm=False, ax=ax)
    if reference is not None:
        ax.axvline(reference, color="k", ls="--", lw=1)
    ax.set_xlabel(label or column.replace("_", " "))
    return ax


def scatter_against(table: pd.DataFrame, x: str, y: str, ax=None, hue: str | None = None, identity: bool = True):
    """Scatter of two per-neuron measures, with the identity line."""
    ax = ax or plt.gca()
    sns.scatterplot(table, x=x, y=y, hue=hue, s=8, alpha=0.5, linewidth=0, ax=ax)
    if identity:
        lo = float(np.nanmin(table[[x, y]].to_numpy()))
        hi = float(np.nanmax(table[[x, y]].to_numpy()))
        ax.plot([lo, hi], [lo, hi], "k--", lw=1)
    ax.set_xlabel(x.replace("_", " "))
    ax.set_ylabel(y.replace("_", " "))
    return ax


def image_grid(images: np.ndarray, titles: Sequence[str] | None = None, ncols: int = 8, size: float = 1.6,
               symmetric: bool = True, cmap: str = "gray", title_size: float = 7):
    """A grid of images (n, H, W), each scaled symmetrically around zero (contrast) unless told otherwise.

    ``size`` is the height of a panel in inches; the book's column is about 7 inches wide, so keep
    ``ncols * size * aspect * 0.75`` near 7 for titles that stay readable.
    """
    images = np.asarray(images)
    n = len(images)
    nrows = int(np.ceil(n / ncols))
    aspect = images.shape[2] / images.shape[1]
    fig, axes = plt.subplots(nrows, ncols, figsize=(ncols * size * aspect * 0.75, nrows * size * 0.75),
                             squeeze=False)
    for i, ax in enumerate(axes.flat):
        ax.axis("off")
        if i >= n:
            continue
        img = images[i]
        if symmetric:
            lim = float(np.abs(img).max()) or 1.0
            ax.imshow(img, cmap=cmap, vmin=-lim, vmax=lim)
        else:
            ax.imshow(img, cmap=cmap)
        if titles is not None:
            ax.set_title(titles[i], fontsize=title_size)
    fig.tight_layout()
    return fig


def show_contrast(ax, image: np.ndarray, title: str = "", cmap: str = "gray") -> None:
    """One image on a symmetric colour scale, no axes."""
    lim = float(np.abs(image).max()) or 1.0
    ax.imshow(image, cmap=cmap, vmin=-lim, vmax=lim)
    ax.set_title(title, fontsize=9)
    ax.axis("off")
