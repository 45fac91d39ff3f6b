"""The allensdk path, offline: a small in-memory session built through allensdk's own session classes."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

pytest.importorskip("allensdk")

from allensdk.brain_observatory.ecephys.ecephys_session import EcephysSession
from allensdk.brain_observatory.ecephys.ecephys_session_api import EcephysSessionApi

from neurobook.data import allen_ecephys, allen_gabor

SESSION_ID = 777
UNITS = [11, 12, 13]  # 11 VISp good, 12 VISl good, 13 CA1 (not visual cortex)
REPEATS = 3
POSITIONS = [(-40.0, 0.0), (40.0, 10.0)]
ORIENT = [0.0, 90.0]


def _presentations() -> pd.DataFrame:
    rows, t = [], 10.0
    for r in range(REPEATS):
        for (x, y) in POSITIONS:
            for o in (ORIENT if r % 2 == 0 else ORIENT[::-1]):  # the order differs between repeats
                rows.append({"start_time": t, "stop_time": t + 0.25, "stimulus_name": "gabors", "stimulus_block": 0,
                             "stimulus_index": 0, "x_position": x, "y_position": y, "orientation": o,
                             "contrast": 0.8, "size": "[20.0, 20.0]", "phase": "[3644.93, 3644.93]",
                             "spatial_frequency": "0.08", "temporal_frequency": 4.0})
                t += 0.25
    return pd.DataFrame(rows, index=pd.Index(np.arange(len(rows)), name="id"))


def _spikes(pres: pd.DataFrame) -> dict[int, np.ndarray]:
    """Unit 11 fires (1 + condition index) spikes early in each presentation; 12 fires 2 on 90 deg; 13 fires 5."""
    out = {u: [] for u in UNITS}
    for _, row in pres.iterrows():
        cond = POSITIONS.index((row.x_position, row.y_position)) * 2 + ORIENT.index(row.orientation)
        out[11] += list(row.start_time + 0.01 + 0.01 * np.arange(cond + 1))
        out[12] += list(row.start_time + np.array([0.05, 0.1])) if row.orientation == 90.0 else []
        out[12] += [row.start_time + 0.249 + 1e-4]  # just outside the 0.249 s window: never counted
        out[13] += list(row.start_time + 0.02 * np.arange(1, 6))
    return {u: np.sort(np.array(v)) for u, v in out.items()}


class FakeApi(EcephysSessionApi):
    def __init__(self):
        self.pres = _presentations()

    def get_ecephys_session_id(self) -> int:
        return SESSION_ID

    def get_units(self) -> pd.DataFrame:
        return pd.DataFrame({"peak_channel_id": [1, 2, 3], "snr": [3.0, 2.0, 4.0], "isi_violations": [0.1, 0.2, 0.1],
                             "amplitude_cutoff": [0.01, 0.05, 0.01], "presence_ratio": [0.99, 0.95, 0.99],
                             "firing_rate": [5.0, 3.0, 8.0], "local_index": [0, 1, 2], "quality": "good"},
                            index=pd.Index(UNITS, name="id"))

    def get_channels(self) -> pd.DataFrame:
        return pd.DataFrame({"probe_id": [100, 100, 100], "ecephys_structure_acronym": ["VISp", "VISl", "CA1"],
                             "probe_vertical_position": [20, 40, 60], "probe_horizontal_position": [11, 27, 11],
                             "local_index": [0, 1, 2]}, index=pd.Index([1, 2, 3], name="id"))

    def get_probes(self) -> pd.DataFrame:
        return pd.DataFrame({"description": ["probeA"], "sampling_rate": [30000.0], "lfp_sampling_rate": [2500.0],
                             "has_lfp_data": [False]}, index=pd.Index([100], name="id"))

    def get_stimulus_presentations(self) -> pd.DataFrame:
        return self.pres.copy()

    def get_invalid_times(self) -> pd.DataFrame:
        return pd.DataFrame({"start_time": [], "stop_time": [], "tags": []})

    def get_spike_times(self) -> dict[int, np.ndarray]:
        return _spikes(self.pres)


@pytest.fixture()
def session():
    return EcephysSession(api=FakeApi())


def test_presentationwise_counts_through_allensdk(session):
    counts = session.presentationwise_spike_counts(bin_edges=np.array([0.0, 0.249]),
                                                   stimulus_presentation_ids=session.stimulus_presentations.index,
                                                   unit_ids=UNITS)
    assert np.asarray(counts).shape == (len(POSITIONS) * len(ORIENT) * REPEATS, 1, 3)


def test_session_spike_counts(session):
    table = allen_ecephys.session_spike_counts(session, "gabors", quality="allen_default")
    assert table.unit_ids.tolist() == [11, 12]  # CA1 dropped by area
    assert table.counts.shape == (2, 12) and table.counts.dtype == np.int16
    pres = table.presentations
    cond = [POSITIONS.index((x, y)) * 2 + ORIENT.index(o)
            for x, y, o in zip(pres["x_position"], pres["y_position"], pres["orientation"], strict=True)]
    assert np.array_equal(table.counts[0], np.array(cond) + 1)
    assert np.array_equal(table.counts[1], np.where(pres["orientation"] == 90.0, 2, 0))
    assert sorted(np.bincount(pres["stimulus_condition"]).tolist()) == [3, 3, 3, 3]
    assert set(pres.loc[pres["repeat"] == 2, "trial_split"]) == {"test"}
    with pytest.raises(ValueError, match="no units"):
        allen_ecephys.session_spike_counts(session, "gabors", areas=("LGd",))
    with pytest.raises(ValueError, match="stimulus must be one of"):
        allen_ecephys.session_spike_counts(session, "movies")
    with pytest.raises(ValueError, match="no 'natural_scenes' presentations"):
        allen_ecephys.session_spike_counts(session, "natural_scenes")


def test_gabor_layout_round_trip(session, tmp_path):
    table = allen_ecephys.session_spike_counts(session, "gabors", quality="allen_default")
    allen_ecephys.write_gabor_layout(table, tmp_path / allen_gabor.NAME)
    allen_ecephys.write_compact(table, tmp_path / "compact")
    assert (tmp_path / "compact" / "gabors_counts.npz").exists()
    assert not list((tmp_path / "compact").glob("*.tmp"))
    loaded = allen_gabor.load_gabor_session(SESSION_ID, tmp_path, quality="allen_default")
    assert loaded.n_units == 2 and loaded.n_trials == 12
    assert np.array_equal(loaded.counts.T, table.counts)
    assert set(loaded.areas) == {"VISp", "VISl"}
    assert (loaded.aligned_index(REPEATS) >= 0).sum() == 12


def _other_presentations(t0: float) -> pd.DataFrame:
    """natural_scenes (frames 0, 1 and the blank -1) and static_gratings (two orientations and a 'null' blank)."""
    rows, t = [], t0
    for r in range(REPEATS):
        for frame in ([0, 1, -1] if r % 2 == 0 else [-1, 1, 0]):
            rows.append({"start_time": t, "stop_time": t + 0.25, "stimulus_name": "natural_scenes",
                         "stimulus_block": 1, "frame": float(frame)})
            t += 0.25
        for o in ("0.0", "90.0", "null"):
            rows.append({"start_time": t, "stop_time": t + 0.25, "stimulus_name": "static_gratings",
                         "stimulus_block": 2, "orientation": o, "spatial_frequency": "null" if o == "null" else "0.04",
                         "phase": "null" if o == "null" else "0.0"})
            t += 0.25
    return pd.DataFrame(rows)


class FakeApiAll(FakeApi):
    """The Gabor session plus natural scenes and static gratings; unit 11 fires frame + 2 spikes to an image,
    unit 12 fires 3 spikes to the 90-deg grating."""

    def __init__(self):
        gab = _presentations()
        other = _other_presentations(gab["stop_time"].max() + 1.0)
        self.pres = pd.concat([gab, other], ignore_index=True).rename_axis("id")

    def get_spike_times(self) -> dict[int, np.ndarray]:
        gab = self.pres[self.pres["stimulus_name"] == "gabors"]
        out = {u: list(v) for u, v in _spikes(gab).items()}
        for _, row in self.pres[self.pres["stimulus_name"] != "gabors"].iterrows():
            if row.stimulus_name == "natural_scenes":
                out[11] += list(row.start_time + 0.01 + 0.01 * np.arange(int(row.frame) + 2))
            elif row.orientation == "90.0":
                out[12] += list(row.start_time + np.array([0.05, 0.1, 0.15]))
        return {u: np.sort(np.array(v)) for u, v in out.items()}


def test_natural_scenes_and_static_gratings_counts():
    session = EcephysSession(api=FakeApiAll())
    scenes = allen_ecephys.session_spike_counts(session, "natural_scenes")
    pres = scenes.presentations
    assert scenes.counts.shape == (2, 3 * REPEATS)
    np.testing.assert_array_equal(scenes.counts[0], pres["frame"].to_numpy().astype(int) + 2)
    # conditions in sorted order of the frame: the blank (-1) is condition 0
    assert pres.groupby("stimulus_condition")["frame"].first().tolist() == [-1.0, 0.0, 1.0]
    assert (pres.groupby("stimulus_condition").size() == REPEATS).all()
    gratings = allen_ecephys.session_spike_counts(session, "static_gratings")
    g = gratings.presentations
    assert gratings.counts.shape == (2, 3 * REPEATS)
    np.testing.assert_array_equal(gratings.counts[1], np.where(g["orientation"] == 90.0, 3, 0))
    blank = g["orientation"].isna()
    assert blank.sum() == REPEATS and (g.loc[blank, "stimulus_condition"] == 2).all()  # the blank sorts last
    assert gratings.counts[0].sum() == 0  # unit 11 is silent during gratings


class FakeCache:
    """What session_counts needs of allensdk's EcephysProjectCache: the session table and session data."""

    def __init__(self):
        self.fetched = []

    def get_session_table(self) -> pd.DataFrame:
        return pd.DataFrame({"session_type": ["brain_observatory_1.1"], "specimen_id": [1],
                             "unit_count": [3], "ecephys_structure_acronyms": [["VISp", "VISl", "CA1"]]},
                            index=pd.Index([SESSION_ID], name="id"))

    def get_session_data(self, session_id: int) -> EcephysSession:
        self.fetched.append(session_id)
        return EcephysSession(api=FakeApiAll())


