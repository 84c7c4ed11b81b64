"""Top-k from an export folder with numpy alone: no torch, no model, no dataset.

`gtcrec export` writes what a deployment needs; ranking from it should start as fast as Python does.
The ranking is the same as :meth:`TrainedRecommender.iter_recommend` (dot product, training items removed,
ties broken towards the lower item index).
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterable, Iterator
from pathlib import Path

import numpy as np

from ..data.errors import DataError
from .topk import TopK

EXPORT_FORMAT = "gtcrec-embeddings/1"


def _ids(path: Path) -> np.ndarray:
    with open(path, newline="") as fh:
        rows = list(csv.reader(fh, delimiter="\t"))
    if not rows or rows[0] != ["index", "id"]:
        raise DataError("expected a header 'index<TAB>id'", path=str(path))
    return np.asarray([row[1] for row in rows[1:]], dtype=object)


class ExportedTable:
    """The user and item matrices of an export folder, and each user's training items."""

    def __init__(self, folder: str | Path):
        from safetensors.numpy import load_file

        folder = Path(folder)
        try:
            manifest = json.loads((folder / "manifest.json").read_text())
            tensors = load_file(str(folder / "embeddings.safetensors"))
            self.users, self.items = _ids(folder / "user_ids.tsv"), _ids(folder / "item_ids.tsv")
        except (OSError, ValueError, KeyError, IndexError) as exc:
            raise DataError(f"not a readable export ({exc})", path=str(folder)) from None
        if manifest.get("format") != EXPORT_FORMAT:
            raise DataError(f"manifest.json: format {manifest.get('format')!r}; expected {EXPORT_FORMAT!r}",
                            path=str(folder))
        self.user_reps, self.item_reps = tensors["user"], tensors["item"]
        self.indptr, self.indices = tensors["seen_indptr"], tensors["seen_indices"]
        if len(self.users) != len(self.user_reps) or len(self.items) != len(self.item_reps):
            raise DataError("the id files and matrices disagree in size", path=str(folder))
        self._row = {u: i for i, u in enumerate(self.users)}

    def to_internal(self, users: Iterable) -> np.ndarray:
        from .idmap import UnknownIdError

        out = []
        for user in users:
            if str(user) not in self._row:
                raise UnknownIdError(f"unknown user id {str(user)!r} ({len(self.users)} users in this export)")
            out.append(self._row[str(user)])
        return np.asarray(out, dtype=np.int64)

    def iter_recommend(self, users: Iterable | None, k: int, *, exclude_seen: bool = True,
                       batch_size: int = 1024, item_batch: int = 1 << 16) -> Iterator[TopK]:
        rows = np.arange(len(self.users)) if users is None else self.to_internal(users)
        k = min(int(k), len(self.items))
        for start in range(0, len(rows), batch_size):
            batch = rows[start:start + batch_size]
            best_scores = np.full((len(batch), 0), -np.inf, np.float32)
            best_items = np.zeros((len(batch), 0), np.int64)
            for lo in range(0, len(self.items), item_batch):
                scores = self.user_reps[batch] @ self.item_reps[lo:lo + item_batch].T
                if exclude_seen:
                    for r, user in enumerate(batch):
                        seen = self.indices[self.indptr[user]:self.indptr[user + 1]] - lo
                        scores[r, seen[(seen >= 0) & (seen < scores.shape[1])]] = -np.inf
                items = np.broadcast_to(np.arange(lo, lo + scores.shape[1]), scores.shape)
                best_scores = np.concatenate([best_scores, scores.astype(np.float32)], 1)
                best_items = np.concatenate([best_items, items], 1)
                # highest score first; among equal scores the lower item index, as torch.topk on CPU
                order = np.lexsort((best_items, -best_scores), axis=1)[:, :k]
                best_scores = np.take_along_axis(best_scores, order, 1)
                best_items = np.take_along_axis(best_items, order, 1)
            yield TopK(self.users[batch], self.items[best_items], best_scores)
