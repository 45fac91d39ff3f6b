"""Parameter sweeps on Dask: a 2x2 grid of Chapter 1 on a LocalCluster, reruns, errors, failures, a scheduler."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from neurobook.pipeline import sweep as sw
from neurobook.pipeline.cli import main
from neurobook.pipeline.params import ParameterError

REPO = Path(__file__).resolve().parent.parent
SLUG = "ch01_v1_encoding"
EXPECTED_DEVICE = "cuda" if torch.cuda.is_available() else "cpu"  # points run with device=auto
# Chapter 1 made cheap with its own parameters: few neurons, one epoch, two preferred images
CHEAP = [("profile", "quick"), ("n_neurons", "60"), ("epochs", "1"), ("n_mei", "2"), ("behavior", "false")]


def _no_cluster(*args, **kwargs):
    raise AssertionError("a cluster was started")


@pytest.fixture(scope="module")
def grid_sweep(tmp_path_factory, data_root):
    """The grid seed x readout of Chapter 1 (quick, cheap), 2 seeds x 1 readout so that one round of the
    LocalCluster's 2 processes runs it (the order of a 2-D grid is tested on its expansion above), run once."""
    root = tmp_path_factory.mktemp("sweeps")
    grid, fixed = sw.parse_grid([("seed", "0,1"), ("readout", "gaussian"), *CHEAP])
    sweep = sw.plan("ch01", grid, fixed, output_dir=root)
    rows = sw.run_sweep(sweep, workers=2)
    return sweep, rows


def test_grid_expansion_and_value_splitting():
    grid, fixed = sw.parse_grid([("seed", "0,1,2"), ("readout", "gaussian,factorized"), ("epochs", "3"),
                                 ("layers", "[1,2],[3]")])
    assert grid == {"seed": [0, 1, 2], "readout": ["gaussian", "factorized"], "layers": [[1, 2], [3]]}
    assert fixed == {"epochs": 3}
    points = sw.expand(grid)
    assert len(points) == 12 and len({p.id for p in points}) == 12
    assert points[1].values == {"seed": 0, "readout": "gaussian", "layers": [3]}
    assert sw.sweep_id(SLUG, grid, fixed) == sw.sweep_id(SLUG, dict(grid), dict(fixed))
    with pytest.raises(ParameterError, match="given twice"):
        sw.parse_grid([("seed", "0,1"), ("seed", "2")])
    with pytest.raises(ParameterError, match="repeats a value"):
        sw.parse_grid([("seed", "0,0")])


@pytest.mark.parametrize("args, message, code", [
    (["-p", "readuot", "gaussian,factorized"], "unknown parameter(s) 'readuot'. Valid parameters:", 2),
    (["-p", "n_neurons", "10,lots"], "parameter 'n_neurons' must be int, got 'lots' (str)", 2),
    (["-p", "seed", "0,1", "-p", "profile", "fast"], "profile must be one of ('quick', 'full'), got 'fast'", 2),
    (["-p", "seed", "0,1", "-p", "data_file", "/nope/x.npz"], "data_file '/nope/x.npz' does not exist", 1),
    (["-p", "seed", "0,1", "-p", "data_dir", "/nope"], "the data directory /nope (from the data_dir parameter)", 1),
    (["-p", "seed", "0"], "at least one parameter with several values", 2),
])
def test_parameter_errors_come_before_any_cluster(monkeypatch, tmp_path, capsys, args, message, code):
    monkeypatch.setattr(sw, "open_client", _no_cluster)
    assert main(["sweep", "ch01", *args, "--output-dir", str(tmp_path)]) == code
    assert message in capsys.readouterr().err
    assert not any(tmp_path.iterdir()), "nothing is written for a rejected sweep"


@pytest.mark.slow
def test_seed_sweep_writes_one_result_per_point_and_the_table(grid_sweep):
    sweep, rows = grid_sweep
    assert [r["status"] for r in rows] == ["done"] * 2, [r.get("error") for r in rows]
    for point in sweep.points:
        folder = sweep.directory / point.id
        results = json.loads((folder / f"{SLUG}.results.json").read_text())
        assert results["profile"] == "quick" and results["headline"]["n_neurons"] == 60
        record = json.loads((folder / sw.POINT_NAME).read_text())
        assert record["executed"] and record["worker"].startswith("tcp://") and record["device"] == EXPECTED_DEVICE
        assert record["parameters"]["seed"] == point.values["seed"] and record["parameters"]["readout"] == "gaussian"
        assert (folder / f"{SLUG}.ipynb").exists() and (folder / f"{SLUG}.stamp").exists()
    with open(sweep.directory / sw.TABLE_NAME, newline="") as f:
        table = list(csv.DictReader(f))
    assert [int(r["seed"]) for r in table] == [0, 1]
    assert {r["status"] for r in table} == {"done"}
    assert all(-1 <= float(r["mean_corr_to_avg"]) <= 1 for r in table)
    # the seed changes the neurons and the fit: the points are different runs, not copies
    assert len({r["mean_corr_to_avg"] for r in table}) == 2


