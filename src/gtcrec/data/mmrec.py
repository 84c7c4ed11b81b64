"""MMRec-format datasets: ``<name>.inter`` (TSV with userID, itemID, x_label) plus ``*_feat.npy`` files.

A dataset is a folder. ``dataset.yaml`` in it declares the files; without one, the folder's only
``.inter`` file (or ``<folder>.inter``) is used and every ``<modality>_feat.npy`` becomes a
modality named ``<modality>`` (``image_feat.npy`` -> ``image``).

``dataset.yaml``::

    name: tiktok
    inter: tiktok.inter
    columns: {user: userID, item: itemID, split: x_label}   # optional, these are the defaults
    n_items: 6710                                          # optional; default: feature rows or max id + 1
    modalities: {visual: image_feat.npy, acoustic: audio_feat.npy}
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import yaml

from .dataset import InteractionData
from .errors import DataError, DataWarning
from .validation import (
    check_features,
    check_no_duplicate_pairs,
    drop_blank_rows,
    file_lines,
    integer_column,
    load_npy,
    read_text_table,
    require_columns,
    warn_users_without_train,
)

DEFAULT_COLUMNS = {"user": "userID", "item": "itemID", "split": "x_label"}
SPLIT_LABELS = {0: "train", 1: "valid", 2: "test"}
DATASET_YAML = "dataset.yaml"


@dataclass
class DatasetSpec:
    name: str
    root: Path
    inter: Path
    columns: dict[str, str] = field(default_factory=lambda: dict(DEFAULT_COLUMNS))
    modalities: dict[str, Path] = field(default_factory=dict)
    n_users: int | None = None
    n_items: int | None = None


def read_spec(root: str | Path) -> DatasetSpec:
    root = Path(root)
    if not root.is_dir():
        raise DataError("expected a dataset folder (with a .inter file and optional *_feat.npy)", path=str(root))
    yaml_path = root / DATASET_YAML
    if yaml_path.exists():
        return _spec_from_yaml(root, yaml_path)
    inters = sorted(root.glob("*.inter"))
    preferred = root / f"{root.name}.inter"
    if preferred.exists():
        inter = preferred
    elif len(inters) == 1:
        inter = inters[0]
    else:
        raise DataError(
            f"expected {DATASET_YAML} or exactly one .inter file, found {[p.name for p in inters]}",
            path=str(root),
        )
    modalities = {p.name[: -len("_feat.npy")]: p for p in sorted(root.glob("*_feat.npy"))}
    return DatasetSpec(name=inter.stem, root=root, inter=inter, modalities=modalities)


def _spec_from_yaml(root: Path, yaml_path: Path) -> DatasetSpec:
    try:
        with open(yaml_path) as fh:
            raw = yaml.safe_load(fh) or {}
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        raise DataError(f"{getattr(exc, 'problem', None) or 'not valid YAML'}; expected a YAML mapping",
                        path=str(yaml_path), line=None if mark is None else mark.line + 1) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise DataError(f"cannot read ({exc}); expected a YAML text file", path=str(yaml_path)) from None
    if not isinstance(raw, dict):
        raise DataError("expected a mapping at the top level", path=str(yaml_path))
    known = {"name", "inter", "columns", "modalities", "n_users", "n_items", "description", "source"}
    unknown = set(raw) - known
    if unknown:
        raise DataError(f"unknown field(s) {sorted(unknown)}; allowed: {sorted(known)}", path=str(yaml_path))
    for key in ("name", "inter"):
        if key in raw and (not isinstance(raw[key], (str, int)) or isinstance(raw[key], bool) or raw[key] == ""):
            raise DataError(f"field {key!r}: expected a name, got {raw[key]!r}", path=str(yaml_path))
    name = str(raw.get("name", root.name))
    inter = root / str(raw.get("inter", f"{name}.inter"))
    declared_columns = raw.get("columns") or {}
    if not isinstance(declared_columns, dict):
        raise DataError(f"field 'columns': expected a mapping of role to column name, got {declared_columns!r}",
                        path=str(yaml_path))
    columns = dict(DEFAULT_COLUMNS)
    for role, col in declared_columns.items():
        if role not in DEFAULT_COLUMNS:
            raise DataError(f"columns: unknown role {role!r}, expected one of {list(DEFAULT_COLUMNS)}",
                            path=str(yaml_path))
        if not isinstance(col, str) or not col:
            raise DataError(f"columns.{role}: expected a column name, got {col!r}", path=str(yaml_path))
        columns[role] = col
    declared = raw.get("modalities") or {}
    if not isinstance(declared, dict):
        raise DataError(f"field 'modalities': expected a mapping of modality name to feature file (e.g. "
                        f"{{image: image_feat.npy}}), got {declared!r}", path=str(yaml_path))
    modalities = {}
    for modality, fname in declared.items():
        if not isinstance(modality, str) or not modality:
            raise DataError(f"modalities: expected modality names, got {modality!r}", path=str(yaml_path))
        if not isinstance(fname, str) or not fname:
            raise DataError(f"modalities.{modality}: expected a feature file name, got {fname!r}",
                            path=str(yaml_path))
        modalities[modality] = root / fname
    for key in ("n_users", "n_items"):
        if key in raw and (isinstance(raw[key], bool) or not isinstance(raw[key], int) or raw[key] <= 0):
            raise DataError(f"field {key!r}: expected a positive integer, got {raw[key]!r}", path=str(yaml_path))
    return DatasetSpec(name, root, inter, columns, modalities, raw.get("n_users"), raw.get("n_items"))


def load_mmrec(root: str | Path, modalities: list[str] | None = None) -> InteractionData:
    """Load and validate an MMRec-format dataset folder.

    ``modalities`` restricts which feature files are read (None reads all declared).
    """
    spec = read_spec(root)
    if not spec.inter.exists():
        raise DataError("interaction file not found", path=str(spec.inter))
    if modalities is not None:
        unknown = [m for m in modalities if m not in spec.modalities]
        if unknown:
            raise DataError(f"no modality {unknown}; declared: {sorted(spec.modalities)}", path=str(spec.root))
        spec.modalities = {m: spec.modalities[m] for m in modalities}

    features: dict[str, np.ndarray] = {}
    raw_feats = {}
    for modality, path in spec.modalities.items():
        if not path.exists():
            raise DataError(f"feature file for modality {modality!r} not found", path=str(path))
        raw_feats[modality] = load_npy(path)
    feature_rows = {m: f.shape[0] if f.ndim >= 1 else 0 for m, f in raw_feats.items()}
    n_items = spec.n_items
    if n_items is None and feature_rows:
        n_items = next(iter(feature_rows.values()))
    for modality, feat in raw_feats.items():
        features[modality] = check_features(feat, n_items, spec.modalities[modality])

    fast = _read_valid_inter(spec, n_items)
    if fast is not None:
        users, items, labels = fast
    else:
        users, items, labels = _read_inter_checked(spec, n_items, bool(features))

    n_users = spec.n_users or int(users.max()) + 1
    n_items = n_items or int(items.max()) + 1
    pairs = np.stack([users, items], axis=1)
    splits = {name: pairs[labels == code] for code, name in SPLIT_LABELS.items()}
    for name in ("train", "valid", "test"):
        if len(splits[name]) == 0:
            code = next(c for c, n in SPLIT_LABELS.items() if n == name)
            raise DataError(f"no {name} interactions (no row with {spec.columns['split']} = {code})",
                            path=str(spec.inter))

    data = InteractionData(spec.name, n_users, n_items, splits["train"], splits["valid"], splits["test"],
                           features, source=str(spec.root))
    has_train = data.users_with_train()
    no_train = ~has_train
    in_eval = np.zeros(n_users, dtype=bool)
    in_eval[np.concatenate([data.valid[:, 0], data.test[:, 0]])] = True
    present = np.zeros(n_users, dtype=bool)
    present[users] = True
    warn_users_without_train(int((no_train & present).sum()), int((no_train & in_eval).sum()), str(spec.inter))
    gaps = int((~present).sum())
    if gaps:
        warnings.warn(f"{spec.inter}: {gaps} user id(s) in [0, {n_users}) never occur", DataWarning, stacklevel=2)
    return data



_PLAIN = np.zeros(256, dtype=bool)
_PLAIN[list(b"0123456789.+-\t\r\n")] = True


def _plain_numeric_body(path: Path, block: int = 1 << 26) -> bool:
    """Whether every byte after the header line is a digit, sign, point, tab or newline: no exponents, inf or
    nan, which the integer reader would take for numbers where the careful reader refuses them."""
    body = np.memmap(path, dtype=np.uint8, mode="r")
    start = int(np.argmax(body == ord("\n"))) + 1 if body.size else 0
    return all(bool(_PLAIN[body[s:s + block]].all()) for s in range(start, body.size, block))


def _read_valid_inter(spec: DatasetSpec, n_items: int | None) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
    """(users, items, split labels) of a well-formed interaction file, parsed as numbers at once (pandas' C
    parser: about 2 s of parsing for 9 M rows); None when anything is off (a row with more or fewer fields than
    the header, text, exponents, ids beyond 18 digits or out of range, duplicated pairs), so that the careful
    reader can say what and where."""
    names = [spec.columns["user"], spec.columns["item"], spec.columns["split"]]
    try:
        with open(spec.inter, encoding="utf-8") as fh:
            header = fh.readline().rstrip("\r\n").split("\t")
        if not set(spec.columns.values()) <= set(header) or not _plain_numeric_body(spec.inter):
            return None
        dtypes = {col: (np.int64 if col in names else np.float64) for col in header}
        with warnings.catch_warnings():
            warnings.simplefilter("error")  # e.g. pandas' warning that rows are longer than the header
            frame = pd.read_csv(spec.inter, sep="\t", dtype=dtypes, engine="c", index_col=False)
    except (ValueError, TypeError, OverflowError, pd.errors.ParserError, pd.errors.EmptyDataError, OSError,
            UnicodeDecodeError, Warning):
        return None
    if len(frame) == 0:
        return None
    users, items, labels = (frame[name].to_numpy() for name in names)
    if min(users.min(), items.min(), labels.min()) < 0 or labels.max() > 2 or max(users.max(), items.max()) >= 10**18:
        return None
    if (spec.n_users is not None and users.max() >= spec.n_users) or (n_items is not None and items.max() >= n_items):
        return None
    keys = np.sort(users * (int(items.max()) + 1) + items)  # (np.unique's hash path is 10x slower here)
    if (keys[1:] == keys[:-1]).any():  # duplicated pairs: the careful reader names their lines
        return None
    return users, items, labels


def _read_inter_checked(spec: DatasetSpec, n_items: int | None, has_features: bool
                        ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The interaction file read as text and checked field by field: the first problem is a DataError naming its
    line and column."""
    frame = read_text_table(spec.inter, "\t")
    require_columns(frame, spec.columns, spec.inter)
    frame = drop_blank_rows(frame)
    if len(frame) == 0:
        raise DataError("no interactions (only a header)", path=str(spec.inter))
    short = frame[list(spec.columns.values())].isna().any(axis=1).to_numpy()
    if short.any():
        row = int(np.flatnonzero(short)[0])
        fields = int(frame.iloc[row].notna().sum())
        raise DataError(f"{fields} field(s); expected {len(frame.columns)} tab-separated fields "
                        f"({', '.join(frame.columns)})", path=str(spec.inter), line=int(file_lines(frame)[row]))
    users = integer_column(frame, spec.columns["user"], spec.inter, maximum=None if spec.n_users is None
                           else spec.n_users - 1, what="user id")
    items = integer_column(frame, spec.columns["item"], spec.inter, maximum=None if n_items is None
                           else n_items - 1, what="item id (row of the feature files)" if has_features else "item id")
    labels = integer_column(frame, spec.columns["split"], spec.inter, maximum=2, what="split label (0/1/2)")
    check_no_duplicate_pairs(users, items, spec.inter, lines=file_lines(frame))
    return users, items, labels


