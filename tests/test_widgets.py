"""Unit tests for neurobook.widgets: the kernel-free image browser (no browser, no kernel needed)."""

from __future__ import annotations

import io

import ipywidgets as widgets
import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import numpy as np
import pytest
from ipywidgets.widgets.widget_link import DirectionalLink, Link
from PIL import Image

from neurobook.widgets import (
    BROWSER_CLASS,
    CAPTION_CLASS,
    DROPDOWN_CLASS,
    SLIDER_CLASS,
    STACK_CLASS,
    figure_browser,
    figure_to_png,
    image_browser,
    to_png,
)

PNG = b"\x89PNG\r\n\x1a\n"


def _images(n: int = 4, shape: tuple[int, ...] = (8, 8)) -> list[np.ndarray]:
    rng = np.random.default_rng(0)
    return [rng.random(shape) for _ in range(n)]


def _parts(browser: widgets.VBox) -> dict[str, widgets.Widget]:
    controls, captions, stack = browser.children
    out = {"captions": captions, "stack": stack}
    for w in controls.children:
        out["slider" if isinstance(w, widgets.IntSlider) else "dropdown"] = w
    return out


def _png_size(data: bytes) -> tuple[int, int]:
    with Image.open(io.BytesIO(data)) as im:
        return im.size


def _links_between(browser: widgets.VBox, a: widgets.Widget, b: widgets.Widget) -> list[Link]:
    """The browser's jslinks (in either direction) between widgets a and b."""
    return [
        link
        for link in browser.links
        if isinstance(link, Link)
        and not isinstance(link, DirectionalLink)
        and {id(link.source[0]), id(link.target[0])} == {id(a), id(b)}
    ]


def test_structure_and_jslinks():
    labels = ["n1", "n2", "n3", "n4"]
    browser = image_browser(_images(), labels, description="neuron")
    assert isinstance(browser, widgets.VBox)
    assert BROWSER_CLASS in browser._dom_classes
    p = _parts(browser)
    stack, captions, slider, dropdown = p["stack"], p["captions"], p["slider"], p["dropdown"]

    assert isinstance(stack, widgets.Stack) and STACK_CLASS in stack._dom_classes
    assert stack.selected_index == 0
    assert len(stack.children) == 4
    assert all(isinstance(c, widgets.Image) and c.format == "png" for c in stack.children)
    assert all(bytes(c.value).startswith(PNG) for c in stack.children)
    assert len({bytes(c.value) for c in stack.children}) == 4  # distinct images

    assert isinstance(captions, widgets.Stack) and CAPTION_CLASS in captions._dom_classes
    assert [c.value for c in captions.children] == [f"neuron {i}/4: n{i}" for i in range(1, 5)]

    assert SLIDER_CLASS in slider._dom_classes
    assert (slider.min, slider.max, slider.step, slider.value) == (0, 3, 1, 0)
    assert DROPDOWN_CLASS in dropdown._dom_classes
    assert list(dropdown.options) == labels and dropdown.index == 0

    # the links run in the browser (jslink -> LinkModel), not in a kernel
    for src, src_attr in ((slider, "value"), (dropdown, "index"), (captions, "selected_index")):
        links = _links_between(browser, src, stack)
        assert len(links) == 1, f"expected one jslink between {src_attr} and the stack"
        link = links[0]
        assert link._model_name == "LinkModel" and link.comm is not None  # open, so saved with the state
        attrs = {link.source[1], link.target[1]}
        assert attrs == {src_attr, "selected_index"}
    assert len(browser.links) == 3


def test_links_are_in_the_saved_widget_state():
    browser = image_browser(_images(3), ["a", "b", "c"])
    state = widgets.Widget.get_manager_state(drop_defaults=False, widgets=None)["state"]
    stack_id = _parts(browser)["stack"].model_id
    linked = [
        s["state"]
        for s in state.values()
        if s["model_name"] == "LinkModel"
        and f"IPY_MODEL_{stack_id}" in (s["state"]["source"][0], s["state"]["target"][0])
    ]
    assert len(linked) == 3


@pytest.mark.parametrize(
    ("controls", "has_slider", "has_dropdown"),
    [("both", True, True), ("slider", True, False), ("dropdown", False, True)],
)
def test_controls(controls, has_slider, has_dropdown):
    p = _parts(image_browser(_images(2), ["a", "b"], controls=controls))
    assert ("slider" in p) is has_slider
    assert ("dropdown" in p) is has_dropdown


def test_single_image_disables_slider():
    p = _parts(image_browser(_images(1), ["only"]))
    assert p["slider"].disabled and p["slider"].max == 0