@pytest.mark.slow
def test_rerun_executes_nothing_and_status_reports_done(grid_sweep, monkeypatch, capsys):
    sweep, _ = grid_sweep
    before = {p.id: (sweep.directory / p.id / f"{SLUG}.ipynb").stat().st_mtime_ns for p in sweep.points}
    monkeypatch.setattr(sw, "open_client", _no_cluster)
    again = sw.plan("ch01", sweep.grid, sweep.fixed, output_dir=sweep.directory.parent)
    assert again.directory == sweep.directory
    rows = sw.run_sweep(again)
    assert [r["status"] for r in rows] == ["done"] * 2
    assert before == {p.id: (sweep.directory / p.id / f"{SLUG}.ipynb").stat().st_mtime_ns for p in sweep.points}
    assert "0 to run" in capsys.readouterr().out
    assert main(["sweep", "--status", "--output-dir", str(sweep.directory.parent)]) == 0
    assert "2 done" in capsys.readouterr().out


@pytest.mark.slow
def test_sweep_page_has_the_table_and_one_plot_per_headline_number(grid_sweep, tmp_path):
    from neurobook.pipeline.sweep_page import HOW_TO, headline_keys, write_sweep_page

    sweep, rows = grid_sweep
    page = write_sweep_page(tmp_path, sweeps_dir=sweep.directory.parent).read_text()
    assert f"## {SLUG}: seed [0, 1]" in page
    keys = headline_keys(sweep, rows)
    assert "mean_corr_to_avg" in keys and "share_within_10pct_of_limit" in keys
    images = [line for line in page.splitlines() if line.startswith("![")]
    assert len(images) == len(keys)
    for line in images:
        assert (tmp_path / line.split("](")[1].rstrip(")")).exists()
    assert write_sweep_page(tmp_path / "empty", sweeps_dir=tmp_path / "none").read_text() == HOW_TO


