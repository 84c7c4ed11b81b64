"""Original user and item ids <-> the dense internal indices that models use."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import numpy as np
import pandas as pd

from ..data.errors import DataError
from ..errors import UserError

MAP_FILES = {"user": ("u_id_mapping.csv", "userID"), "item": ("i_id_mapping.csv", "itemID")}


class UnknownIdError(UserError, KeyError):
    """A user or item id that the trained run does not know."""

    def __str__(self) -> str:  # KeyError quotes its message; this one is a sentence
        return str(self.args[0]) if self.args else ""


class IdMap:
    """Original ids (strings) of ``n`` users or items, indexed by internal id.

    From a dataset folder's ``u_id_mapping.csv`` / ``i_id_mapping.csv`` (written by ``gtcrec data import``
    and shipped with MMRec datasets: an original-id column and ``userID``/``itemID``); without one, the
    internal ids are the ids, written as decimal strings. Ids are compared as strings, so 196 and "196"
    are the same id.
    """

    def __init__(self, kind: str, originals: Iterable[str]):
        self.kind = kind
        self.originals = np.asarray([str(x) for x in originals], dtype=object)
        self._index = {x: i for i, x in enumerate(self.originals)}
        if len(self._index) != len(self.originals):
            raise DataError(f"{kind} ids are not unique")
        self.from_file: Path | None = None

    def __len__(self) -> int:
        return len(self.originals)

    @classmethod
    def identity(cls, kind: str, n: int) -> IdMap:
        return cls(kind, (str(i) for i in range(n)))

    @classmethod
    def from_folder(cls, folder: Path | None, kind: str, n: int) -> IdMap:
        """The folder's map for ``kind`` ("user" or "item"), checked to cover 0..n-1; identity if it has none."""
        name, internal_col = MAP_FILES[kind]
        path = None if folder is None else Path(folder) / name
        if path is None or not path.is_file():
            return cls.identity(kind, n)
        frame = pd.read_csv(path, sep="\t", dtype=str, keep_default_na=False)
        others = [c for c in frame.columns if c != internal_col]
        if internal_col not in frame.columns or len(others) != 1:
            raise DataError(f"expected two tab-separated columns, an original id and {internal_col!r}; got "
                            f"{list(frame.columns)}", path=str(path))
        try:
            internal = frame[internal_col].astype(np.int64).to_numpy()
        except ValueError as exc:
            raise DataError(f"column {internal_col!r}: expected integers ({exc})", path=str(path)) from None
        if len(internal) != n or not np.array_equal(np.sort(internal), np.arange(n)):
            raise DataError(f"column {internal_col!r}: expected each of 0..{n - 1} once (the run has {n} "
                            f"{kind}s), got {len(internal)} rows", path=str(path))
        originals = np.empty(n, dtype=object)
        originals[internal] = frame[others[0]].to_numpy()
        out = cls(kind, originals)
        out.from_file = path
        return out

    def to_internal(self, ids: Iterable) -> np.ndarray:
        """Internal indices of ``ids``; an unknown id raises :class:`UnknownIdError` naming it."""
        out = []
        for x in ids:
            key = str(x)
            if key not in self._index:
                raise UnknownIdError(f"unknown {self.kind} id {key!r} ({len(self)} {self.kind}s in this run)")
            out.append(self._index[key])
        return np.asarray(out, dtype=np.int64)

    def contains(self, x) -> bool:
        return str(x) in self._index

    def to_original(self, index: np.ndarray) -> np.ndarray:
        return self.originals[np.asarray(index, dtype=np.int64)]
