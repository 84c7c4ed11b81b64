"""Raw interaction log -> MMRec-format dataset folder (k-core, per-user split, id maps)."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import yaml

from ..errors import MissingExtra
from .errors import DataError
from .mmrec import DATASET_YAML
from .split import kcore_filter, mmrec_split
from .validation import drop_blank_rows, file_lines, read_text_table, require_columns


@dataclass
class ImportReport:
    source: str
    rows_read: int
    below_min_rating: int
    duplicate_pairs_merged: int
    removed_by_kcore: int
    n_users: int
    n_items: int
    n_interactions: int
    n_train: int
    n_valid: int
    n_test: int
    kcore: int
    seed: int

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2)


def read_table(path: str | Path, sep: str | None = None) -> pd.DataFrame:
    """Read CSV/TSV/Parquet as strings (Parquet keeps its types). The format follows the suffix."""
    path = Path(path)
    if not path.exists():
        raise DataError("file not found", path=str(path))
    suffix = path.suffix.lower()
    if suffix == ".parquet":
        try:
            import pyarrow
        except ImportError:  # pragma: no cover - depends on optional pyarrow
            raise MissingExtra(f"{path}: reading Parquet needs pyarrow: pip install 'gtcrec[parquet]'") from None
        try:
            return pd.read_parquet(path)
        except (pyarrow.ArrowException, OSError, ValueError) as exc:
            raise DataError(f"not a readable Parquet file ({exc}); expected a Parquet table", path=str(path)) \
                from None
    if sep is None:
        sep = "," if suffix == ".csv" else "\t"
    return drop_blank_rows(read_text_table(path, sep))


def _numeric(frame: pd.DataFrame, column: str, path: Path) -> np.ndarray:
    values = pd.to_numeric(frame[column], errors="coerce")
    bad = ~np.isfinite(values.to_numpy(dtype=np.float64))
    if bad.any():
        row = int(np.flatnonzero(bad)[0])
        raise DataError(f"column {column!r}: expected a finite number, got {frame[column].iloc[row]!r}",
                        path=str(path), line=int(file_lines(frame)[row]))
    return values.to_numpy(dtype=np.float64)


def import_interactions(
    path: str | Path,
    out_dir: str | Path,
    *,
    name: str | None = None,
    user_col: str = "user_id",
    item_col: str = "item_id",
    rating_col: str | None = None,
    timestamp_col: str | None = None,
    min_rating: float | None = None,
    kcore: int = 5,
    seed: int = 999,
    sep: str | None = None,
) -> ImportReport:
    """Turn a raw (user, item[, rating, timestamp]) log into an MMRec-format dataset folder.

    Every interaction counts as implicit positive feedback (optionally only those with
    rating >= ``min_rating``). Repeated (user, item) pairs are merged into one, keeping the
    highest rating and latest timestamp, and counted in the report. The folder gets
    ``<name>.inter``, ``u_id_mapping.csv``, ``i_id_mapping.csv``, ``dataset.yaml`` and
    ``import_report.json``.
    """
    path = Path(path)
    out = Path(out_dir)
    name = name or out.name
    if isinstance(kcore, bool) or not isinstance(kcore, int) or kcore < 1:
        raise DataError(f"--kcore {kcore}: expected an integer >= 1 (1 keeps every interaction)")
    if min_rating is not None and not np.isfinite(min_rating):
        raise DataError(f"--min-rating {min_rating}: expected a finite number")
    frame = read_table(path, sep)
    roles = {"user": user_col, "item": item_col}
    if rating_col:
        roles["rating"] = rating_col
    if timestamp_col:
        roles["timestamp"] = timestamp_col
    if min_rating is not None and not rating_col:
        raise DataError("min_rating needs rating_col", path=str(path))
    require_columns(frame, roles, path)
    rows_read = len(frame)
    if rows_read == 0:
        raise DataError("no rows", path=str(path))
    for role in ("user", "item"):
        missing = frame[roles[role]].isna().to_numpy()
        if missing.any():
            row = int(np.flatnonzero(missing)[0])
            raise DataError(f"column {roles[role]!r}: empty {role} id", path=str(path), line=int(file_lines(frame)[row]))

    table = pd.DataFrame({"user": frame[user_col].astype(str), "item": frame[item_col].astype(str)})
    table["rating"] = _numeric(frame, rating_col, path) if rating_col else 1.0
    table["timestamp"] = _numeric(frame, timestamp_col, path) if timestamp_col else 0.0

    below = 0
    if min_rating is not None:
        keep = table["rating"].to_numpy() >= min_rating
        below = int((~keep).sum())
        table = table[keep]
        if len(table) == 0:
            raise DataError(f"no rows with {rating_col} >= {min_rating}", path=str(path))
    before = len(table)
    table = table.groupby(["user", "item"], as_index=False, sort=False).agg(
        rating=("rating", "max"), timestamp=("timestamp", "max"))
    duplicates = before - len(table)

    user_codes, user_raw = pd.factorize(table["user"], sort=True)
    item_codes, item_raw = pd.factorize(table["item"], sort=True)
    keep = kcore_filter(user_codes.astype(np.int64), item_codes.astype(np.int64), kcore)
    removed = int((~keep).sum())
    table = table[keep].reset_index(drop=True)
    if len(table) == 0:
        raise DataError(f"nothing left after {kcore}-core filtering", path=str(path))

    user_ids, user_raw = pd.factorize(table["user"], sort=True)
    item_ids, item_raw = pd.factorize(table["item"], sort=True)
    labels = mmrec_split(user_ids, seed)
    out.mkdir(parents=True, exist_ok=True)
    inter = pd.DataFrame({"userID": user_ids, "itemID": item_ids, "rating": table["rating"],
                          "timestamp": table["timestamp"], "x_label": labels})
    inter = inter.sort_values(["userID", "itemID"], kind="stable")
    inter.to_csv(out / f"{name}.inter", sep="\t", index=False)
    pd.DataFrame({"user_id": user_raw, "userID": np.arange(len(user_raw))}).to_csv(
        out / "u_id_mapping.csv", sep="\t", index=False)
    pd.DataFrame({"item_id": item_raw, "itemID": np.arange(len(item_raw))}).to_csv(
        out / "i_id_mapping.csv", sep="\t", index=False)
    with open(out / DATASET_YAML, "w") as fh:
        yaml.safe_dump({"name": name, "inter": f"{name}.inter", "n_users": len(user_raw),
                        "n_items": len(item_raw), "modalities": {},
                        "source": f"imported from {path.name} (kcore={kcore}, seed={seed})"}, fh, sort_keys=False)
    report = ImportReport(
        source=str(path), rows_read=rows_read, below_min_rating=below, duplicate_pairs_merged=duplicates,
        removed_by_kcore=removed, n_users=len(user_raw), n_items=len(item_raw), n_interactions=len(inter),
        n_train=int((labels == 0).sum()), n_valid=int((labels == 1).sum()), n_test=int((labels == 2).sum()),
        kcore=kcore, seed=seed,
    )
    (out / "import_report.json").write_text(report.to_json())
    return report
