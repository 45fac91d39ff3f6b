"""Open the BUILT book in a headless Chromium and check that the image browsers work with no kernel.

By default the book is the quick-profile build made by the suite (``built_book`` in conftest.py); set
``NEUROBOOK_BUILT_BOOK`` to check another built html folder (e.g. ``_build/html`` after ``make book``).
The test serves the html folder from a local
``http.server`` on 127.0.0.1, opens every page that contains a ``neurobook.widgets.image_browser``, and:

* waits for the widget to be rendered by the ipywidgets html-manager (no kernel),
* moves the slider with the keyboard and picks an item in the dropdown; the image shown must change,
* checks that the html-manager's fonts are served locally,
* fails on any request to a host other than 127.0.0.1 (such requests are also blocked, so the test
  never reaches the internet), on any failed request and on any HTTP error status from 127.0.0.1,
* fails on uncaught JavaScript errors,
* saves screenshots (``$NEUROBOOK_SCREENSHOT_DIR`` if set, else pytest's ``tmp_path``).

Environment: ``NEUROBOOK_BUILT_BOOK`` (default: the suite's quick build), ``NEUROBOOK_CHROMIUM``
(default ``/usr/bin/chromium``), ``NEUROBOOK_WIDGET_PAGE`` (one page, relative to the html folder; default
every page with an image browser).
"""

from __future__ import annotations

import functools
import http.server
import json
import os
import re
import threading
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from neurobook.pipeline.chapters import written_chapters
from neurobook.widgets import BROWSER_CLASS, CAPTION_CLASS, DROPDOWN_CLASS, SLIDER_CLASS, STACK_CLASS

pytestmark = pytest.mark.slow

REPO_ROOT = Path(__file__).resolve().parents[1]
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
RENDER_TIMEOUT_MS = 30_000
WIDGET_STATE = "application/vnd.jupyter.widget-state+json"
BROWSER = f".{BROWSER_CLASS}"
IMAGE = f"{BROWSER} .{STACK_CLASS} img"
CAPTION = f"{BROWSER} .{CAPTION_CLASS}"
SLIDER_HANDLE = f"{BROWSER} .{SLIDER_CLASS} .noUi-handle"
DROPDOWN = f"{BROWSER} .{DROPDOWN_CLASS} select"
# JavaScript errors of the Jupyter Book 1 theme stack, unrelated to widgets, seen on every page:
# sphinx-thebe's inline `const THEBE_JS_URL` is emitted twice, and pydata-sphinx-theme complains about
# the empty theme mode of a fresh browser profile.
BENIGN_JS_ERRORS = (
    re.compile(r"Identifier 'THEBE_JS_URL' has already been declared"),
    re.compile(r"Got invalid theme mode"),
)


@pytest.fixture(scope="module")
def built_html(request) -> Path:
    """The html folder to check: ``$NEUROBOOK_BUILT_BOOK`` if set, else the quick-profile book built by the suite."""
    value = os.environ.get("NEUROBOOK_BUILT_BOOK")
    if value:
        html = Path(value).resolve()
        assert (html / "index.html").is_file(), f"NEUROBOOK_BUILT_BOOK={value} holds no index.html"
        return html
    return request.getfixturevalue("built_book")


def widget_pages(html: Path) -> list[str]:
    """Pages (relative to ``html``) that embed widget state containing an image browser."""
    if os.environ.get("NEUROBOOK_WIDGET_PAGE"):
        return [os.environ["NEUROBOOK_WIDGET_PAGE"]]
    pages = []
    for page in sorted(html.rglob("*.html")):
        if "_sources" in page.parts or "_static" in page.parts:
            continue
        text = page.read_text(encoding="utf-8", errors="replace")
        if WIDGET_STATE in text and BROWSER_CLASS in text:
            pages.append(page.relative_to(html).as_posix())
    return pages


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture(scope="module")
def server(built_html: Path) -> Iterator[str]:
    """Serve the built book on 127.0.0.1 at a random port; yields the base URL."""
    handler = functools.partial(_QuietHandler, directory=str(built_html))
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}/"
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(timeout=5)


