"""Widgets that keep working in the static book, with no kernel behind them.

The book is plain HTML: a widget there can only do what its embedded state and the JavaScript links
between widgets can do. So every interactive figure follows one pattern: render all the frames up front
as PNGs, put them in an ipywidgets ``Stack`` of ``Image`` widgets, and drive the stack's
``selected_index`` from an ``IntSlider`` and/or a ``Dropdown`` with :func:`ipywidgets.jslink` (links
that run in the browser, not in Python). A second ``Stack`` of ``Label`` widgets, linked the same way,
names the item on show.

Typical use in a chapter::

    from neurobook.widgets import figure_browser, image_browser
    image_browser([mei_of(n) for n in neurons], [f"neuron {n}" for n in neurons])
    figure_browser((draw(n) for n in neurons), [f"neuron {n}" for n in neurons])  # one matplotlib figure each

Keep the images small: every PNG is stored in the notebook and in the HTML page.
"""

from __future__ import annotations

import io
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Literal

import ipywidgets as widgets
import numpy as np
from ipywidgets.widgets.widget_link import Link

from neurobook.checks import check_positive_int

if TYPE_CHECKING:
    from matplotlib.figure import Figure

__all__ = ["BROWSER_CLASS", "figure_browser", "figure_to_png", "image_browser", "to_png"]

Controls = Literal["both", "slider", "dropdown"]
#: CSS classes on the parts of a browser, so that pages and tests can find them.
BROWSER_CLASS = "neurobook-image-browser"
STACK_CLASS = "neurobook-image-stack"
CAPTION_CLASS = "neurobook-image-caption"
SLIDER_CLASS = "neurobook-image-slider"
DROPDOWN_CLASS = "neurobook-image-dropdown"
_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def figure_to_png(fig: Figure, dpi: float | None = None, close: bool = True) -> bytes:
    """Render a matplotlib figure to PNG bytes.

    Args:
        fig: the figure.
        dpi: resolution; default the figure's own.
        close: close the figure afterwards, so that the notebook does not also show it as a static
            image (and so that many figures do not pile up in memory).
    """
    from matplotlib.figure import Figure

    if not isinstance(fig, Figure):
        raise TypeError(f"figure_to_png needs a matplotlib Figure, got {type(fig).__name__}")
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi if dpi is not None else fig.dpi, bbox_inches="tight")
    if close:
        import matplotlib.pyplot as plt

        plt.close(fig)
    return buf.getvalue()


#: Small arrays are enlarged by whole-pixel repetition until their longer side reaches this many pixels, so
#: that browsers do not blur them when they are shown larger.
MIN_ARRAY_SIDE = 128


