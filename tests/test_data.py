"""Data layer: real shapes, checksums, missing files, and atomic downloads from a local HTTP server."""

from __future__ import annotations

import http.server
import shutil
import threading
from pathlib import Path

import numpy as np
import pytest

from neurobook.data import ChecksumError, DataNotFoundError, data_file, load_lurz2020, verify
from neurobook.data.fetch import download, sha256sum
from neurobook.data.registry import DATASETS, get_dataset


def test_registry_lists_every_shared_data_set(data_root):
    on_disk = {p.name for p in data_root.iterdir() if p.is_dir()}
    assert on_disk <= set(DATASETS), f"data sets without a registry entry: {on_disk - set(DATASETS)}"
    for d in DATASETS.values():
        assert d.checksums, f"{d.name} has no manifest"
        assert d.license and d.source.homepage and d.citation


@pytest.mark.parametrize("name", sorted(DATASETS))
def test_every_real_data_set_verifies(data_root, name):
    status = verify(name, data_root)
    assert set(status.values()) == {"ok"}, {k: v for k, v in status.items() if v != "ok"}


def test_lurz2020_shapes_and_tiers(data_root):
    d = load_lurz2020(data_root)
    assert d.images.shape == (5993, 36, 64) and d.images.dtype == np.float32
    assert d.responses.shape == (5993, 5335)
    counts = {t: int((d.tiers == t).sum()) for t in ("train", "validation", "test")}
    assert counts == {"train": 4472, "validation": 522, "test": 999}
    test_ids, reps = d.tier("test").repeats()
    assert len(test_ids) == 100 and min(len(r) for r in reps) >= 9
    small = load_lurz2020(data_root, downsample=2)
    assert small.images.shape == (5993, 18, 32)
    np.testing.assert_allclose(small.images[0, 0, 0], d.images[0, :2, :2].mean(), rtol=1e-5)


def test_lurz2020_bad_downsample_is_explained(data_root):
    with pytest.raises(ValueError, match="downsample must be a positive int"):
        load_lurz2020(data_root, downsample=3)


def test_other_data_sets_have_documented_shapes(data_root):
    import scipy.io

    stim = scipy.io.loadmat(data_root / "chichilnisky_primate_rgc" / "Stim.mat")["Stim"]
    assert stim.shape == (144051, 1)
    ns = data_root / "allen_bo_2p_natural_scenes"
    assert np.load(ns / "all_input_scenes_118_961.npy").shape == (118, 961)
    assert np.load(ns / "Allen_train_output.npy").shape == (100, 212)
    v4 = np.load(data_root / "cowley2023_macaque_v4" / "responses_raw" / "responses_210325.npy")
    assert v4.shape == (50, 640, 10)
    sessions = sorted((data_root / "allen_neuropixels_gabor_58mice" / "v1_hva").iterdir())
    assert len(sessions) == 58
    with np.load(sessions[0] / "gabor_spike_counts.npz") as z:
        assert z["counts"].ndim == 2 and z["counts"].shape[0] == z["unit_ids"].shape[0]
        assert z["counts"].shape[1] in (3596, 3645)
    from PIL import Image

    assert Image.open(data_root / "kodak24" / "kodim01.png").size == (500, 500)


@pytest.fixture
def small_copy(tmp_path, data_root) -> Path:
    """A private copy of a small data set, safe to damage."""
    shutil.copytree(data_root / "chichilnisky_primate_rgc", tmp_path / "chichilnisky_primate_rgc")
    return tmp_path


def test_checksum_mismatch_is_reported(small_copy):
    path = small_copy / "chichilnisky_primate_rgc" / "Stim.mat"
    path.chmod(0o644)
    data = bytearray(path.read_bytes())
    data[-1] ^= 0xFF
    path.write_bytes(bytes(data))
    with pytest.raises(ChecksumError, match=r"sha256 mismatch.*download it again"):
        data_file("chichilnisky_primate_rgc", "Stim.mat", small_copy)
    assert verify("chichilnisky_primate_rgc", small_copy)["Stim.mat"] == "checksum mismatch"


def test_missing_file_says_where_and_how(tmp_path):
    with pytest.raises(DataNotFoundError) as err:
        data_file("lurz2020_mouse_v1", "static20457-5-9-preproc0.npz", tmp_path)
    message = str(err.value)
    assert str(tmp_path) in message and "gin.g-node.org" in message and "NEUROBOOK_DATA_DIR" in message