@pytest.fixture(scope="module")
def browser_context(tmp_path_factory: pytest.TempPathFactory):
    """A Chromium with a fresh profile, using the system browser (Playwright downloads none)."""
    sync_api = pytest.importorskip("playwright.sync_api")
    executable = os.environ.get("NEUROBOOK_CHROMIUM", "/usr/bin/chromium")
    if not Path(executable).is_file():
        pytest.fail(
            f"Chromium not found at {executable}: apt-get install chromium (or set NEUROBOOK_CHROMIUM)"
        )
    profile = tmp_path_factory.mktemp("chromium-profile")
    with sync_api.sync_playwright() as p:
        context = p.chromium.launch_persistent_context(
            str(profile),
            executable_path=executable,
            headless=True,
            args=CHROMIUM_ARGS,
            viewport={"width": 1280, "height": 1000},
            service_workers="block",
        )
        try:
            yield context
        finally:
            context.close()


def _screenshot_dir(tmp_path: Path) -> Path:
    out = Path(os.environ.get("NEUROBOOK_SCREENSHOT_DIR") or tmp_path)
    out.mkdir(parents=True, exist_ok=True)
    return out


def _is_local(url: str) -> bool:
    scheme = urlsplit(url).scheme
    if scheme in ("data", "file", "about"):
        return True
    if scheme == "blob":  # blob:http://127.0.0.1:PORT/uuid: an object URL made by the page itself
        return _is_local(url[len("blob:") :])
    return scheme in ("http", "https") and urlsplit(url).hostname == "127.0.0.1"


def _image_state(page) -> tuple[str, str]:
    """(src, caption) of the image shown by the first browser on the page."""
    img = page.locator(IMAGE).first
    img.wait_for(state="visible", timeout=RENDER_TIMEOUT_MS)
    return img.get_attribute("src") or "", page.locator(CAPTION).first.inner_text().strip()


def _wait_changed(page, old_src: str) -> None:
    page.wait_for_function(
        """([sel, old]) => { const i = document.querySelector(sel);
                             return i !== null && i.getAttribute('src') !== old && i.complete; }""",
        arg=[IMAGE, old_src],
        timeout=10_000,
    )


def test_image_browser_works_without_kernel(built_html: Path, server: str, browser_context, tmp_path: Path):
    pages = widget_pages(built_html)
    assert pages, (
        f"no page of the built book at {built_html} contains an image browser "
        f"(widget state with {BROWSER_CLASS!r}); was a chapter using neurobook.widgets.image_browser "
        "executed and the book rebuilt?"
    )
    shots = _screenshot_dir(tmp_path)
    for rel in pages:
        _check_page(browser_context, server, rel, shots)


class _Watch:
    """Blocks and records requests to other hosts, records failed local requests and JavaScript errors."""

    def __init__(self, page) -> None:
        self.foreign: list[str] = []
        self.failed: list[str] = []
        self.errors: list[str] = []
        page.route("**/*", self._route)
        page.on("response", self._on_response)
        page.on("requestfailed", self._on_failed)
        page.on("pageerror", lambda exc: self._on_error(f"uncaught: {exc}"))
        page.on("console", lambda msg: self._on_error(f"console.error: {msg.text}") if msg.type == "error" else None)

    def _route(self, r) -> None:
        if _is_local(r.request.url):
            r.continue_()
        else:
            self.foreign.append(r.request.url)
            r.abort("blockedbyclient")

    def _on_response(self, response) -> None:
        if response.status >= 400:
            self.failed.append(f"HTTP {response.status} {response.url}")

    def _on_failed(self, request) -> None:
        if _is_local(request.url):  # foreign requests fail because we abort them; reported above
            self.failed.append(f"failed ({request.failure}) {request.url}")

    def _on_error(self, text: str) -> None:
        if not any(p.search(text) for p in BENIGN_JS_ERRORS):
            self.errors.append(text)