def test_session_counts_writes_once_and_reads_back(tmp_path):
    cache = FakeCache()
    folder = tmp_path / f"session_{SESSION_ID}"
    first = allen_ecephys.session_counts(cache, SESSION_ID, "natural_scenes", folder)
    again = allen_ecephys.session_counts(cache, SESSION_ID, "natural_scenes", folder)
    assert cache.fetched == [SESSION_ID]  # the second call read the compact files
    assert np.array_equal(first.counts, again.counts) and np.array_equal(first.unit_ids, again.unit_ids)
    assert again.session_id == SESSION_ID and again.window_s == pytest.approx(0.249)
    assert again.presentations["stimulus_condition"].tolist() == first.presentations["stimulus_condition"].tolist()
    assert again.units["ecephys_unit_id"].tolist() == [11, 12]
    with pytest.raises(ValueError, match="unknown session 5"):
        allen_ecephys.session_counts(cache, 5, "natural_scenes", tmp_path / "s5")
    with pytest.raises(FileNotFoundError, match="no compact 'gabors' table"):
        allen_ecephys.read_compact(folder, "gabors")
    (folder / "natural_scenes_counts.npz").write_bytes(b"not an npz")
    with pytest.raises(ValueError, match="unreadable"):
        allen_ecephys.read_compact(folder, "natural_scenes")
    rebuilt = allen_ecephys.session_counts(cache, SESSION_ID, "natural_scenes", folder)  # corrupt: fetched again
    assert cache.fetched == [SESSION_ID, SESSION_ID] and np.array_equal(rebuilt.counts, first.counts)
    assert np.array_equal(allen_ecephys.read_compact(folder, "natural_scenes").counts, first.counts)