def test_unknown_data_set_lists_known_ones():
    with pytest.raises(KeyError, match=r"known data sets: .*lurz2020_mouse_v1"):
        get_dataset("lurz2021")


class _Handler(http.server.BaseHTTPRequestHandler):
    payload = b"x" * 100_000

    def do_GET(self):  # http.server's name
        self.send_response(200)
        self.send_header("Content-Length", str(len(self.payload)))
        self.end_headers()
        if self.path.startswith("/broken"):
            self.wfile.write(self.payload[:1000])  # then hang up: an interrupted download
            self.wfile.flush()
            self.connection.close()
        else:
            self.wfile.write(self.payload)

    def log_message(self, *args):
        pass


@pytest.fixture
def server():
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()


def test_download_verifies_and_lands_atomically(server, tmp_path):
    import hashlib

    digest = hashlib.sha256(_Handler.payload).hexdigest()
    path = download(f"{server}/good.bin", tmp_path / "good.bin", digest, progress=False)
    assert sha256sum(path) == digest


def test_interrupted_download_leaves_no_file(server, tmp_path):
    with pytest.raises(ConnectionError, match="nothing was saved"):
        download(f"{server}/broken.bin", tmp_path / "broken.bin", None, progress=False)
    assert list(tmp_path.iterdir()) == []


def test_wrong_checksum_download_leaves_no_file(server, tmp_path):
    with pytest.raises(ChecksumError, match="checksum"):
        download(f"{server}/good.bin", tmp_path / "bad.bin", "0" * 64, progress=False)
    assert list(tmp_path.iterdir()) == []


def test_selection_slices_per_trial_and_per_neuron_meta():
    from neurobook.data.types import StimulusResponseData

    d = StimulusResponseData(np.zeros((6, 2, 3)), np.arange(24).reshape(6, 4), ["train"] * 3 + ["test"] * 3,
                             [0, 1, 2, 3, 3, 3], [10, 11, 12, 13],
                             meta={"rate": np.arange(6), "xyz": np.arange(4), "species": "mouse"})
    test = d.tier("test").select_neurons([1, 3])
    assert test.meta["rate"].tolist() == [3, 4, 5] and test.meta["xyz"].tolist() == [1, 3]
    assert test.responses.tolist() == [[13, 15], [17, 19], [21, 23]] and test.meta["species"] == "mouse"
    with pytest.raises(ValueError, match="responses must be"):
        StimulusResponseData(np.zeros((6, 2, 3)), np.zeros((5, 4)), ["train"] * 6, range(6), range(4))


def _toy_data(n_neurons: int = 5):
    from neurobook.data.types import StimulusResponseData

    tiers = ["train"] * 8 + ["validation"] * 2 + ["test"] * 3
    return StimulusResponseData(np.zeros((13, 2, 3)), np.arange(13 * n_neurons).reshape(13, n_neurons), tiers,
                                range(13), np.arange(n_neurons) + 100, meta={"rate": np.arange(13)})


def test_subsample_draws_neurons_then_train_trials_like_the_chapters_did():
    d = _toy_data()
    sub = d.subsample(neurons=3, train_trials=5, seed=7)
    rng = np.random.default_rng(7)  # the chapters' hand-rolled version of the same draw
    keep = np.sort(rng.choice(5, size=3, replace=False))
    drop = rng.choice(np.arange(8), size=3, replace=False)
    assert sub.neuron_ids.tolist() == (keep + 100).tolist()
    assert sub.meta["rate"].tolist() == [t for t in range(13) if t not in drop]
    assert (sub.tiers == "train").sum() == 5 and (sub.tiers != "train").sum() == 5  # validation and test all kept
    assert np.array_equal(sub.responses, d.responses[np.isin(np.arange(13), drop, invert=True)][:, keep])
    assert sub.neuron_ids.tolist() == d.subsample(neurons=3, seed=7).neuron_ids.tolist()  # same seed, same neurons


def test_subsample_keeps_everything_when_asked_for_more_or_nothing():
    d = _toy_data()
    assert d.subsample().responses.tolist() == d.responses.tolist()
    big = d.subsample(neurons=50, train_trials=50)
    assert big.n_neurons == 5 and len(big.tiers) == 13
    for bad in (dict(neurons=0), dict(train_trials=-1), dict(neurons=2.5), dict(neurons=True)):
        with pytest.raises(ValueError, match="positive int"):
            d.subsample(**bad)
