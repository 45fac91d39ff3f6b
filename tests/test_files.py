"""neurobook.files: atomic writes through a private temporary file beside the target."""

from __future__ import annotations

import json
import threading
from pathlib import Path

import numpy as np
import pytest

from neurobook.files import atomic_path, write_bytes, write_json, write_text


def test_atomic_path_replaces_the_target_on_success(tmp_path: Path):
    target = tmp_path / "page.md"
    target.write_text("old")
    with atomic_path(target) as tmp:
        assert tmp.parent == tmp_path and tmp != target
        tmp.write_text("new")
        assert target.read_text() == "old"  # nothing visible until the block ends
    assert target.read_text() == "new"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["page.md"]


def test_atomic_path_makes_the_folder(tmp_path: Path):
    target = tmp_path / "a" / "b" / "x.txt"
    with atomic_path(target) as tmp:
        tmp.write_text("hi")
    assert target.read_text() == "hi"


def test_an_error_keeps_the_old_content_and_leaves_no_temporary_file(tmp_path: Path):
    target = tmp_path / "table.csv"
    target.write_text("old")
    with pytest.raises(RuntimeError, match="half way"), atomic_path(target) as tmp:
        tmp.write_text("half")
        raise RuntimeError("half way")
    assert target.read_text() == "old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["table.csv"]


def test_an_error_before_any_target_leaves_nothing(tmp_path: Path):
    with pytest.raises(KeyboardInterrupt), atomic_path(tmp_path / "x.json"):
        raise KeyboardInterrupt
    assert list(tmp_path.iterdir()) == []


def test_two_concurrent_writers_never_share_a_temporary_name(tmp_path: Path):
    target = tmp_path / "results.json"
    contents = {"a": "a" * 2_000_000, "b": "b" * 2_000_000}
    names: dict[str, Path] = {}
    both_inside = threading.Barrier(2, timeout=30)
    errors: list[BaseException] = []

    def writer(key: str) -> None:
        try:
            with atomic_path(target) as tmp:
                names[key] = tmp
                both_inside.wait()  # both hold their temporary file at the same time
                with open(tmp, "w") as f:
                    for i in range(0, len(contents[key]), 100_000):
                        f.write(contents[key][i:i + 100_000])
        except BaseException as err:  # noqa: BLE001 - reported by the main thread
            errors.append(err)

    threads = [threading.Thread(target=writer, args=(k,)) for k in contents]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert names["a"] != names["b"]
    assert target.read_text() in contents.values()  # one writer's whole content, never a mix
    assert sorted(p.name for p in tmp_path.iterdir()) == ["results.json"]


def test_the_temporary_name_keeps_the_suffix_for_numpy(tmp_path: Path):
    arr = np.arange(12).reshape(3, 4)
    target = tmp_path / "arr.npy"
    with atomic_path(target) as tmp:
        assert tmp.suffix == ".npy"
        np.save(tmp, arr)  # numpy would append ".npy" to a name without it
    np.testing.assert_array_equal(np.load(target), arr)
    archive = tmp_path / "arrays.npz"
    with atomic_path(archive) as tmp:
        np.savez(tmp, x=arr)
    with np.load(archive) as z:
        np.testing.assert_array_equal(z["x"], arr)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["arr.npy", "arrays.npz"]


def test_write_helpers(tmp_path: Path):
    assert write_text(tmp_path / "t.md", "± text").read_text() == "± text"
    assert write_bytes(tmp_path / "b.bin", b"\x00\x01").read_bytes() == b"\x00\x01"
    path = write_json(tmp_path / "r.json", {"b": 1, "a": [1, 2]}, sort_keys=True)
    assert path.read_text() == json.dumps({"a": [1, 2], "b": 1}, indent=2)
    assert json.loads(write_json(tmp_path / "d.json", {"p": tmp_path}, default=str).read_text()) == {"p": str(tmp_path)}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["b.bin", "d.json", "r.json", "t.md"]
