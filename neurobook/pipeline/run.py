"""Run one chapter with papermill: its parameters, its fingerprint (rerun only on a change), its lock, its execution."""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import logging
import os
import shutil
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from neurobook.config import PROFILES
from neurobook.data.fetch import DataNotFoundError, sha256sum
from neurobook.data.paths import data_dir
from neurobook.data.registry import get_dataset
from neurobook.pipeline.chapters import GENERATED_DIR, Chapter, get_chapter
from neurobook.pipeline.params import ParameterError, notebook_parameters, parse_value, read_chapter, validate
from neurobook.progress import PROGRESS_FILE_ENV, read_new_lines
from neurobook.results import RESULTS_DIR_ENV

PACKAGE_DIR = Path(__file__).resolve().parents[1]  # the neurobook package
PIPELINE_DIR = Path(__file__).resolve().parent  # this layer: runs chapters, decides nothing they compute
LOCK_NAME = ".neurobook.lock"
# cells of the executed notebook that are plumbing, not story: hidden (collapsed) or removed in the book
_TAGS_FOR_READER = {"injected-parameters": "hide-cell"}


class ChapterFailed(RuntimeError):
    """A chapter raised while executing; the message names the chapter and the cell."""


class ChapterInterrupted(RuntimeError):
    """A chapter was interrupted (Ctrl-C); its previous executed notebook and results were kept."""


class BuildLocked(RuntimeError):
    """Another neurobook run or build holds the lock of the same output folder."""


_held_locks: dict[Path, int] = {}


@contextlib.contextmanager
def build_lock(folder: Path) -> Iterator[None]:
    """Hold an exclusive lock on ``folder`` (re-entrant within one process); a second process gets BuildLocked.

    The lock is an ``flock`` on ``folder/.neurobook.lock``: the system drops it when the holder dies, so a killed
    build never leaves a stale lock behind.
    """
    folder = Path(folder).resolve()
    if folder in _held_locks:
        yield
        return
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / LOCK_NAME
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        holder = os.pread(fd, 64, 0).decode(errors="replace").strip() or "unknown"
        os.close(fd)
        raise BuildLocked(f"another neurobook run or build is using {folder} (pid {holder}); wait for it to finish "
                          f"(its output is not touched meanwhile), or stop that process") from None
    os.ftruncate(fd, 0)
    os.pwrite(fd, str(os.getpid()).encode(), 0)
    _held_locks[folder] = fd
    try:
        yield
    finally:
        del _held_locks[folder]
        fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)


def check_run_values(values: dict[str, Any], chapter: str) -> None:
    """Catch bad values of the common parameters before a kernel starts (the chapter would fail deep inside)."""
    profile = values.get("profile")
    if profile is not None and profile not in PROFILES:
        raise ParameterError(f"{chapter}: profile must be one of {PROFILES}, got {profile!r}")
    device = values.get("device")
    if isinstance(device, str):
        if device not in ("auto", "cpu") and not device.startswith("cuda"):
            raise ParameterError(f"{chapter}: device must be 'auto', 'cpu' or 'cuda', got {device!r}")
        if device.startswith("cuda"):
            import torch

            if not torch.cuda.is_available():
                raise ParameterError(f"{chapter}: device={device!r} was asked for but this machine has no CUDA GPU; "
                                     f"use device='auto' (a GPU when present, else the CPU) or 'cpu'")
    data_dir(values.get("data_dir"))  # raises DataDirError for a named folder that does not exist
    user_file = values.get("data_file")
    if user_file is not None and not Path(str(user_file)).expanduser().is_file():
        raise DataNotFoundError(f"{chapter}: data_file {user_file!r} does not exist (looked at "
                                f"{Path(str(user_file)).expanduser().resolve()}); see README 'Bring your own data'")


def absolute_paths(values: dict[str, Any]) -> dict[str, Any]:
    """``data_dir`` / ``data_file`` made absolute: the kernel runs in the output folder, not where the user typed."""
    out = dict(values)
    for name in ("data_dir", "data_file"):
        value = out.get(name)
        if isinstance(value, str) and value and value != "download":
            out[name] = str(Path(value).expanduser().resolve())
    return out


def _tag_for_reader(path: Path) -> None:
    """Hide papermill's injected-parameters cell in the book (a tag that myst-nb honours)."""
    import nbformat

    nb = nbformat.read(path, as_version=4)
    for cell in nb.cells:
        tags = cell.metadata.setdefault("tags", [])
        for tag, reader_tag in _TAGS_FOR_READER.items():
            if tag in tags and reader_tag not in tags:
                tags.append(reader_tag)
    nbformat.write(nb, path)