def test_choose_sessions():
    table = pd.DataFrame({
        "session_type": ["brain_observatory_1.1", "functional_connectivity", "brain_observatory_1.1",
                         "brain_observatory_1.1"],
        "specimen_id": [1, 2, 3, 3],
        "unit_count": [800, 900, 500, 700],
        "full_genotype": ["wt/wt", "wt/wt", "Sst-IRES-Cre/wt", "Sst-IRES-Cre/wt"],
        "ecephys_structure_acronyms": [["VISp", "LGd"], ["VISp", "VISl"], ["VISam"], ["VISp", "CA1"]],
    }, index=pd.Index([30, 10, 20, 40], name="id"))
    assert allen_ecephys.choose_sessions(table, "gabors").index.tolist() == [10, 30, 40]  # one per mouse
    assert allen_ecephys.choose_sessions(table, "natural_scenes").index.tolist() == [30, 40]  # no FC sessions
    assert allen_ecephys.choose_sessions(table, "gabors", areas=("VISp", "LGd"),
                                         require_all_areas=True).index.tolist() == [30]
    assert allen_ecephys.choose_sessions(table, "gabors", genotype="wt/wt", n=1).index.tolist() == [10]
    with pytest.raises(ValueError, match=r"no session matches .*recording any of \['LP'\]: 0"):
        allen_ecephys.choose_sessions(table, "gabors", areas=("LP",))
    with pytest.raises(ValueError, match="stimulus must be one of"):
        allen_ecephys.choose_sessions(table, "movies")
    with pytest.raises(ValueError, match="lacks columns"):
        allen_ecephys.choose_sessions(table.drop(columns="unit_count"), "gabors")


