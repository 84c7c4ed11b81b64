"""Checks on interaction tables and feature matrices. Every failure names file, line and expectation."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pandas as pd

from .errors import DataError, DataWarning


def separator_name(sep: str) -> str:
    """How error messages name a table's separator."""
    return "tab" if sep == "\t" else repr(sep)


def too_many_fields(path: Path, sep: str) -> DataError:
    """The error for a table whose rows have more fields than its header, naming the first such line."""
    import csv

    what = separator_name(sep)
    with open(path, newline="", encoding="utf-8", errors="replace") as fh:
        rows = csv.reader(fh, delimiter=sep)
        header = next(rows, [])
        for row in rows:
            if len(row) > len(header):
                return DataError(f"{len(row)} fields; expected {len(header)} {what}-separated fields, as in the "
                                 "header", path=str(path), line=rows.line_num)
    return DataError(f"rows with more fields than the header's {len(header)}", path=str(path))


def read_text_table_header(path: Path, sep: str) -> list[str]:
    """The column names of a delimited text table (its first line)."""
    return list(read_text_table(path, sep, nrows=0).columns)


def read_text_table(path: Path, sep: str, **read_options) -> pd.DataFrame:
    """A delimited text table as strings, blank lines kept (for line numbers); DataError naming the file.

    ``read_options`` go to ``pandas.read_csv`` (``chunksize`` gives an iterator of such frames, indexed by
    their rows' positions in the file; a parse error in a later chunk then surfaces while iterating).
    """
    what = separator_name(sep)
    try:
        # index_col=False: rows longer than the header are an error, never silently taken as an index
        with warnings.catch_warnings():
            warnings.simplefilter("error", pd.errors.ParserWarning)
            return pd.read_csv(path, sep=sep, dtype=str, keep_default_na=False, na_values=[""],
                               skip_blank_lines=False, index_col=False, **read_options)
    except pd.errors.ParserWarning:
        raise too_many_fields(path, sep) from None
    except pd.errors.EmptyDataError:
        raise DataError(f"empty file; expected a header line and one row per interaction, {what}-separated",
                        path=str(path)) from None
    except pd.errors.ParserError as exc:
        raise DataError(f"cannot parse as a {what}-separated table: {exc}", path=str(path)) from None
    except UnicodeDecodeError:
        raise DataError(f"not a text file (undecodable bytes); expected a {what}-separated table",
                        path=str(path)) from None
    except OSError as exc:
        raise DataError(f"cannot read ({exc.strerror or exc})", path=str(path)) from None


def drop_blank_rows(frame: pd.DataFrame) -> pd.DataFrame:
    """Drop empty lines but keep each row's original position in the index, so that reported
    line numbers are the file's (read the table with ``skip_blank_lines=False``)."""
    return frame[~frame.isna().all(axis=1).to_numpy()]


def file_lines(frame: pd.DataFrame, header_lines: int = 1) -> np.ndarray:
    """1-based file line of every row of a frame read by :func:`drop_blank_rows`."""
    return frame.index.to_numpy(dtype=np.int64) + header_lines + 1


def require_columns(frame: pd.DataFrame, required: dict[str, str], path: str | Path) -> None:
    """``required`` maps a role (e.g. 'user') to the column name expected for it."""
    missing = [f"{col!r} ({role})" for role, col in required.items() if col not in frame.columns]
    if missing:
        raise DataError(
            f"missing column(s) {', '.join(missing)}; the header has {list(frame.columns)}",
            path=str(path), line=1,
        )


def integer_column(frame: pd.DataFrame, column: str, path: str | Path, *, header_lines: int = 1,
                   minimum: int = 0, maximum: int | None = None, what: str = "id") -> np.ndarray:
    """Parse a column as non-negative integers, failing on the first offending line."""
    raw = frame[column]
    values = None
    # (int() would also take "1_000": such text goes the careful way, which refuses it)
    # (and 19+ characters, which the careful path refuses, go that way too)
    if (pd.api.types.is_string_dtype(raw) and raw.notna().all() and not raw.str.contains("_", regex=False).any()
            and raw.str.len().max() <= 18):
        try:  # fast path: plain integer text parses at once; anything else takes the careful path below
            values = raw.to_numpy(dtype=np.int64)
        except (ValueError, TypeError, OverflowError):
            values = None
    if values is not None:
        return _check_range(values, frame, column, path, header_lines, minimum, maximum, what)
    text = raw.astype(str).str.strip()
    # Parsed from text, not via float: 'inf', '1e30' and ids above 2**53 must not slip through.
    ok = text.str.fullmatch(r"[+-]?\d{1,18}(\.0*)?").fillna(False).to_numpy(dtype=bool) & raw.notna().to_numpy()
    if not ok.all():
        row = int(np.flatnonzero(~ok)[0])
        raise DataError(
            f"column {column!r}: expected an integer {what}, got {raw.iloc[row]!r}",
            path=str(path), line=int(file_lines(frame, header_lines)[row]),
        )
    values = text.str.split(".", n=1).str[0].astype(np.int64).to_numpy()
    return _check_range(values, frame, column, path, header_lines, minimum, maximum, what)


