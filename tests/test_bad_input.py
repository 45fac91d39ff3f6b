"""The bad-input table of the README, one test per row: a clear message, and nothing half-written.

Each row feeds one kind of bad input to the place a user would (the ``neurobook`` command, ``run_chapter`` or
``load_npz``) and asserts the message that comes back and that the output folder holds nothing new.
"""

from __future__ import annotations

import fcntl
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from neurobook.data import ChecksumError, DataNotFoundError, UserDataError, data_file, load_npz
from neurobook.data.paths import DataDirError
from neurobook.pipeline.cli import main
from neurobook.pipeline.params import ParameterError
from neurobook.pipeline.run import LOCK_NAME, BuildLocked, run_chapter

REPO = Path(__file__).resolve().parents[1]


def _files(folder: Path) -> set[str]:
    return {p.name for p in folder.iterdir() if p.name != LOCK_NAME} if folder.exists() else set()


def _user_npz(path: Path, *, n_test_repeats: int = 3, **override) -> Path:
    """A small valid user file (8x10 images, 5 neurons), with any array replaced by ``override``."""
    rng = np.random.default_rng(0)
    tiers = np.array(["train"] * 30 + ["validation"] * 6 + ["test"] * (4 * n_test_repeats))
    image_ids = np.concatenate([np.arange(36), 100 + np.repeat(np.arange(4), n_test_repeats)])
    arrays = dict(images=rng.normal(size=(len(tiers), 8, 10)).astype(np.float32),
                  responses=rng.poisson(2.0, size=(len(tiers), 5)).astype(np.float32),
                  tiers=tiers, image_ids=image_ids)
    arrays.update(override)
    np.savez(path, **arrays)
    return path


# --- parameters -------------------------------------------------------------------------------------------------

