"""Data formats, validation, splits and synthetic data."""

from .dataset import SPLITS, InteractionData
from .errors import DataError, DataWarning
from .importer import ImportReport, import_interactions
from .mmrec import load_mmrec, write_mmrec
from .sources import build_ml100k, load_dataset
from .split import (
    ItemColdSplit,
    item_cold_split,
    kcore_filter,
    mmrec_split,
    mmrec_split_sizes,
)
from .stats import dataset_stats, format_stats
from .synthetic import SyntheticConfig, make_synthetic

__all__ = [
    "SPLITS",
    "DataError",
    "DataWarning",
    "ImportReport",
    "InteractionData",
    "ItemColdSplit",
    "SyntheticConfig",
    "build_ml100k",
    "dataset_stats",
    "format_stats",
    "import_interactions",
    "item_cold_split",
    "kcore_filter",
    "load_dataset",
    "load_mmrec",
    "make_synthetic",
    "mmrec_split",
    "mmrec_split_sizes",
    "write_mmrec",
]