def write_mmrec(data: InteractionData, out_dir: str | Path, *, extra_yaml: dict | None = None) -> Path:
    """Write ``data`` as an MMRec-format folder with a ``dataset.yaml``; returns the folder."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    parts = []
    for code, split in SPLIT_LABELS.items():
        pairs = data.pairs(split)
        parts.append(np.column_stack([pairs, np.full(len(pairs), code, dtype=np.int64)]))
    table = np.concatenate(parts)
    table = table[np.lexsort((table[:, 1], table[:, 0]))]
    frame = pd.DataFrame({
        "userID": table[:, 0], "itemID": table[:, 1], "rating": 1.0, "timestamp": 0, "x_label": table[:, 2],
    })
    frame.to_csv(out / f"{data.name}.inter", sep="\t", index=False)
    modalities = {}
    for modality, feat in data.features.items():
        fname = f"{modality}_feat.npy"
        np.save(out / fname, feat.astype(np.float32))
        modalities[modality] = fname
    spec = {"name": data.name, "inter": f"{data.name}.inter", "n_users": data.n_users, "n_items": data.n_items,
            "modalities": modalities}
    spec.update(extra_yaml or {})
    with open(out / DATASET_YAML, "w") as fh:
        yaml.safe_dump(spec, fh, sort_keys=False)
    return out
