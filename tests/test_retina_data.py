"""Retina loaders: Liu 2017 stimulus regeneration and crop cache, Chichilnisky parasol cells."""

from __future__ import annotations

import numpy as np
import pytest

from neurobook.data import liu2017
from neurobook.data.chichilnisky import load_chichilnisky


def _have(name: str, rel: str) -> bool:
    try:
        from neurobook.data.fetch import data_file

        data_file(name, rel, verify=False)
        return True
    except Exception:  # noqa: BLE001  (missing, corrupt or not downloadable here: the test is skipped)
        return False


needs_liu = pytest.mark.skipif(not _have(liu2017.NAME, "stim_frz.h5"), reason="Liu 2017 data not available")
needs_chichilnisky = pytest.mark.skipif(not _have("chichilnisky_primate_rgc", "Stim.mat"),
                                        reason="Chichilnisky data not available")


@needs_liu
def test_regenerated_frozen_frames_match_stim_frz():
    frames = liu2017.check_frozen(n_frames=5)  # raises if any value differs from stim_frz.h5
    assert frames.shape == (5, 150, 200) and frames.dtype == np.int8
    assert set(np.unique(frames)) == {-1, 1}


def test_crop_cache_roundtrip_and_corruption(tmp_path):
    crops = np.where(np.random.default_rng(0).random((2, 30, 16, 16)) > 0.5, 1, -1).astype(np.int8)
    path = tmp_path / "trial_000.npz"
    liu2017._save_crop(path, crops)
    assert np.array_equal(liu2017._load_crop(path, crops.shape), crops)
    assert not list(tmp_path.glob("*.tmp"))  # written atomically, no temp file left
    raw = bytearray(path.read_bytes())
    raw[len(raw) // 2] ^= 0xFF  # flip a byte in the middle: detected (checksum or zip error), so it gets rebuilt
    path.write_bytes(bytes(raw))
    assert liu2017._load_crop(path, crops.shape) is None
    path.write_bytes(b"truncated")
    assert liu2017._load_crop(path, crops.shape) is None
    assert liu2017._load_crop(tmp_path / "missing.npz", crops.shape) is None


@needs_liu
def test_load_liu2017_rebuilds_a_corrupt_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("NEUROBOOK_CACHE_DIR", str(tmp_path))
    first = liu2017.load_liu2017(cells=[3], n_trials=2, sta_trials=1, window=12, progress=False)[0]
    root = tmp_path / liu2017.NAME / "crops"
    sta_path = next(root.glob("sta_*.npz"))
    trials = sorted((root / first.meta["cache_key"]).glob("trial_*.npz"))
    assert len(trials) == 2 and not list(root.rglob("*.tmp"))
    # corrupt the second trial's crops and the STA file: both are detected and rebuilt, the first trial is reused
    trials[1].write_bytes(trials[1].read_bytes()[:-40])
    raw = bytearray(sta_path.read_bytes())
    raw[len(raw) // 2] ^= 0xFF
    sta_path.write_bytes(bytes(raw))
    assert liu2017._load_sta(sta_path) is None
    second = liu2017.load_liu2017(cells=[3], n_trials=2, sta_trials=1, window=12, progress=False)[0]
    assert liu2017._load_sta(sta_path) is not None
    assert liu2017._load_crop(trials[1], (1, liu2017.TRIAL_FRAMES, 12, 12)) is not None
    assert second.meta["window"] == first.meta["window"]
    for a, b in zip(first.frames, second.frames, strict=True):
        assert np.array_equal(a, b)
    np.testing.assert_array_equal(second.meta["sta_map"], first.meta["sta_map"])
    # a cached run reads the files without rewriting them
    stamps = [p.stat().st_mtime_ns for p in [sta_path, *trials]]
    third = liu2017.load_liu2017(cells=[3], n_trials=2, sta_trials=1, window=12, progress=False)[0]
    assert [p.stat().st_mtime_ns for p in [sta_path, *trials]] == stamps
    assert np.array_equal(third.frames[1], first.frames[1])


def test_bad_cells_and_windows_get_clear_errors():
    with pytest.raises(ValueError, match=r"0..77"):
        liu2017.load_liu2017(cells=[80])
    with pytest.raises(ValueError, match="repeat"):
        liu2017.load_liu2017(cells=[1, 1])
    with pytest.raises(ValueError, match="window"):
        liu2017.load_liu2017(cells=[0], window=400)
    with pytest.raises(ValueError, match="n_trials"):
        liu2017.load_liu2017(cells=[0], n_trials=1)
    corners = liu2017._windows(np.array([[0.0, 199.0], [75.0, 100.0]]), 16)
    assert corners.tolist() == [[0, 184], [68, 92]]  # windows are kept inside the 150 x 200 frame


@needs_chichilnisky
def test_chichilnisky_parasol_polarity():
    rec = load_chichilnisky(n_trials=10)
    assert rec.n_cells == 4 and rec.frame_shape == (1, 1) and 115 < rec.frame_rate < 125
    sta = rec.spike_triggered_average(20)[:, :, 0, 0]
    peak = sta[np.arange(4), np.abs(sta).argmax(1)]
    assert np.array_equal(np.sign(peak), [-1, -1, 1, 1])  # cells 1-2 OFF, 3-4 ON
    with pytest.raises(ValueError, match="n_trials"):
        load_chichilnisky(n_trials=2)