def _check_page(context, server: str, rel: str, shots: Path) -> None:
    page = context.new_page()
    watch = _Watch(page)
    foreign, failed, errors = watch.foreign, watch.failed, watch.errors
    stem = re.sub(r"[^A-Za-z0-9_.-]+", "_", rel.removesuffix(".html"))
    try:
        page.goto(server + rel, wait_until="load")
        assert not foreign, f"{rel}: requests to hosts other than 127.0.0.1 (blocked): {foreign}"
        try:
            src0, caption0 = _image_state(page)
        except Exception as err:
            page.screenshot(path=str(shots / f"{stem}-not-rendered.png"), full_page=True)
            raise AssertionError(
                f"{rel}: the image browser did not render within {RENDER_TIMEOUT_MS / 1000:.0f} s "
                f"(foreign requests: {foreign}, failed: {failed}, errors: {errors})"
            ) from err
        n_browsers = page.locator(BROWSER).count()
        page.locator(BROWSER).first.scroll_into_view_if_needed()
        page.screenshot(path=str(shots / f"{stem}-0-initial.png"))
        img0 = page.locator(IMAGE).first.screenshot()

        # 1. the slider, with the keyboard
        if page.locator(SLIDER_HANDLE).count():
            handle = page.locator(SLIDER_HANDLE).first
            handle.focus()
            handle.press("ArrowRight")
            _wait_changed(page, src0)
            src1, caption1 = _image_state(page)
            assert src1 != src0, f"{rel}: the image did not change after ArrowRight on the slider"
            assert caption1 != caption0, f"{rel}: the caption did not change ({caption0!r})"
            assert page.locator(IMAGE).first.screenshot() != img0, f"{rel}: the same pixels after moving"
            if page.locator(DROPDOWN).count():  # linked through the stack, in the browser
                assert page.locator(DROPDOWN).first.evaluate("s => s.selectedIndex") == 1
            page.screenshot(path=str(shots / f"{stem}-1-slider.png"))
            src0, caption0 = src1, caption1

        # 2. the dropdown: pick the last item
        if page.locator(DROPDOWN).count():
            select = page.locator(DROPDOWN).first
            n_options = select.locator("option").count()
            if n_options > 2:
                select.select_option(index=n_options - 1)
                _wait_changed(page, src0)
                src2, caption2 = _image_state(page)
                assert src2 != src0, f"{rel}: the image did not change after choosing in the dropdown"
                assert caption2 != caption0, f"{rel}: the caption did not change ({caption0!r})"
                page.screenshot(path=str(shots / f"{stem}-2-dropdown.png"))

        # 3. fonts (the html-manager's Font Awesome, the theme's) resolve to this server, not a CDN
        font_urls = page.evaluate(
            """() => { const urls = new Set();
                 for (const sheet of document.styleSheets) {
                   let rules; try { rules = sheet.cssRules; } catch (e) { continue; }
                   for (const r of rules) if (r instanceof CSSFontFaceRule)
                     for (const m of r.style.getPropertyValue('src').matchAll(/url\\("?([^")]+)"?\\)/g))
                       if (m[1].includes('.woff2'))
                         urls.add(new URL(m[1], sheet.href || document.baseURI).href);
                 }
                 return [...urls]; }"""
        )
        for url in font_urls:
            assert _is_local(url), f"{rel}: widget font served from {url}"
            status = page.evaluate("u => fetch(u).then(r => r.status)", url)
            assert status == 200, f"{rel}: widget font {url} -> HTTP {status}"
    finally:
        page.close()

    print(f"{rel}: {n_browsers} image browser(s) OK; screenshots in {shots}")
    assert not foreign, f"{rel}: requests to hosts other than 127.0.0.1 (blocked): {foreign}"
    assert not failed, f"{rel}: failed local requests: {failed}"
    assert not errors, f"{rel}: JavaScript errors: {errors}"


