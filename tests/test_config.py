"""The chapter preamble: profile, device, seed and settings in one call."""

import numpy as np
import pytest
import torch

import neurobook as nb

SIZES = dict(quick=dict(n=2, epochs=3), cpu=dict(n=20, epochs=30), gpu=dict(n=200, epochs=300))


def test_quick_profile_takes_quick_settings_and_overrides_replace_them():
    run = nb.start_chapter("quick", "cpu", 3, **SIZES, overrides=dict(n=0, epochs=7))
    assert run.profile.name == "quick" and run.device == torch.device("cpu") and run.seed == 3
    assert run.settings == dict(n=2, epochs=7)  # 0 keeps the profile's choice, 7 replaces it
    assert SIZES["quick"] == dict(n=2, epochs=3)  # the chapter's table is not modified
    assert "profile `quick` on `cpu`" in run.describe() and "epochs=7" in run.describe()
    assert run.describe("; extra").endswith("; extra")
    assert 0 <= run.elapsed() < 60


def test_full_profile_on_cpu_takes_cpu_settings():
    assert nb.start_chapter("full", "cpu", 0, **SIZES).settings == SIZES["cpu"]


def test_start_seeds_everything():
    nb.start_chapter("quick", "cpu", 5, **SIZES)
    first = (np.random.rand(), torch.rand(1).item())
    nb.start_chapter("quick", "cpu", 5, **SIZES)
    assert (np.random.rand(), torch.rand(1).item()) == first


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        (dict(profile="fast"), ValueError, "profile must be one of"),
        (dict(device="tpu"), ValueError, "device must be"),
        (dict(seed="0"), TypeError, "seed must be an int"),
        (dict(overrides=dict(n_epochs=3)), KeyError, "not one of this chapter's settings"),
        (dict(overrides=dict(n=-1)), ValueError, "n must be >= 0"),
    ],
)
def test_bad_run_parameters_are_named(kwargs, error, message):
    args = dict(profile="quick", device="cpu", seed=0) | kwargs
    overrides = args.pop("overrides", None)
    with pytest.raises(error, match=message):
        nb.start_chapter(args["profile"], args["device"], args["seed"], **SIZES, overrides=overrides)


def test_resolve_device_takes_a_torch_device_and_still_rejects_bad_names():
    assert nb.resolve_device(torch.device("cpu")) == torch.device("cpu")
    assert nb.resolve_device("cpu") == torch.device("cpu")
    run = nb.start_chapter("quick", torch.device("cpu"), 0, **SIZES)
    assert nb.resolve_device(run.device) == run.device  # a chapter passes its device on as it is
    for bad in ("tpu", "CPU", "", "gpu"):
        with pytest.raises(ValueError, match="device must be"):
            nb.resolve_device(bad)
    with pytest.raises(ValueError, match="cpu or cuda device"):
        nb.resolve_device(torch.device("meta"))
    with pytest.raises(TypeError, match=r"torch\.device"):
        nb.resolve_device(0)  # type: ignore[arg-type]
    if not torch.cuda.is_available():
        with pytest.raises(RuntimeError, match="no CUDA GPU"):
            nb.resolve_device(torch.device("cuda"))


def test_chapter_run_saves_results_with_its_profile_device_and_runtime(tmp_path):
    from neurobook.results import load_results

    run = nb.start_chapter("quick", "cpu", 0, **SIZES)
    data = {"name": "none", "kind": "simulated", "description": "test"}
    path = run.save_results("zz_demo", data=data, headline={"x": np.float32(0.5)}, directory=tmp_path)
    record = load_results(path)
    assert path == tmp_path / "zz_demo.results.json"
    assert (record["chapter"], record["profile"], record["device"]) == ("zz_demo", "quick", "cpu")
    assert record["headline"] == {"x": 0.5} and record["data"] == data
    assert 0 <= record["runtime_s"] <= run.elapsed() + 0.1
    record = load_results(run.save_results("zz_demo", data=data, headline={}, runtime_s=12.34, directory=tmp_path))
    assert record["runtime_s"] == 12.3  # a chapter's own timer, rounded like every runtime