def test_unknown_or_misspelled_parameter(tmp_path, capsys):
    assert main(["run", "ch01", "-p", "readuot", "factorized", "--output-dir", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "unknown parameter(s) 'readuot'" in err and "  readout: str" in err
    assert _files(tmp_path) == set()


def test_wrong_type(tmp_path, capsys):
    assert main(["run", "ch01", "-p", "n_neurons", "lots", "--output-dir", str(tmp_path)]) == 2
    assert "parameter 'n_neurons' must be int, got 'lots'" in capsys.readouterr().err
    assert _files(tmp_path) == set()


def test_wrong_profile(tmp_path, capsys):
    with pytest.raises(SystemExit):  # argparse: --profile has fixed choices
        main(["run", "ch01", "--profile", "fast"])
    assert "invalid choice: 'fast'" in capsys.readouterr().err
    with pytest.raises(ParameterError, match=r"profile must be one of \('quick', 'full'\), got 'fast'"):
        run_chapter("ch01", {"profile": "fast"}, output_dir=tmp_path)
    assert _files(tmp_path) == set()


# --- data ------------------------------------------------------------------------------------------------------

def test_missing_data_directory(tmp_path, capsys):
    missing = tmp_path / "no-such-folder"
    out = tmp_path / "out"
    with pytest.raises(DataDirError, match=r"no-such-folder .*does not exist; name a folder laid out like"):
        run_chapter("ch01", {"profile": "quick", "data_dir": str(missing)}, output_dir=out)
    assert _files(out) == set()
    assert main(["run", "ch01", "-p", "data_dir", str(missing), "--output-dir", str(out)]) == 1
    assert "does not exist" in capsys.readouterr().err


def test_missing_file(tmp_path):
    with pytest.raises(DataNotFoundError, match=r"missing file 'static20457-5-9-preproc0.npz'; looked at"):
        data_file("lurz2020_mouse_v1", "static20457-5-9-preproc0.npz", tmp_path)
    out = tmp_path / "out"
    with pytest.raises(DataNotFoundError, match=r"data_file 'nope.npz' does not exist"):
        run_chapter("ch01", {"profile": "quick", "data_file": "nope.npz"}, output_dir=out)
    assert _files(out) == set()


def test_missing_data_directory_from_the_environment(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("NEUROBOOK_DATA_DIR", str(tmp_path / "nope"))
    out = tmp_path / "out"
    assert main(["run", "ch01", "--profile", "quick", "--output-dir", str(out)]) == 1
    err = capsys.readouterr().err
    assert "nope" in err and "NEUROBOOK_DATA_DIR" in err and "does not exist" in err
    assert _files(out) == set()


def test_data_directory_order(tmp_path, monkeypatch):
    """The parameter, then $NEUROBOOK_DATA_DIR, then data/ in the checkout, then ../shared/data; else downloads."""
    import neurobook.data.paths as config

    first, second, param, env = (tmp_path / n for n in ("data", "shared", "param", "env"))
    for folder in (first, second, param, env):
        folder.mkdir()
    monkeypatch.setattr(config, "default_data_dirs", lambda: (first, second))
    monkeypatch.setenv("NEUROBOOK_DATA_DIR", str(env))
    assert config.data_dir(str(param)) == param and "data_dir parameter" in config.describe_data_dir(str(param))
    assert config.data_dir() == env and "$NEUROBOOK_DATA_DIR" in config.describe_data_dir()
    monkeypatch.delenv("NEUROBOOK_DATA_DIR")
    assert config.data_dir() == first and "found automatically" in config.describe_data_dir()
    first.rmdir()
    assert config.data_dir() == second
    second.rmdir()
    assert config.data_dir() is None and "downloads go to" in config.describe_data_dir()
    monkeypatch.setenv("NEUROBOOK_DATA_DIR", "download")
    monkeypatch.setattr(config, "default_data_dirs", lambda: (param,))
    assert config.data_dir() is None


def test_corrupt_file(tmp_path, data_root):
    folder = tmp_path / "kodak24"
    folder.mkdir()
    name = sorted(p.name for p in (data_root / "kodak24").iterdir() if p.suffix == ".png")[0]
    blob = bytearray((data_root / "kodak24" / name).read_bytes())
    blob[100] ^= 0xFF
    (folder / name).write_bytes(bytes(blob))
    with pytest.raises(ChecksumError, match=r"corrupt or a different version .*Delete it and download it again"):
        data_file("kodak24", name, tmp_path)


def test_truncated_npz(tmp_path):
    good = _user_npz(tmp_path / "good.npz")
    cut = tmp_path / "cut.npz"
    cut.write_bytes(good.read_bytes()[: good.stat().st_size // 2])
    with pytest.raises(UserDataError, match=r"could not be read as an npz .*truncated or not an npz"):
        load_npz(cut)


def test_the_v1_chapters_take_a_user_file_in_place_of_lurz2020(tmp_path):
    from neurobook.data.mouse_v1 import load_v1_recordings

    path = _user_npz(tmp_path / "mine.npz")
    data, line = load_v1_recordings(path, downsample=4)  # a user's file keeps its own resolution
    assert data.image_shape == (8, 10) and data.n_neurons == 5 and f"from `{path}`" in line
    with pytest.raises(DataNotFoundError, match="no data file at"):
        load_v1_recordings(tmp_path / "absent.npz")


def test_wrong_shape_user_data(tmp_path):
    path = _user_npz(tmp_path / "u.npz", responses=np.ones((5, 3), np.float32))
    with pytest.raises(UserDataError, match="responses has 5 trials but images has 48"):
        load_npz(path)
    path = _user_npz(tmp_path / "v.npz", images=np.ones((48, 8), np.float32))
    with pytest.raises(UserDataError, match=r"images must be \(n_trials, height, width\); got shape \(48, 8\)"):
        load_npz(path)
    path = _user_npz(tmp_path / "w.npz", tiers=np.array(["train"] * 48))
    with pytest.raises(UserDataError, match=r"tiers must use each of .*absent \['validation', 'test'\]"):
        load_npz(path)


def test_nan_responses(tmp_path):
    responses = np.ones((48, 5), np.float32)
    responses[3, 2] = np.nan
    with pytest.raises(UserDataError, match="responses holds 1 NaN or infinite value"):
        load_npz(_user_npz(tmp_path / "n.npz", responses=responses))


def test_user_data_without_repeats(tmp_path):
    with pytest.raises(UserDataError, match=r"no repeated images .*noise ceiling needs repeats"):
        load_npz(_user_npz(tmp_path / "r.npz", n_test_repeats=1))


def test_valid_user_data_loads(tmp_path):
    data = load_npz(_user_npz(tmp_path / "ok.npz"))
    assert data.n_neurons == 5 and data.image_shape == (8, 10) and data.name == "ok.npz"
    assert (data.tiers == "test").sum() == 12 and list(data.neuron_ids) == [0, 1, 2, 3, 4]


def test_user_cortical_coordinates_load_and_are_checked(tmp_path):
    xyz = np.arange(15, dtype=np.float64).reshape(5, 3)
    data = load_npz(_user_npz(tmp_path / "xyz.npz", neuron_xyz=xyz))
    np.testing.assert_array_equal(data.meta["neuron_xyz"], xyz)
    np.testing.assert_array_equal(data.select_neurons(np.array([1, 3])).meta["neuron_xyz"], xyz[[1, 3]])
    with pytest.raises(UserDataError, match=r"neuron_xyz must be \(n_neurons=5, 2 or 3\)"):
        load_npz(_user_npz(tmp_path / "bad.npz", neuron_xyz=xyz[:4]))


def test_relative_data_file_reaches_the_kernel_as_an_absolute_path(tmp_path, monkeypatch):
    """The kernel runs in the output folder, so `-p data_file mine.npz` typed in the checkout must be made absolute."""
    import neurobook.pipeline.run as book

    _user_npz(tmp_path / "mine.npz")
    monkeypatch.chdir(tmp_path)
    seen = {}
    monkeypatch.setattr(book, "_execute", lambda chapter, values, effective, **kw: seen.update(values) or tmp_path)
    run_chapter("ch01", {"profile": "quick", "data_file": "mine.npz"}, output_dir=tmp_path / "out")
    assert seen["data_file"] == str(tmp_path / "mine.npz")
    from neurobook.pipeline.sweep import plan

    sweep = plan("ch01", {"seed": [0, 1]}, {"data_file": "mine.npz"}, output_dir=tmp_path / "sweeps")
    assert sweep.fixed["data_file"] == str(tmp_path / "mine.npz")


# --- the machine -----------------------------------------------------------------------------------------------

@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has a GPU")
def test_cuda_without_gpu(tmp_path, capsys):
    assert main(["run", "ch01", "-p", "device", "cuda", "--output-dir", str(tmp_path)]) == 2
    assert "device='cuda' was asked for but this machine has no CUDA GPU; use device='auto'" in \
        capsys.readouterr().err
    assert _files(tmp_path) == set()


def test_two_builds_at_once(tmp_path):
    """A second run into the same folder is refused while the first holds the lock; the folder is untouched."""
    (tmp_path / "ch01_v1_encoding.ipynb").write_text("previous")
    fd = os.open(tmp_path / LOCK_NAME, os.O_RDWR | os.O_CREAT)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        os.write(fd, b"4242")
        with pytest.raises(BuildLocked, match=r"another neurobook run or build is using .*\(pid 4242\)"):
            run_chapter("ch01", {"profile": "quick"}, force=True, output_dir=tmp_path)
    finally:
        os.close(fd)
    assert _files(tmp_path) == {"ch01_v1_encoding.ipynb"}
    assert (tmp_path / "ch01_v1_encoding.ipynb").read_text() == "previous"


@pytest.mark.slow
def test_interrupted_chapter_keeps_previous_output(tmp_path, data_root):
    """Ctrl-C during a run: exit 130 with a message; the previous notebook, stamp and results stay as they were."""
    previous = {"ch01_v1_encoding.ipynb": "previous notebook", "ch01_v1_encoding.stamp": "previous stamp",
                "ch01_v1_encoding.results.json": "previous results"}
    for name, text in previous.items():
        (tmp_path / name).write_text(text)
    cmd = [sys.executable, "-m", "neurobook.pipeline.cli", "run", "ch01", "--profile", "quick", "--force",
           "--output-dir", str(tmp_path)]
    # a job started in the background by a non-interactive shell inherits SIGINT ignored, and Python then never
    # raises KeyboardInterrupt: give the child the default disposition, as a terminal's foreground job has
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=REPO,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    partial = tmp_path / "ch01_v1_encoding.partial.ipynb"
    deadline = time.time() + 120
    while not partial.exists() and time.time() < deadline and proc.poll() is None:
        time.sleep(0.2)
    assert partial.exists(), "the chapter never started executing"
    time.sleep(3)  # inside a cell by now
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err[-2000:]
    assert "chapter ch01_v1_encoding interrupted after" in err and "previous executed notebook and results are kept" \
        in err
    assert "Traceback" not in err
    for name, text in previous.items():
        assert (tmp_path / name).read_text() == text
    assert not (tmp_path / "ch01_v1_encoding.source.ipynb").exists()
