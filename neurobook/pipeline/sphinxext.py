"""A small Sphinx extension: offer each chapter's student notebook next to the executed ``.ipynb``.

The student notebooks (``neurobook student``, written to ``book/_generated/student/<slug>.ipynb``) are copied into
the html output as ``student/<slug>.ipynb``, and the page of a chapter that has one gets a "student .ipynb" entry in
the theme's download menu, right after the executed notebook. Configure the folder with ``neurobook_student_dir``
(relative to the book's root).
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

STUDENT_URL_DIR = "student"


def _student_dir(app) -> Path:
    return Path(app.srcdir) / app.config.neurobook_student_dir


def _add_student_button(app, pagename: str, templatename: str, context: dict[str, Any], doctree) -> None:
    slug = pagename.rsplit("/", 1)[-1]
    if not (_student_dir(app) / f"{slug}.ipynb").is_file():
        return
    for group in context.get("header_buttons", []):
        if group.get("label") != "download-buttons":
            continue
        buttons = group["buttons"]
        # after the executed notebook: the theme's notebook entry, or the page's source when that is the .ipynb
        labels = [b.get("label") for b in buttons]
        after = "download-notebook-button" if "download-notebook-button" in labels else "download-source-button"
        at = labels.index(after) + 1 if after in labels else len(buttons)
        buttons.insert(at, {
            "type": "link",
            "url": context["pathto"](f"{STUDENT_URL_DIR}/{slug}.ipynb", 1),
            "text": "student .ipynb",
            "icon": "fas fa-graduation-cap",
            "tooltip": "Download the student notebook: the exercises without their solutions",
            "label": "download-student-notebook-button",
        })


def _stale_pages(app, env, added, changed, removed) -> list[str]:
    """Chapter pages written before their student notebook (new or changed): rewrite them to add the button."""
    stale = []
    for docname in env.found_docs:
        student = _student_dir(app) / f"{docname.rsplit('/', 1)[-1]}.ipynb"
        page = Path(app.outdir) / f"{docname}.html"
        if student.is_file() and page.is_file() and page.stat().st_mtime < student.stat().st_mtime:
            stale.append(docname)
    return stale


def _copy_student_notebooks(app, exception) -> None:
    if exception is not None or app.builder.format != "html":
        return
    source = _student_dir(app)
    if not source.is_dir():
        return
    target = Path(app.outdir) / STUDENT_URL_DIR
    target.mkdir(parents=True, exist_ok=True)
    for path in sorted(source.glob("[!.]*.ipynb")):  # not a writer's temporary .<name>.tmp.ipynb
        if not path.name.endswith(".teacher.ipynb"):  # the teacher's copy holds the solutions
            shutil.copy2(path, target / path.name)


def setup(app) -> dict[str, Any]:
    app.add_config_value("neurobook_student_dir", "book/_generated/student", "html")
    app.connect("html-page-context", _add_student_button, priority=510)  # after sphinx-book-theme's 501
    app.connect("env-get-outdated", _stale_pages)
    app.connect("build-finished", _copy_student_notebooks)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