def test_accepts_arrays_figures_and_png_bytes():
    fig, ax = plt.subplots(figsize=(1, 1))
    ax.plot([0, 1], [1, 0])
    png = to_png(np.eye(5))
    rgb = np.random.default_rng(1).integers(0, 255, (6, 7, 3), dtype=np.uint8)
    chw = np.random.default_rng(2).random((3, 6, 7))
    stacked = np.random.default_rng(3).random((2, 5, 5))
    browser = image_browser([np.zeros((4, 4)), fig, png, rgb, chw], list("abcde"))
    assert all(bytes(c.value).startswith(PNG) for c in _parts(browser)["stack"].children)
    assert not plt.fignum_exists(fig.number), "figures are closed after rendering"
    assert len(_parts(image_browser(stacked, ["x", "y"]))["stack"].children) == 2


def test_figure_browser_and_figure_to_png():
    figs = []
    for k in range(3):
        fig, ax = plt.subplots(figsize=(1.5, 1))
        ax.plot(np.arange(5) ** k)
        figs.append(fig)
    first = figure_to_png(figs[0], close=False)
    assert first.startswith(PNG) and plt.fignum_exists(figs[0].number)
    browser = figure_browser(figs, ["k0", "k1", "k2"], description="power")
    stack = _parts(browser)["stack"]
    assert len(stack.children) == 3 and all(bytes(c.value).startswith(PNG) for c in stack.children)
    assert not any(plt.fignum_exists(f.number) for f in figs)
    with pytest.raises(TypeError, match="matplotlib Figure"):
        figure_to_png(np.zeros((3, 3)))  # type: ignore[arg-type]


def test_figure_browser_draws_a_generator_one_figure_at_a_time():
    open_counts = []

    def draw(k: int):
        open_counts.append(len(plt.get_fignums()))  # figures still open when the next one is drawn
        fig, ax = plt.subplots(figsize=(1.5, 1))
        ax.plot(np.arange(5) ** k)
        return fig

    before = len(plt.get_fignums())
    browser = figure_browser((draw(k) for k in range(4)), [f"k{k}" for k in range(4)], description="power", dpi=40)
    assert open_counts == [before] * 4 and len(plt.get_fignums()) == before
    stack = _parts(browser)["stack"]
    assert len(stack.children) == 4 and len({bytes(c.value) for c in stack.children}) == 4
    assert BROWSER_CLASS in browser._dom_classes


@pytest.mark.parametrize(
    ("n_figures", "labels", "exc", "match"),
    [
        (0, [], ValueError, "figures is empty"),
        (3, ["a", "b"], ValueError, "3 figures but 2 labels"),
        (1, ["a", "b"], ValueError, "1 figures but 2 labels"),
        (2, ["a", "a"], ValueError, "unique"),
        (1, "a", TypeError, "labels must be a sequence"),
    ],
)
def test_figure_browser_bad_input(n_figures, labels, exc, match):
    with pytest.raises(exc, match=match):
        figure_browser((plt.figure(figsize=(1, 1)) for _ in range(n_figures)), labels)
    with pytest.raises(TypeError, match="iterable of matplotlib figures"):
        figure_browser(5, ["a"])  # type: ignore[arg-type]
    with pytest.raises(TypeError, match=r"figure 1 \('b'\).*matplotlib Figure"):
        figure_browser(iter([plt.figure(figsize=(1, 1)), np.zeros((3, 3))]), ["a", "b"])


def test_upscale():
    assert _png_size(to_png(np.zeros((16, 8)))) == (64, 128)  # auto: longer side -> 128
    assert _png_size(to_png(np.zeros((16, 8)), upscale=1)) == (8, 16)
    assert _png_size(to_png(np.zeros((300, 200)))) == (200, 300)
    with pytest.raises(ValueError, match="upscale"):
        to_png(np.zeros((4, 4)), upscale=0)


@pytest.mark.parametrize(
    ("images", "labels", "exc", "match"),
    [
        ([], [], ValueError, "empty"),
        ([np.zeros((4, 4))] * 2, ["a"], ValueError, "2 images but 1 labels"),
        ([np.zeros((4, 4))], ["a", "b"], ValueError, "1 images but 2 labels"),
        ([np.zeros((4, 4))] * 2, ["a", "a"], ValueError, "unique"),
        ([np.zeros((4, 4))], "a", TypeError, "labels must be a sequence"),
        (np.zeros((4, 4)), list("abcd"), TypeError, "one array of shape"),  # one image, not 4
        ([np.zeros(5)], ["a"], ValueError, "shape"),
        ([np.full((3, 3), np.nan)], ["a"], ValueError, "NaN"),
        ([b"not a png"], ["a"], ValueError, "not a PNG"),
        (["cat.png"], ["a"], TypeError, "numpy array, a matplotlib Figure or PNG bytes"),
        (5, ["a"], TypeError, "images must be a sequence"),
    ],
)
def test_bad_input(images, labels, exc, match):
    with pytest.raises(exc, match=match):
        image_browser(images, labels)


def test_bad_controls():
    with pytest.raises(ValueError, match="controls"):
        image_browser(_images(2), ["a", "b"], controls="knob")  # type: ignore[arg-type]