@pytest.fixture
def scheduler(tmp_path):
    """A Dask scheduler and two worker processes started by hand (`dask scheduler`, `dask worker`), not a
    LocalCluster object: the path of ``--scheduler`` for an existing cluster."""
    dask = Path(sys.executable).parent / "dask"
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")]))
    info = tmp_path / "scheduler.json"
    procs = [subprocess.Popen([str(dask), "scheduler", "--port", "0", "--dashboard-address", ":0",
                               "--scheduler-file", str(info)], env=env, stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL)]
    try:
        for _ in range(120):
            if info.exists() and info.stat().st_size:
                break
            time.sleep(0.5)
        procs.append(subprocess.Popen([str(dask), "worker", "--scheduler-file", str(info), "--nworkers", "2",
                                       "--nthreads", "1", "--no-dashboard"], env=env,
                                      stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        yield json.loads(info.read_text())["address"]
    finally:
        for proc in reversed(procs):
            proc.terminate()
        for proc in procs:
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()


@pytest.mark.slow
def test_failing_point_on_an_existing_scheduler_reports_and_the_other_finishes(data_root, scheduler, tmp_path,
                                                                              capsys):
    """Chapter 5 on a small user file (its cheapest full run) and on a truncated one, on a scheduler started by
    hand: the good point finishes, the bad one is reported with the loader's message."""
    from neurobook.data import load_cowley2023

    d = load_cowley2023(sessions=["190923"], downsample=7).subsample(neurons=12, train_trials=400, seed=0)
    good_file = tmp_path / "good" / "mine.npz"
    good_file.parent.mkdir()
    np.savez(good_file, images=d.images, responses=d.responses, tiers=d.tiers, image_ids=d.image_ids)
    data = good_file.read_bytes()
    bad = tmp_path / "truncated.npz"
    bad.write_bytes(data[: len(data) // 2])
    cheap = [("profile", "quick"), ("n_invert", "2"), ("prior_steps", "20"), ("noisy_images", "80"),
             ("generations", "3")]
    args = ["sweep", "ch05", "-p", "data_file", f"{good_file},{bad}", *[x for p in cheap for x in ("-p", *p)],
            "--scheduler", scheduler, "--output-dir", str(tmp_path / "sweeps")]
    assert main(args) == 1  # one point failed
    out = capsys.readouterr().out
    assert f"connected to {scheduler}" in out and "dashboard:" in out
    (sweep,) = sw.list_sweeps(tmp_path / "sweeps")
    good, failed = (json.loads((sweep.directory / p.id / sw.POINT_NAME).read_text()) for p in sweep.points)
    assert good["status"] == "done" and good["device"] == EXPECTED_DEVICE and good["worker"].startswith("tcp://")
    assert failed["status"] == "failed"
    error = failed["error"]
    assert error["chapter"] == "ch05_generative" and isinstance(error["cell"], int)
    assert error["type"] == "UserDataError"
    assert "truncated or not an npz" in error["message"] and Path(error["notebook"]).exists()
    assert f"ch05_generative in cell {error['cell']}: UserDataError" in out
    with open(sweep.directory / sw.TABLE_NAME, newline="") as f:
        assert [r["status"] for r in csv.DictReader(f)] == ["done", "failed"]
    assert main(["sweep", "--status", "--output-dir", str(tmp_path / "sweeps")]) == 0
    assert "1 done, 1 failed" in capsys.readouterr().out


DEMO = '''# %% tags=["parameters"]
profile: str = "quick"  # run size
seed: int = 0  # seed
value: int = 1  # what the last cell divides by

# %%
from neurobook.results import save_results

# %%
save_results("zz_demo", profile=profile, device="cpu", data={"name": "none", "kind": "simulated"},
             headline={"x": seed + 1 / value, "label": "text"}, runtime_s=0.0)
'''


@pytest.fixture
def demo_chapter(tmp_path, monkeypatch):
    """A three-cell chapter whose last cell divides by ``value`` (0 fails), registered for this test only."""
    import neurobook.pipeline.chapters as chapters

    notebooks = tmp_path / "notebooks"
    notebooks.mkdir()
    (notebooks / "zz_demo.py").write_text(DEMO)
    monkeypatch.setattr(chapters, "NOTEBOOKS_DIR", notebooks)
    monkeypatch.setitem(chapters.CHAPTERS, "zz_demo", chapters.Chapter("zz_demo", "demo", "-", "-", ()))
    return tmp_path / "sweeps"


def test_demo_sweep_in_process_failure_table_status_rerun_and_page(demo_chapter, monkeypatch, capsys):
    """The whole sweep on a small chapter and an in-process Dask cluster (fast; the monkeypatched chapter is seen
    by the workers): a failing point is recorded with its cell and message, the others finish, a rerun runs only
    the failed point, the page plots the number against the swept value with error bars over seeds."""
    from distributed import Client, LocalCluster

    from neurobook.pipeline.sweep_page import write_sweep_page

    grid, fixed = sw.parse_grid([("value", "1,0"), ("seed", "0,1")])
    sweep = sw.plan("zz_demo", grid, fixed, output_dir=demo_chapter)
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=False, dashboard_address=":0") as cluster, \
            Client(cluster) as client:
        rows = sw.run_sweep(sweep, client=client)
        assert [r["status"] for r in rows] == ["done", "done", "failed", "failed"]
        assert [r["x"] for r in rows[:2]] == [1.0, 2.0]
        failed = json.loads((sweep.directory / sweep.points[2].id / sw.POINT_NAME).read_text())
        error = failed["error"]
        assert error["chapter"] == "zz_demo" and error["type"] == "ZeroDivisionError"
        assert isinstance(error["cell"], int) and "division by zero" in error["message"]
        assert Path(error["notebook"]).name == "zz_demo.partial.ipynb" and Path(error["notebook"]).exists()
        assert "zz_demo in cell" in capsys.readouterr().out
        assert "2 done, 2 failed" in sw.status_text(sweep)
        monkeypatch.setattr(sw, "open_client", _no_cluster)
        sw.run_sweep(sweep, client=client)
        assert "2 unchanged, 2 to run" in capsys.readouterr().out
    page = write_sweep_page(demo_chapter.parent, sweeps_dir=demo_chapter).read_text()
    assert "| 002_value-0_seed-0 | 0 | 0 | failed |" in page and "ZeroDivisionError" in page
    assert page.count("![") == 1 and (sweep.directory / "plot_x.png").exists()  # x: numeric; label: text
