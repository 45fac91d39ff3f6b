"""Local JavaScript for the static book, with no kernel and no CDN: the ipywidgets renderer and MathJax.

The executed notebooks keep their widget state in the notebook metadata (nbclient does this by
default). myst-nb embeds that state in the HTML and loads the JavaScript listed in its
``nb_ipywidgets_js`` setting on the pages that have widgets. By default those come from CDNs; the book
instead points them at ``<html root>/nbwidgets/`` (see ``_config.yml``), which this module fills:

* ``require.js`` from the npm package ``requirejs``,
* ``embed-amd.js`` and the fonts it loads from ``@jupyter-widgets/html-manager``,
* ``nbwidgets-config.js`` (kept in ``book/widgets/``), which maps the bundled module ids onto this
  folder so that nothing is fetched from a CDN.

The npm packages are pinned by ``book/widgets/package.json`` and ``package-lock.json`` and installed with
``npm ci`` into a cache folder, once; later calls only check that the copies are up to date.
``_config.yml`` lists ``book/_widgets`` in ``html_extra_path``, so ``book/_widgets/nbwidgets`` is copied
to ``<html root>/nbwidgets``. (Not ``_static``: Jupyter Book adds every ``.js`` there to every page.)
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
from pathlib import Path

from neurobook.data.paths import REPO_ROOT
from neurobook.files import atomic_path

WIDGET_SOURCES_DIR = REPO_ROOT / "book" / "widgets"
DEFAULT_DEST = REPO_ROOT / "book" / "_widgets" / "nbwidgets"
DEFAULT_CACHE = REPO_ROOT / ".cache" / "npm-widgets"
CACHE_ENV = "NEUROBOOK_NPM_WIDGETS_CACHE"

CONFIG_JS = "nbwidgets-config.js"
HTML_MANAGER = "@jupyter-widgets/html-manager"
NPM_MISSING = "npm was not found on PATH; install Node.js/npm: apt-get install nodejs npm"
_STAMP = ".neurobook-lock.sha256"
# Files of html-manager's dist/ that embed-amd.js fetches at run time (webpack assets: the fonts).
_ASSET_SUFFIXES = (".woff2", ".woff", ".ttf", ".eot", ".svg")


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _npm_ci(cache: Path, package_dir: Path) -> None:
    """Install the pinned packages into ``cache/node_modules`` unless the lock there is unchanged."""
    lock = package_dir / "package-lock.json"
    manifest = package_dir / "package.json"
    for f in (manifest, lock):
        if not f.is_file():
            raise FileNotFoundError(f"missing {f}: the widget JavaScript versions are pinned there")
    wanted = _sha256(lock) + _sha256(manifest)
    stamp = cache / "node_modules" / _STAMP
    if stamp.is_file() and stamp.read_text().strip() == wanted:
        return
    npm = shutil.which("npm")
    if npm is None:
        raise RuntimeError(NPM_MISSING)
    cache.mkdir(parents=True, exist_ok=True)
    shutil.copy2(manifest, cache / "package.json")
    shutil.copy2(lock, cache / "package-lock.json")
    # --ignore-scripts: only files are needed (fontawesome's postinstall just prints a notice).
    cmd = [npm, "ci", "--ignore-scripts", "--no-audit", "--no-fund", "--loglevel=error"]
    proc = subprocess.run(cmd, cwd=cache, capture_output=True, text=True)
    if proc.returncode != 0:
        raise RuntimeError(
            f"`{' '.join(cmd[1:])}` failed in {cache} (exit {proc.returncode}); is the npm registry "
            f"reachable?\n{proc.stdout[-2000:]}{proc.stderr[-4000:]}"
        )
    stamp.write_text(wanted + "\n")


def _sources(cache: Path, package_dir: Path) -> dict[str, Path]:
    """Map each file name to put in ``dest`` to its source file."""
    modules = cache / "node_modules"
    dist = modules / HTML_MANAGER / "dist"
    files = {
        "require.js": modules / "requirejs" / "require.js",
        "embed-amd.js": dist / "embed-amd.js",
        CONFIG_JS: package_dir / CONFIG_JS,
    }
    for f in sorted(dist.iterdir()):
        if f.suffix in _ASSET_SUFFIXES:
            files[f.name] = f
    missing = [str(p) for p in files.values() if not p.is_file()]
    if missing:
        raise RuntimeError(f"widget assets missing after npm ci in {cache}: {missing}")
    return files


def _up_to_date(src: Path, dst: Path) -> bool:
    try:
        s, d = src.stat(), dst.stat()
    except FileNotFoundError:
        return False
    return s.st_size == d.st_size and s.st_mtime_ns == d.st_mtime_ns


def install_widget_assets(
    dest: Path = DEFAULT_DEST,
    cache: Path | None = None,
    package_dir: Path = WIDGET_SOURCES_DIR,
) -> Path:
    """Put the JavaScript that renders ipywidgets offline into ``dest`` and return ``dest``.

    Idempotent: ``npm ci`` runs only when ``cache`` has no install of the current lock file, and files
    are copied only when missing or changed, so a warm call takes milliseconds and needs no npm.

    Args:
        dest: folder served as ``<html root>/nbwidgets`` (default ``book/_widgets/nbwidgets``).
        cache: where ``npm ci`` installs the packages; default ``$NEUROBOOK_NPM_WIDGETS_CACHE`` or
            ``<repo>/.cache/npm-widgets``.
        package_dir: folder with the pinned ``package.json``, ``package-lock.json`` and
            ``nbwidgets-config.js`` (default ``book/widgets``).

    Raises:
        RuntimeError: npm is needed but missing, or ``npm ci`` failed.
    """
    dest = Path(dest)
    if cache is None:
        cache = Path(os.environ.get(CACHE_ENV) or DEFAULT_CACHE)
    cache = Path(cache).expanduser().resolve()
    package_dir = Path(package_dir)
    _npm_ci(cache, package_dir)
    files = _sources(cache, package_dir)
    dest.mkdir(parents=True, exist_ok=True)
    for name, src in files.items():
        dst = dest / name
        if not _up_to_date(src, dst):
            with atomic_path(dst) as tmp:
                shutil.copy2(src, tmp)
    # Drop stale files (e.g. fonts of an older html-manager) so the built book carries no leftovers.
    for f in dest.iterdir():
        if f.is_file() and f.name not in files and f.suffix in (*_ASSET_SUFFIXES, ".js", ".tmp"):
            f.unlink()
    return dest


MATH_DEST = REPO_ROOT / "book" / "_widgets" / "mathjax"
MATHJAX_ENTRY = "tex-mml-chtml.js"
# MathJax 3 loads these at run time relative to its script: fonts, TeX extensions (autoload), accessibility, menu
_MATHJAX_DIRS = ("output/chtml/fonts/woff-v2", "input/tex/extensions", "a11y", "ui")


def _math_sources(cache: Path) -> dict[str, Path]:
    es5 = cache / "node_modules" / "mathjax" / "es5"
    if not (es5 / MATHJAX_ENTRY).is_file():
        raise RuntimeError(f"MathJax missing after npm ci in {cache}: no {es5 / MATHJAX_ENTRY}")
    files = {MATHJAX_ENTRY: es5 / MATHJAX_ENTRY}
    for folder in _MATHJAX_DIRS:
        for f in sorted((es5 / folder).rglob("*")):
            if f.is_file():
                files[f.relative_to(es5).as_posix()] = f
    return files


def install_math_assets(dest: Path = MATH_DEST, cache: Path | None = None,
                        package_dir: Path = WIDGET_SOURCES_DIR) -> Path:
    """Put MathJax 3 (pinned in ``book/widgets/package.json``) into ``dest``, served as ``<html root>/mathjax``.

    ``_config.yml`` sets ``mathjax_path`` to it, so pages with equations typeset them with no outside request.
    Idempotent like :func:`install_widget_assets`.
    """
    dest = Path(dest)
    cache = Path(cache or os.environ.get(CACHE_ENV) or DEFAULT_CACHE).expanduser().resolve()
    _npm_ci(cache, Path(package_dir))
    for rel, src in _math_sources(cache).items():
        dst = dest / rel
        if not _up_to_date(src, dst):
            with atomic_path(dst) as tmp:  # makes dst's folder
                shutil.copy2(src, tmp)
    return dest


if __name__ == "__main__":
    print(install_widget_assets())
    print(install_math_assets())
