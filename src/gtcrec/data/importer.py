"""Raw interaction log -> MMRec-format dataset folder (k-core, per-user split, id maps)."""

from __future__ import annotations

import json
import warnings
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import yaml

from ..errors import MissingExtra
from .errors import DataError
from .mmrec import DATASET_YAML
from .split import kcore_filter, mmrec_split
from .validation import (
    drop_blank_rows,
    file_lines,
    read_text_table,
    read_text_table_header,
    require_columns,
    separator_name,
    too_many_fields,
)


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


IMPORT_CHUNK_ROWS = 1_000_000  # rows of a text log read at a time: memory grows with ids and pairs, not with text


class _IdCodes:
    """Raw id strings to integer codes in order of first appearance, kept across chunks."""

    def __init__(self):
        self.codes: dict[str, int] = {}
        self.names: list[str] = []

    def encode(self, values: pd.Series) -> np.ndarray:
        local, uniques = pd.factorize(values)
        mapped = np.empty(len(uniques), dtype=np.int64)
        for j, name in enumerate(uniques):
            code = self.codes.get(name)
            if code is None:
                code = self.codes[name] = len(self.names)
                self.names.append(name)
            mapped[j] = code
        return mapped[local]


def _ids_in_name_order(codes: np.ndarray, names: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """(new id per row, raw name per new id): the surviving codes renumbered 0.. in sorted order of their names."""
    alive = np.unique(codes)
    alive_names = np.asarray(names, dtype=object)[alive]
    order = np.argsort(alive_names)
    new_id = np.empty(len(names), dtype=np.int64)
    new_id[alive[order]] = np.arange(len(alive))
    return new_id[codes], alive_names[order]


def _chunks(path: Path, sep: str | None) -> tuple[list[str], object]:
    """(header columns, iterator of frames): a text log in chunks of strings (blank lines dropped, each row's
    index its position in the file), or a Parquet table in one piece."""
    suffix = path.suffix.lower()
    if suffix == ".parquet" or not path.exists():
        frame = read_table(path, sep)
        return list(frame.columns), iter([frame])
    sep = sep or ("," if suffix == ".csv" else "\t")
    header = read_text_table_header(path, sep)
    return header, _text_chunks(path, sep)


def _text_chunks(path: Path, sep: str):
    what = separator_name(sep)
    reader = iter(read_text_table(path, sep, chunksize=IMPORT_CHUNK_ROWS))
    while True:
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("error", pd.errors.ParserWarning)
                chunk = next(reader)
        except StopIteration:
            return
        except pd.errors.ParserWarning:
            raise too_many_fields(path, sep) from None
        except pd.errors.ParserError as exc:  # a later chunk's error surfaces here, not in read_text_table
            raise DataError(f"cannot parse as a {what}-separated table: {exc}", path=str(path)) from None
        except UnicodeDecodeError:
            raise DataError(f"not a text file (undecodable bytes); expected a {what}-separated table",
                            path=str(path)) from None
        yield drop_blank_rows(chunk)


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
    ``import_report.json``. A text log is read a million rows at a time, so memory grows with the
    number of distinct ids and interactions, not with the size of the text.
    """
    path = Path(path)
    out = Path(out_dir)
    name = name or out.name
    if isinstance(kcore, bool) or not isinstance(kcore, int) or kcore < 1:
        raise DataError(f"--kcore {kcore}: expected an integer >= 1 (1 keeps every interaction)")
    if min_rating is not None and not np.isfinite(min_rating):
        raise DataError(f"--min-rating {min_rating}: expected a finite number")
    roles = {"user": user_col, "item": item_col}
    if rating_col:
        roles["rating"] = rating_col
    if timestamp_col:
        roles["timestamp"] = timestamp_col
    if min_rating is not None and not rating_col:
        raise DataError("min_rating needs rating_col", path=str(path))
    header, chunks = _chunks(path, sep)
    require_columns(pd.DataFrame(columns=header), roles, path)
    users, items = _IdCodes(), _IdCodes()
    parts: dict[str, list[np.ndarray]] = {"user": [], "item": [], "rating": [], "timestamp": []}
    rows_read = 0
    for frame in chunks:
        rows_read += len(frame)
        for role in ("user", "item"):
            missing = frame[roles[role]].isna().to_numpy()
            if missing.any():
                row = int(np.flatnonzero(missing)[0])
                raise DataError(f"column {roles[role]!r}: empty {role} id", path=str(path),
                                line=int(file_lines(frame)[row]))
        parts["user"].append(users.encode(frame[user_col].astype(str)))
        parts["item"].append(items.encode(frame[item_col].astype(str)))
        parts["rating"].append(_numeric(frame, rating_col, path) if rating_col else np.ones(len(frame)))
        parts["timestamp"].append(_numeric(frame, timestamp_col, path) if timestamp_col else np.zeros(len(frame)))
    if rows_read == 0:
        raise DataError("no rows", path=str(path))
    user_code, item_code, rating, timestamp = (np.concatenate(parts[k]) for k in ("user", "item", "rating",
                                                                                   "timestamp"))
    del parts

    below = 0
    if min_rating is not None:
        keep = rating >= min_rating
        below = int((~keep).sum())
        user_code, item_code, rating, timestamp = user_code[keep], item_code[keep], rating[keep], timestamp[keep]
        if len(user_code) == 0:
            raise DataError(f"no rows with {rating_col} >= {min_rating}", path=str(path))
    before = len(user_code)
    # Repeated pairs merged (highest rating, latest time), pairs in order of first appearance.
    keys = user_code * len(items.names) + item_code
    order = np.argsort(keys, kind="stable")
    starts = np.flatnonzero(np.r_[True, keys[order][1:] != keys[order][:-1]])
    first = order[starts]
    rating = np.maximum.reduceat(rating[order], starts)
    timestamp = np.maximum.reduceat(timestamp[order], starts)
    by_appearance = np.argsort(first, kind="stable")
    first, rating, timestamp = first[by_appearance], rating[by_appearance], timestamp[by_appearance]
    user_code, item_code = user_code[first], item_code[first]
    duplicates = before - len(user_code)

    keep = kcore_filter(user_code, item_code, kcore)
    removed = int((~keep).sum())
    user_code, item_code, rating, timestamp = user_code[keep], item_code[keep], rating[keep], timestamp[keep]
    if len(user_code) == 0:
        raise DataError(f"nothing left after {kcore}-core filtering", path=str(path))
    user_ids, user_raw = _ids_in_name_order(user_code, users.names)
    item_ids, item_raw = _ids_in_name_order(item_code, items.names)
    labels = mmrec_split(user_ids, seed)
    out.mkdir(parents=True, exist_ok=True)
    inter = pd.DataFrame({"userID": user_ids, "itemID": item_ids, "rating": rating, "timestamp": timestamp,
                          "x_label": labels})
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