def test_population_file_from_allen_sessions(tmp_path):
    from dataclasses import replace

    from neurobook.data import load_population_file
    from neurobook.data.allen_population import build_allen_population, population_from_tables

    cache = FakeCache()
    path = build_allen_population("natural_scenes", n_sessions=1, root=tmp_path, cache=cache, progress=None)
    rec = load_population_file(path)
    assert rec.counts.shape == (2, 3 * REPEATS) and rec.animals == [str(SESSION_ID)]
    assert rec.label_names["stimulus"].tolist() == ["frame -1", "frame 0", "frame 1"]
    # unit 11 fires frame + 2 spikes: trial t is condition t // REPEATS, i.e. frame t // REPEATS - 1
    np.testing.assert_array_equal(rec.counts[0], np.repeat([1, 2, 3], REPEATS))
    assert rec.split.tolist() == ["train", "train", "test"] * 3
    build_allen_population("natural_scenes", n_sessions=1, root=tmp_path, cache=cache, progress=None)
    assert cache.fetched == [SESSION_ID]  # the session's compact table was reused
    gratings = allen_ecephys.session_spike_counts(EcephysSession(api=FakeApiAll()), "static_gratings")
    # a second mouse that missed the last presentation: aligned by parameters, its missing trial is NaN
    short = replace(gratings, session_id=778, counts=gratings.counts[:, :-1],
                    presentations=gratings.presentations.iloc[:-1])
    both = population_from_tables([gratings, short])
    assert both.counts.shape == (4, 3 * REPEATS) and set(both.tasks) == {"stimulus", "orientation",
                                                                         "spatial_frequency", "phase"}
    last = gratings.presentations.iloc[-1]
    trial = int(last["stimulus_condition"]) * REPEATS + int(last["repeat"])
    assert np.isnan(both.counts[2:, trial]).all() and np.isfinite(both.counts[:2]).all()
    assert both.tasks["orientation"][::REPEATS].tolist() == [0, 1, 2]  # 0, 90 and the blank
    assert both.label_names["stimulus"][-1] == "blank"
    with pytest.raises(ValueError, match="one stimulus"):
        population_from_tables([gratings, allen_ecephys.session_spike_counts(EcephysSession(api=FakeApiAll()),
                                                                             "natural_scenes")])
    with pytest.raises(ValueError, match="the paper's"):
        build_allen_population("gabors", root=tmp_path, cache=cache)
