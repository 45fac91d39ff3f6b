"""Progress of long work: a tqdm bar where the work runs, and one line per step for the terminal of a build.

In a notebook ``tqdm.auto`` draws a compact widget bar (it is saved with the notebook and shown in the book); in a
terminal it draws a text bar. When a chapter runs under ``neurobook run``/``build`` the kernel's output goes into the
notebook, not to the terminal, so the runner names a file in ``$NEUROBOOK_PROGRESS_FILE`` and prints the lines that
:class:`StepProgress` appends to it (see :mod:`neurobook.pipeline.run`).
"""

from __future__ import annotations

import os
from pathlib import Path

from tqdm.auto import tqdm

PROGRESS_FILE_ENV = "NEUROBOOK_PROGRESS_FILE"


def report(line: str) -> None:
    """Append one progress line to ``$NEUROBOOK_PROGRESS_FILE`` when a runner asked for it; else do nothing."""
    target = os.environ.get(PROGRESS_FILE_ENV)
    if not target:
        return
    try:
        with open(target, "a", encoding="utf-8") as f:
            f.write(line.rstrip("\n") + "\n")
    except OSError:  # progress is never worth failing the work for
        pass


class StepProgress:
    """A bar over ``total`` steps (epochs, generations ...) that also reports each step to the runner."""

    def __init__(self, total: int, desc: str, unit: str = "epoch", enabled: bool = True) -> None:
        self.total, self.desc, self.unit, self.n = total, desc, unit, 0
        self.enabled = enabled
        self.bar = tqdm(total=total, desc=desc, unit=unit, disable=not enabled, leave=True, dynamic_ncols=True)

    def step(self, **postfix: float | str) -> None:
        """Advance by one step and show ``postfix`` (e.g. the validation correlation)."""
        self.n += 1
        text = ", ".join(f"{k}={v:.3f}" if isinstance(v, float) else f"{k}={v}" for k, v in postfix.items())
        self.bar.set_postfix_str(text, refresh=False)
        self.bar.update(1)
        if self.enabled:
            report(f"{self.desc}: {self.unit} {self.n}/{self.total}" + (f" ({text})" if text else ""))

    def close(self) -> None:
        self.bar.close()

    def __enter__(self) -> StepProgress:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def read_new_lines(path: Path, offset: int) -> tuple[list[str], int]:
    """Lines appended to ``path`` since byte ``offset``, and the new offset (for a runner that tails the file)."""
    try:
        with open(path, encoding="utf-8") as f:
            f.seek(offset)
            text = f.read()
    except FileNotFoundError:
        return [], offset
    complete = text[: text.rfind("\n") + 1]
    return complete.splitlines(), offset + len(complete.encode("utf-8"))