@contextlib.contextmanager
def _echo_progress(slug: str, start: float) -> Iterator[None]:
    """Print the progress lines a running chapter reports (epochs ...) with the elapsed time."""
    from tqdm import tqdm

    fd, name = tempfile.mkstemp(prefix=f"neurobook-{slug}-", suffix=".progress")
    os.close(fd)
    path = Path(name)
    before = os.environ.get(PROGRESS_FILE_ENV)
    os.environ[PROGRESS_FILE_ENV] = str(path)  # the kernel inherits the runner's environment
    stop = threading.Event()

    def tail() -> None:
        offset = 0
        while True:
            lines, offset = read_new_lines(path, offset)
            for line in lines:
                elapsed = int(time.time() - start)
                tqdm.write(f"[neurobook] {slug} {elapsed // 60}m{elapsed % 60:02d}s  {line}", file=sys.stderr)
            if stop.wait(1.0) and not lines:
                return

    thread = threading.Thread(target=tail, daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join(timeout=5)
        if before is None:
            os.environ.pop(PROGRESS_FILE_ENV, None)
        else:
            os.environ[PROGRESS_FILE_ENV] = before
        path.unlink(missing_ok=True)


def chapter_code() -> list[Path]:
    """The code a chapter runs: every module of ``neurobook`` outside ``pipeline/`` (which only runs chapters)."""
    return sorted(path for path in PACKAGE_DIR.rglob("*.py") if PIPELINE_DIR not in path.parents)


def fingerprint(chapter: Chapter, values: dict[str, Any]) -> str:
    """Hash of everything that decides a chapter's output: its source, parameters, the code it runs, its data.

    ``values`` are the effective parameters (:func:`effective_parameters`), so ``-p profile full`` and the default
    are one run. An edit under ``neurobook/pipeline/`` (the CLI, the book machinery) changes nothing here.
    """
    h = hashlib.sha256()
    h.update(chapter.source.read_bytes())
    h.update(json.dumps(values, sort_keys=True, default=str).encode())
    for path in chapter_code():
        h.update(path.relative_to(PACKAGE_DIR).as_posix().encode())
        h.update(path.read_bytes())
    root = data_dir(values.get("data_dir"))
    user_file = values.get("data_file")
    if user_file:  # the user's own recordings replace the chapter's data set: their bytes decide
        path = Path(str(user_file)).expanduser()
        h.update(f"data_file:{path.resolve()}:".encode())
        if path.is_file():
            h.update(sha256sum(path).encode())
    for name in chapter.datasets:
        h.update(json.dumps(get_dataset(name).checksums, sort_keys=True).encode())
        if root is not None:  # the local copies' sizes and mtimes, so a replaced file counts as a change
            for rel in get_dataset(name).checksums:
                path = root / name / rel
                if path.exists():
                    st = path.stat()
                    h.update(f"{rel}:{st.st_size}:{st.st_mtime_ns}".encode())
    return h.hexdigest()


def effective_parameters(slug: str, values: dict[str, Any]) -> dict[str, Any]:
    """Every declared parameter of the chapter at the value a run with ``values`` uses (defaults filled in)."""
    declared = notebook_parameters(get_chapter(slug).source)
    return {name: parse_value(p["default"]) for name, p in declared.items()} | dict(values)


def is_current(slug: str, values: dict[str, Any], folder: Path) -> bool:
    """Whether ``folder`` holds an executed notebook of ``slug`` whose fingerprint matches ``values``: a run with
    ``values`` into ``folder`` would not execute anything."""
    slug = get_chapter(slug).slug
    executed, stamp = Path(folder) / f"{slug}.ipynb", Path(folder) / f"{slug}.stamp"
    if not (executed.exists() and stamp.exists()):
        return False
    return stamp.read_text() == fingerprint(get_chapter(slug), effective_parameters(slug, absolute_paths(values)))


def is_locked(folder: Path) -> bool:
    """Whether a run or build holds the lock of ``folder`` right now (see :func:`build_lock`)."""
    path = Path(folder) / LOCK_NAME
    if not path.exists():
        return False
    fd = os.open(path, os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    else:
        fcntl.flock(fd, fcntl.LOCK_UN)
        return False
    finally:
        os.close(fd)


def run_chapter(slug: str, parameters: dict[str, Any] | None = None, *, force: bool = False,
                output_dir: Path = GENERATED_DIR, log: bool = True) -> Path:
    """Execute one chapter with papermill into ``output_dir``; skip when nothing it depends on changed.

    Writes ``<slug>.ipynb`` (the executed notebook), ``<slug>.results.json`` (written by the chapter) and
    ``<slug>.stamp`` (the fingerprint that decides whether a rerun is needed). Bad parameters are rejected before
    a kernel starts; a failed or interrupted run keeps the previous executed notebook and stamp. One run or build at
    a time per output folder (:func:`build_lock`).
    """
    chapter = get_chapter(slug)
    values = dict(parameters or {})
    declared = notebook_parameters(chapter.source)
    validate(declared, values, chapter.slug)
    check_run_values(values, chapter.slug)
    values = absolute_paths(values)
    effective = effective_parameters(chapter.slug, values)
    output_dir = Path(output_dir)
    with build_lock(output_dir):
        return _execute(chapter, values, effective, force=force, output_dir=output_dir, log=log)


def _kernel_manager_logging_to(log_path: Path) -> type:
    """A kernel manager whose kernel writes its own stderr to ``log_path`` instead of the terminal.

    The notebook's outputs do not travel this way (they go over the kernel's messaging sockets); what does is the
    kernel's diagnostics, such as the ZMQ traceback it prints when Ctrl-C shuts it down in the middle of a reply.
    """
    from jupyter_client.manager import AsyncKernelManager

    class KernelManagerLoggingToFile(AsyncKernelManager):
        async def _async_launch_kernel(self, kernel_cmd: list[str], **kw: Any) -> None:
            with open(log_path, "ab") as log_file:  # the kernel keeps its own handle once started
                kw["stderr"] = log_file
                await super()._async_launch_kernel(kernel_cmd, **kw)

    return KernelManagerLoggingToFile


def _execute(chapter: Chapter, values: dict[str, Any], effective: dict[str, Any], *, force: bool,
             output_dir: Path, log: bool) -> Path:
    import jupytext
    import papermill as pm

    executed = output_dir / f"{chapter.slug}.ipynb"
    stamp_path = output_dir / f"{chapter.slug}.stamp"
    stamp = fingerprint(chapter, effective)
    if not force and executed.exists() and stamp_path.exists() and stamp_path.read_text() == stamp:
        if log:
            print(f"[neurobook] {chapter.slug}: unchanged, not executed again")
        return executed
    scratch = Path(tempfile.mkdtemp(prefix=f"neurobook-{chapter.slug}-"))  # private: never a shared fixed path
    source_nb = scratch / f"{chapter.slug}.ipynb"
    jupytext.write(read_chapter(chapter.source), source_nb)
    env_before = os.environ.get(RESULTS_DIR_ENV)
    os.environ[RESULTS_DIR_ENV] = str(output_dir)
    start = time.time()
    if log:
        print(f"[neurobook] {chapter.slug}: executing with {values or 'default parameters'}", flush=True)
    partial = executed.with_suffix(".partial.ipynb")
    progress = _echo_progress(chapter.slug, start) if log else contextlib.nullcontext()
    kernel_manager = _kernel_manager_logging_to(output_dir / f"{chapter.slug}.kernel.log")
    try:
        with progress:
            pm.execute_notebook(str(source_nb), str(partial), parameters=values, kernel_name="python3",
                                cwd=str(output_dir), progress_bar={"desc": chapter.slug} if log else False,
                                log_output=False,
                                kernel_manager_class=kernel_manager)
    except pm.PapermillExecutionError as err:
        raise ChapterFailed(
            f"chapter {chapter.slug} failed in cell {err.exec_count} (cell index {err.cell_index}): "
            f"{err.ename}: {str(err.evalue).rstrip('.')}. The partly executed notebook is {partial}"
        ) from None
    except KeyboardInterrupt:
        # the kernel is shut down under nbclient's feet; its dead-kernel poller then logs an unretrieved
        # DeadKernelError through asyncio's logger when the loop is collected. The message below says it all.
        logging.getLogger("asyncio").setLevel(logging.CRITICAL)
        kept = "the previous executed notebook and results are kept" if executed.exists() else "nothing was kept"
        raise ChapterInterrupted(
            f"chapter {chapter.slug} interrupted after {time.time() - start:.0f} s; {kept} "
            f"({executed}); the partly executed notebook, if any, is {partial}"
        ) from None
    finally:
        if env_before is None:
            os.environ.pop(RESULTS_DIR_ENV, None)
        else:
            os.environ[RESULTS_DIR_ENV] = env_before
        shutil.rmtree(scratch, ignore_errors=True)
    _tag_for_reader(partial)
    os.replace(partial, executed)
    stamp_path.write_text(stamp)
    if log:
        print(f"[neurobook] {chapter.slug}: done in {time.time() - start:.0f} s -> {executed}")
    return executed
