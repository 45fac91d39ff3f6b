"""Data layer: registry, download and verification, typed loaders and simulators."""

from neurobook.data.cowley2023 import load_cowley2023, load_repeats
from neurobook.data.fetch import ChecksumError, DataNotFoundError, data_file, fetch, verify
from neurobook.data.lurz2020 import load_lurz2020
from neurobook.data.npz import UserDataError, load_colour_npz, load_npz
from neurobook.data.population_file import PopulationRecording, load_population_file, save_population_file
from neurobook.data.registry import DATASETS, get_dataset
from neurobook.data.simulate import CELL_TYPES, pink_noise_images, simulate_v1_population
from neurobook.data.types import StimulusResponseData

__all__ = [
    "CELL_TYPES", "DATASETS", "ChecksumError", "DataNotFoundError", "PopulationRecording", "StimulusResponseData",
    "UserDataError", "data_file", "fetch", "get_dataset", "load_colour_npz", "load_cowley2023", "load_lurz2020",
    "load_npz", "load_population_file", "load_repeats",
    "pink_noise_images", "save_population_file", "simulate_v1_population", "verify",
]
