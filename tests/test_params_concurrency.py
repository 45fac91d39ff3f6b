"""Reading a chapter's parameters from many threads and processes at once: none fails, nothing is written beside
the chapter (the old reader wrote ``<chapter>.params.ipynb`` there and deleted it, so concurrent reads raced)."""

from __future__ import annotations

import multiprocessing
from concurrent.futures import ThreadPoolExecutor

import pytest

import neurobook.pipeline.params as params
from neurobook.pipeline.chapters import NOTEBOOKS_DIR, get_chapter

SLUG = "ch01_v1_encoding"


class _NoCache(dict):
    """A cache that keeps nothing, so that every thread really inspects the notebook."""

    def __setitem__(self, key, value) -> None:
        pass


def _read(_: int) -> list[str]:
    return sorted(params.notebook_parameters(get_chapter(SLUG).source))


def test_concurrent_reads_in_threads_all_succeed_and_write_nothing(monkeypatch) -> None:
    before = sorted(p.name for p in NOTEBOOKS_DIR.iterdir())
    monkeypatch.setattr(params, "_declared_cache", _NoCache())
    with ThreadPoolExecutor(max_workers=8) as pool:
        results = list(pool.map(_read, range(16)))
    assert all(r == results[0] for r in results) and "profile" in results[0]
    assert sorted(p.name for p in NOTEBOOKS_DIR.iterdir()) == before


@pytest.mark.parametrize("start", ["fork", "spawn"])
def test_concurrent_reads_in_processes_all_succeed(start: str) -> None:
    before = sorted(p.name for p in NOTEBOOKS_DIR.iterdir())
    with multiprocessing.get_context(start).Pool(4) as pool:
        results = pool.map(_read, range(8))
    assert all(r == results[0] for r in results) and "profile" in results[0]
    assert sorted(p.name for p in NOTEBOOKS_DIR.iterdir()) == before


def test_the_cached_answer_cannot_be_changed_by_a_caller() -> None:
    first = params.notebook_parameters(get_chapter(SLUG).source)
    first["profile"]["default"] = "changed"
    assert params.notebook_parameters(get_chapter(SLUG).source)["profile"]["default"] != "changed"
