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
        at = next((i + 1 for i, b in enumerate(buttons) if b.get("label") == "download-notebook-button"), 0)
        buttons.insert(at, {
            "type": "link",
            "url": context["pathto"](f"{STUDENT_URL_DIR}/{slug}.ipynb", 1),
            "text": "student .ipynb",
            "icon": "fas fa-graduation-cap",
            "tooltip": "Download the student notebook: the exercises without their solutions",
            "label": "download-student-notebook-button",
        })


def _copy_student_notebooks(app, exception) -> None:
    if exception is not None or app.builder.format != "html":
        return
    source = _student_dir(app)
    if not source.is_dir():
        return
    target = Path(app.outdir) / STUDENT_URL_DIR
    target.mkdir(parents=True, exist_ok=True)
    for path in sorted(source.glob("*.ipynb")):
        if not path.name.endswith(".teacher.ipynb"):  # the teacher's copy holds the solutions
            shutil.copy2(path, target / path.name)


def setup(app) -> dict[str, Any]:
    app.add_config_value("neurobook_student_dir", "book/_generated/student", "html")
    app.connect("html-page-context", _add_student_button, priority=510)  # after sphinx-book-theme's 501
    app.connect("build-finished", _copy_student_notebooks)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