# text outside code and typeset math that still holds a "$": math the markdown parser did not recognise
STRAY_DOLLARS_JS = """() => {
  const walker = document.createTreeWalker(document.querySelector('main'), NodeFilter.SHOW_TEXT);
  const found = [];
  for (let n = walker.nextNode(); n; n = walker.nextNode()) {
    if (n.parentElement.closest('pre, code, .math, mjx-container, script, style')) continue;
    if (n.textContent.includes('$')) found.push(n.parentElement.textContent.slice(0, 100));
  }
  return found;
}"""


def math_pages(html: Path) -> list[str]:
    """Pages (relative to ``html``) with display or inline math."""
    return [p.relative_to(html).as_posix() for p in sorted(html.rglob("*.html"))
            if "_sources" not in p.parts and 'class="math' in p.read_text(encoding="utf-8", errors="replace")]


def test_math_is_typeset_offline(built_html: Path, server: str, browser_context, tmp_path: Path):
    """Every page with equations typesets them with the book's own MathJax; nothing leaves 127.0.0.1."""
    pages = math_pages(built_html)
    assert pages, f"no page of {built_html} has math; chapter 1 has the noise-ceiling equations"
    shots = _screenshot_dir(tmp_path)
    for rel in pages:
        page = browser_context.new_page()
        watch = _Watch(page)
        try:
            page.goto(server + rel, wait_until="load")
            scripts = page.evaluate("() => [...document.scripts].map(s => s.src).filter(s => /mathjax/i.test(s))")
            assert scripts and all(_is_local(s) for s in scripts), f"{rel}: MathJax loaded from {scripts}"
            n_math = page.locator(".math").count()
            page.wait_for_function("n => document.querySelectorAll('mjx-container').length >= n", arg=n_math,
                                   timeout=RENDER_TIMEOUT_MS)
            errors = page.locator("mjx-merror").count()
            assert errors == 0, f"{rel}: {errors} equation(s) failed to typeset"
            stray = page.evaluate(STRAY_DOLLARS_JS)
            assert not stray, f"{rel}: $ left as text next to math (display math needs blank lines around it): {stray}"
            page.locator("mjx-container").first.scroll_into_view_if_needed()
            page.screenshot(path=str(shots / (re.sub(r"[^A-Za-z0-9_.-]+", "_", rel) + "-math.png")))
        finally:
            page.close()
        assert not watch.foreign, f"{rel}: requests to hosts other than 127.0.0.1 (blocked): {watch.foreign}"
        assert not watch.failed, f"{rel}: failed local requests: {watch.failed}"
        assert not watch.errors, f"{rel}: JavaScript errors: {watch.errors}"
        print(f"{rel}: {n_math} equation(s) typeset by the local MathJax")


# --- the course format: exercises, collapsed solutions, the student notebook download (issue 7) ---

EXERCISE = ".exercise.admonition"
SOLUTION = ".solution.dropdown"


def exercise_pages(html: Path) -> list[str]:
    """Pages (relative to ``html``) that render a sphinx-exercise exercise."""
    return sorted(
        page.relative_to(html).as_posix() for page in html.rglob("*.html")
        if "_sources" not in page.parts and "_static" not in page.parts
        and 'class="exercise admonition"' in page.read_text(encoding="utf-8", errors="replace")
    )