def _array_to_png(
    array: np.ndarray, cmap: str, vmin: float | None, vmax: float | None, upscale: int | None
) -> bytes:
    import matplotlib.pyplot as plt

    a = np.asarray(array)
    if a.ndim == 3 and a.shape[0] in (1, 3, 4) and a.shape[-1] not in (1, 3, 4):
        a = np.moveaxis(a, 0, -1)  # channels first (torch) -> channels last
    if a.ndim == 3 and a.shape[-1] == 1:
        a = a[..., 0]
    if a.ndim not in (2, 3) or (a.ndim == 3 and a.shape[-1] not in (3, 4)) or a.size == 0:
        raise ValueError(
            f"an image array must be 2-D (H, W) or 3-D with 1, 3 or 4 channels, got shape {np.shape(array)}"
        )
    if not np.issubdtype(a.dtype, np.number) and a.dtype != np.bool_:
        raise TypeError(f"an image array must be numeric, got dtype {a.dtype}")
    a = a.astype(np.float64) if a.dtype == np.bool_ else a
    if not np.all(np.isfinite(a)):
        raise ValueError("an image array contains NaN or infinite values")
    if upscale is None:
        upscale = max(1, MIN_ARRAY_SIDE // max(a.shape[:2]))
    upscale = check_positive_int("upscale (or None)", int(upscale) if isinstance(upscale, np.integer) else upscale)
    if upscale > 1:
        a = np.repeat(np.repeat(a, upscale, axis=0), upscale, axis=1)
    if a.ndim == 3:  # RGB(A): imsave wants floats in [0, 1] or uint8
        if a.dtype != np.uint8:
            lo, hi = float(a.min()), float(a.max())
            a = (a - lo) / (hi - lo) if hi > lo else np.zeros_like(a, dtype=np.float64)
        buf = io.BytesIO()
        plt.imsave(buf, a, format="png")
        return buf.getvalue()
    buf = io.BytesIO()
    plt.imsave(buf, a, format="png", cmap=cmap, vmin=vmin, vmax=vmax)
    return buf.getvalue()


def to_png(
    image: np.ndarray | Figure | bytes,
    cmap: str = "gray",
    vmin: float | None = None,
    vmax: float | None = None,
    upscale: int | None = None,
) -> bytes:
    """Turn an image (array, matplotlib figure or PNG bytes) into PNG bytes.

    Arrays are drawn pixel for pixel: 2-D arrays through ``cmap`` (scaled to ``vmin``/``vmax``, default
    the array's range), (H, W, 3|4) or (3|4, H, W) arrays as RGB(A), min-max scaled unless uint8.
    Each array pixel becomes an ``upscale`` x ``upscale`` block (default: enough for the longer side to
    reach ``MIN_ARRAY_SIDE`` pixels; ``1`` keeps the size).
    Figures are rendered with :func:`figure_to_png` (and closed). Bytes must already be a PNG.
    """
    if isinstance(image, bytes | bytearray | memoryview):
        data = bytes(image)
        if not data.startswith(_PNG_SIGNATURE):
            raise ValueError("image bytes are not a PNG (bad signature); pass an array or a figure instead")
        return data
    if isinstance(image, np.ndarray):
        return _array_to_png(image, cmap, vmin, vmax, upscale)
    from matplotlib.figure import Figure

    if isinstance(image, Figure):
        return figure_to_png(image)
    if hasattr(image, "__array__"):  # torch tensors, PIL images, ...
        return _array_to_png(np.asarray(image), cmap, vmin, vmax, upscale)
    raise TypeError(
        f"an image must be a numpy array, a matplotlib Figure or PNG bytes, got {type(image).__name__}"
    )


def _check_labels(labels: Sequence[str], controls: str) -> list[str]:
    if isinstance(labels, np.ndarray) and labels.ndim == 1:
        labels = labels.tolist()
    if isinstance(labels, str) or not isinstance(labels, Sequence):
        raise TypeError(f"labels must be a sequence of strings, got {type(labels).__name__}")
    if controls not in ("both", "slider", "dropdown"):
        raise ValueError(f"controls must be 'both', 'slider' or 'dropdown', got {controls!r}")
    out = [str(label) for label in labels]
    if len(set(out)) != len(out):
        dupes = sorted({label for label in out if out.count(label) > 1})
        raise ValueError(f"labels must be unique (the dropdown selects by label); repeated: {dupes}")
    return out


def _check_count(n_images: int, labels: list[str], what: str = "images") -> None:
    if n_images == 0:
        raise ValueError(f"{what} is empty: an image browser needs at least one image")
    if n_images != len(labels):
        raise ValueError(f"got {n_images} {what} but {len(labels)} labels; they must be the same length")


def _check_inputs(images: Sequence, labels: Sequence[str], controls: str) -> list[str]:
    if isinstance(images, np.ndarray):
        if images.ndim < 3:
            raise TypeError(
                f"images is one array of shape {images.shape}: pass a list of images, or a stacked "
                "(N, H, W[, C]) array"
            )
        images = list(images)  # a stacked (N, H, W[, C]) array is N images
    if isinstance(images, bytes | str) or not isinstance(images, Sequence):
        raise TypeError(f"images must be a sequence (list/tuple) of images, got {type(images).__name__}")
    out = _check_labels(labels, controls)
    _check_count(len(images), out)
    return out


def image_browser(
    images: Sequence[np.ndarray | Figure | bytes],
    labels: Sequence[str],
    description: str = "neuron",
    controls: Controls = "both",
    width: int | str | None = None,
    cmap: str = "gray",
    vmin: float | None = None,
    vmax: float | None = None,
    upscale: int | None = None,
) -> widgets.VBox:
    """A kernel-free browser over precomputed images: a slider and/or dropdown flip through them.

    All images are converted to PNG now and stored in the widget state, so the browser works in the
    static HTML book. The ``Stack``'s ``selected_index`` is linked in JavaScript (``jslink``) to the
    slider's ``value`` and to the dropdown's ``index``; a caption ``Stack`` of ``Label`` widgets (linked the
    same way) shows ``"<description> i/n: <label>"``.

    Args:
        images: the images, as numpy arrays (2-D, or RGB(A)), matplotlib figures (rendered and closed)
            or PNG bytes. A stacked (N, H, W[, C]) array also works.
        labels: one unique label per image (e.g. neuron ids), shown in the dropdown and the caption.
        description: what the items are; the slider's and dropdown's description.
        controls: ``"both"``, ``"slider"`` or ``"dropdown"``.
        width: display width of the images (pixels or a CSS length); default their own size.
        cmap, vmin, vmax: colour map and range for 2-D arrays (see :func:`to_png`). With the default
            ``vmin=vmax=None`` each array is scaled to its own range.
        upscale: whole-pixel enlargement of arrays (see :func:`to_png`).

    Returns:
        A ``VBox`` with the controls, the caption stack and the image stack (CSS class
        ``neurobook-image-browser``).

    Raises:
        ValueError / TypeError: empty inputs, different lengths, repeated labels or an unusable image.
    """
    labels = _check_inputs(images, labels, controls)
    n = len(labels)
    pngs = []
    for i, image in enumerate(images):
        try:
            pngs.append(to_png(image, cmap=cmap, vmin=vmin, vmax=vmax, upscale=upscale))
        except (TypeError, ValueError) as err:
            raise type(err)(f"image {i} ({labels[i]!r}): {err}") from err

    img_layout = {}
    if width is not None:
        img_layout["width"] = f"{width}px" if isinstance(width, int) else str(width)
    children = [widgets.Image(value=png, format="png", layout=widgets.Layout(**img_layout)) for png in pngs]
    stack = widgets.Stack(children=children, selected_index=0)
    stack.add_class(STACK_CLASS)
    captions = widgets.Stack(
        children=[
            widgets.Label(value=f"{description} {i + 1}/{n}: {label}") for i, label in enumerate(labels)
        ],
        selected_index=0,
    )
    captions.add_class(CAPTION_CLASS)

    control_widgets: list[widgets.Widget] = []
    links: list[Link] = [widgets.jslink((stack, "selected_index"), (captions, "selected_index"))]
    if controls in ("both", "slider"):
        slider = widgets.IntSlider(
            value=0,
            min=0,
            max=n - 1,
            step=1,
            description=description,
            readout=False,
            continuous_update=True,
            disabled=n == 1,
        )
        slider.add_class(SLIDER_CLASS)
        links.append(widgets.jslink((slider, "value"), (stack, "selected_index")))
        control_widgets.append(slider)
    if controls in ("both", "dropdown"):
        dropdown = widgets.Dropdown(
            options=labels, index=0, description=description if controls == "dropdown" else ""
        )
        dropdown.add_class(DROPDOWN_CLASS)
        links.append(widgets.jslink((dropdown, "index"), (stack, "selected_index")))
        control_widgets.append(dropdown)

    browser = widgets.VBox([widgets.HBox(control_widgets), captions, stack])
    browser.add_class(BROWSER_CLASS)
    # ipywidgets keeps every open widget (the links too) in its registry, so the links live on and are
    # saved in the notebook's widget state; they are only reachable from here for tests and callers.
    browser.links = links  # type: ignore[attr-defined]
    return browser


def figure_browser(
    figures: Iterable[Figure],
    labels: Sequence[str],
    description: str = "neuron",
    controls: Controls = "both",
    width: int | str | None = None,
    dpi: float | None = None,
) -> widgets.VBox:
    """:func:`image_browser` over matplotlib figures, each rendered to PNG (at ``dpi``) and closed.

    ``figures`` may be a generator (e.g. ``(draw(k) for k in items)``): each figure is rendered and closed before
    the next is drawn, so that only one is open at a time however many the browser holds.
    """
    if isinstance(figures, bytes | str) or not isinstance(figures, Iterable):
        raise TypeError(f"figures must be an iterable of matplotlib figures, got {type(figures).__name__}")
    labels = _check_labels(labels, controls)
    pngs = []
    for i, fig in enumerate(figures):
        name = repr(labels[i]) if i < len(labels) else "beyond the labels"
        try:
            pngs.append(figure_to_png(fig, dpi=dpi))
        except TypeError as err:
            raise TypeError(f"figure {i} ({name}): {err}") from err
    _check_count(len(pngs), labels, "figures")
    return image_browser(pngs, labels, description=description, controls=controls, width=width)