def _check_range(values: np.ndarray, frame: pd.DataFrame, column: str, path: str | Path, header_lines: int,
                 minimum: int, maximum: int | None, what: str) -> np.ndarray:
    low = values < minimum
    high = values > maximum if maximum is not None else np.zeros_like(low)
    if low.any() or high.any():
        row = int(np.flatnonzero(low | high)[0])
        allowed = f">= {minimum}" if maximum is None else f"in [{minimum}, {maximum}]"
        raise DataError(
            f"column {column!r}: {what} {values[row]} out of range, expected {allowed}",
            path=str(path), line=int(file_lines(frame, header_lines)[row]),
        )
    return values


def check_no_duplicate_pairs(users: np.ndarray, items: np.ndarray, path: str | Path, *,
                             lines: np.ndarray | None = None) -> None:
    """``lines``: the file line of each pair (default: row + 2, one header line)."""
    if lines is None:
        lines = np.arange(len(users)) + 2
    keys = users.astype(np.int64) * (int(items.max(initial=0)) + 1) + items
    order = np.argsort(keys, kind="stable")
    dup = np.flatnonzero(keys[order][1:] == keys[order][:-1])
    if dup.size:
        first, second = sorted((int(order[dup[0]]), int(order[dup[0] + 1])))
        raise DataError(
            f"duplicated (user, item) pair ({users[first]}, {items[first]}) also on line "
            f"{lines[first]}; each pair may appear once",
            path=str(path), line=int(lines[second]),
        )


def check_features(feat: np.ndarray, n_items: int, path: str | Path) -> np.ndarray:
    """Validate an item feature matrix and return it as float32."""
    if feat.ndim != 2:
        raise DataError(f"expected a 2-D array (items x dims), got shape {feat.shape}", path=str(path))
    if not np.issubdtype(feat.dtype, np.floating) and not np.issubdtype(feat.dtype, np.integer):
        raise DataError(f"expected a numeric array, got dtype {feat.dtype}", path=str(path))
    if feat.shape[0] != n_items:
        raise DataError(
            f"{feat.shape[0]} feature rows, expected one row per item ({n_items} items, ids 0..{n_items - 1})",
            path=str(path),
        )
    if feat.shape[1] == 0:
        raise DataError("0 columns; expected at least one feature dimension per item", path=str(path))
    feat = feat.astype(np.float32, copy=False)
    finite = np.isfinite(feat)
    if not finite.all():
        row, col = map(int, np.argwhere(~finite)[0])
        count = int((~finite.all(axis=1)).sum())
        raise DataError(
            f"non-finite value {feat[row, col]} at row {row} (item {row}), column {col}; "
            f"{count} row(s) affected; features must be finite",
            path=str(path),
        )
    return feat


def load_npy(path: str | Path) -> np.ndarray:
    """Load a .npy without pickle, memory-mapped read-only; object arrays, damaged and foreign files are refused,
    naming the file."""
    try:
        with open(path, "rb") as fh:
            magic = fh.read(6)
    except OSError as exc:
        raise DataError(f"cannot read ({exc.strerror or exc})", path=str(path)) from None
    if magic != b"\x93NUMPY":
        what = "an empty file" if not magic else "not a .npy file (no NumPy header)"
        raise DataError(f"{what}; expected an array saved with numpy.save", path=str(path))
    try:
        # Memory-mapped, read-only: a large feature file is paged in as it is read, and never copied when
        # it is already float32 (check_features keeps such arrays as they are).
        return np.load(path, allow_pickle=False, mmap_mode="r")
    except ValueError as exc:
        if "pickle" in str(exc).lower() or "python objects" in str(exc).lower():
            raise DataError("holds Python objects, which would need pickle to load; expected a plain numeric "
                            "array", path=str(path)) from None
        raise DataError(f"a damaged .npy file ({exc}); expected an array saved with numpy.save",
                        path=str(path)) from None
    except (OSError, EOFError) as exc:
        raise DataError(f"a damaged .npy file ({exc}); expected an array saved with numpy.save",
                        path=str(path)) from None


def warn_users_without_train(n_users_without_train: int, n_eval_affected: int, source: str) -> None:
    if n_users_without_train:
        warnings.warn(
            f"{source}: {n_users_without_train} user(s) have no training interaction; "
            f"{n_eval_affected} of them have valid/test interactions. Policy: they are kept in the data "
            "but excluded from evaluation (as MMRec does), since no model can rank for them from history.",
            DataWarning, stacklevel=3,
        )