def test_exercises_show_collapsed_solutions_and_a_student_notebook(built_html: Path, server: str, browser_context,
                                                                   tmp_path: Path):
    pages = exercise_pages(built_html)
    assert pages, f"no page of the built book at {built_html} shows an exercise (sphinx-exercise)"
    shots = _screenshot_dir(tmp_path)
    for rel in pages:
        page = browser_context.new_page()
        watch = _Watch(page)
        stem = re.sub(r"[^A-Za-z0-9_.-]+", "_", rel.removesuffix(".html"))
        try:
            page.goto(server + rel, wait_until="load")
            exercise = page.locator(EXERCISE).first
            exercise.wait_for(state="visible", timeout=RENDER_TIMEOUT_MS)
            assert "Exercise" in exercise.locator(".admonition-title").inner_text()
            n_solutions = page.locator(SOLUTION).count()
            assert n_solutions == page.locator(EXERCISE).count(), f"{rel}: one collapsed solution per exercise"
            solution = page.locator(SOLUTION).first
            solution.scroll_into_view_if_needed()
            code = solution.locator("pre").first
            page.wait_for_function("s => document.querySelector(s + '.toggle-hidden') !== null", arg=SOLUTION,
                                   timeout=RENDER_TIMEOUT_MS)
            assert code.is_hidden(), f"{rel}: the solution's code is shown before the reader opens it"
            page.screenshot(path=str(shots / f"{stem}-exercise-collapsed.png"))
            solution.locator(".admonition-title .toggle-button").first.click()  # the title's link jumps to the task
            code.wait_for(state="visible", timeout=10_000)
            assert "BEGIN SOLUTION" in code.inner_text(), f"{rel}: the opened solution holds no solution code"
            page.screenshot(path=str(shots / f"{stem}-exercise-opened.png"))

            # the student notebook is offered in the download menu next to the executed .ipynb
            slug = rel.rsplit("/", 1)[-1].removesuffix(".html")
            link = page.locator(f'a[href$="student/{slug}.ipynb"]')
            assert link.count() == 1, f"{rel}: no student notebook link in the download menu"
            url = link.first.evaluate("a => a.href")
            assert _is_local(url), url
            student = page.evaluate("u => fetch(u).then(r => r.ok ? r.json() : {status: r.status})", url)
            assert "cells" in student, f"{rel}: student notebook {url} -> {student}"
            text = json.dumps([c["source"] for c in student["cells"]])
            assert "BEGIN SOLUTION" not in text and "YOUR CODE HERE" in text, f"{rel}: {url} holds solutions"
        finally:
            page.close()
        assert not watch.foreign, f"{rel}: requests to hosts other than 127.0.0.1 (blocked): {watch.foreign}"
        assert not watch.errors, f"{rel}: JavaScript errors: {watch.errors}"
        print(f"{rel}: {n_solutions} exercise(s) with collapsed solutions, student notebook {url}")


def test_syllabus_links_exercises_and_student_notebooks(built_html: Path, server: str, browser_context):
    from neurobook.pipeline.student import exercises

    rel = "book/syllabus.html"
    assert (built_html / rel).is_file(), "the syllabus page was not built (is book/syllabus in _toc.yml?)"
    page = browser_context.new_page()
    watch = _Watch(page)
    try:
        page.goto(server + rel, wait_until="load")
        body = page.locator("main").inner_text()
        for chapter in written_chapters():
            for ex in exercises(chapter):
                anchor = page.locator(f'a[href$="#{ex.label}"]')
                assert anchor.count() == 1 and ex.title in anchor.first.inner_text(), f"{rel}: {ex.label}"
            assert chapter.title in body
        downloads = page.locator('a.download[href$=".ipynb"]')
        assert downloads.count() >= 1, f"{rel}: no student notebook download link"
        for i in range(downloads.count()):
            url = downloads.nth(i).evaluate("a => a.href")
            assert page.evaluate("u => fetch(u).then(r => r.status)", url) == 200, url
    finally:
        page.close()
    assert not watch.foreign, f"{rel}: requests to hosts other than 127.0.0.1 (blocked): {watch.foreign}"
    assert not watch.errors, f"{rel}: JavaScript errors: {watch.errors}"
