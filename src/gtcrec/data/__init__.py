"""Data formats, validation, splits and synthetic data (each name imported on first use)."""

from .._lazy import lazy_exports

_WHERE = {
    "SPLITS": ".dataset", "InteractionData": ".dataset",
    "DataError": ".errors", "DataWarning": ".errors",
    "ImportReport": ".importer", "import_interactions": ".importer",
    "load_mmrec": ".mmrec", "write_mmrec": ".mmrec",
    "build_ml100k": ".sources", "load_dataset": ".sources",
    "ItemColdSplit": ".split", "item_cold_split": ".split", "kcore_filter": ".split", "mmrec_split": ".split",
    "mmrec_split_sizes": ".split",
    "dataset_stats": ".stats", "format_stats": ".stats",
    "SyntheticConfig": ".synthetic", "make_synthetic": ".synthetic",
}
__all__ = [  # the names of _WHERE
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
__getattr__, __dir__ = lazy_exports(__name__, _WHERE)
