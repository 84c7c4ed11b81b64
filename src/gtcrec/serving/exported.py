"""Top-k from an export folder with numpy alone: no torch, no model, no dataset.

`gtcrec export` writes what a deployment needs; ranking from it should start as fast as Python does.
The ranking is that of :meth:`TrainedRecommender.iter_recommend` (dot product, training items removed), up to
the order of items with exactly equal scores (here the lower item index first; torch.topk's order of ties
is unspecified).
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
    with open(path, newline="", encoding="utf-8") as fh:
        rows = list(csv.reader(fh, delimiter="\t"))
    if not rows or rows[0] != ["index", "id"]:
        raise DataError("expected a header 'index<TAB>id'", path=str(path))
    return np.asarray([row[1] for row in rows[1:]], dtype=object)


class ExportedTable:
    """The user and item matrices of an export folder, and each user's training items."""

    def __init__(self, folder: str | Path):
        from safetensors import SafetensorError
        from safetensors.numpy import load_file

        folder = Path(folder)
        try:
            manifest = json.loads((folder / "manifest.json").read_text(encoding="utf-8"))
            tensors = load_file(str(folder / "embeddings.safetensors"))
            self.users, self.items = _ids(folder / "user_ids.tsv"), _ids(folder / "item_ids.tsv")
            self.user_reps, self.item_reps = tensors["user"], tensors["item"]
            self.indptr, self.indices = tensors["seen_indptr"], tensors["seen_indices"]
        except (OSError, ValueError, KeyError, IndexError, SafetensorError) as exc:
            raise DataError(f"not a readable export ({type(exc).__name__}: {exc}); expected a folder written by "
                            "gtcrec export", path=str(folder)) from None
        if not isinstance(manifest, dict) or manifest.get("format") != EXPORT_FORMAT:
            raise DataError(f"manifest.json: not the format {EXPORT_FORMAT!r}", path=str(folder))
        if (len(self.users) != len(self.user_reps) or len(self.items) != len(self.item_reps)
                or len(self.indptr) != len(self.users) + 1 or self.user_reps.shape[1:] != self.item_reps.shape[1:]
                or (len(self.indices) and (self.indices.min() < 0 or self.indices.max() >= len(self.items)))):
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
            if exclude_seen:  # (row in batch, item) of every training item of the batch's users, gathered once
                counts = self.indptr[batch + 1] - self.indptr[batch]
                seen_rows = np.repeat(np.arange(len(batch)), counts)
                seen_items = np.concatenate([self.indices[self.indptr[u]:self.indptr[u + 1]] for u in batch]
                                            or [np.empty(0, np.int64)])
            for lo in range(0, len(self.items), item_batch):
                scores = self.user_reps[batch] @ self.item_reps[lo:lo + item_batch].T
                if exclude_seen:
                    inside = (seen_items >= lo) & (seen_items < lo + scores.shape[1])
                    scores[seen_rows[inside], seen_items[inside] - lo] = -np.inf
                if scores.shape[1] > k:  # the chunk's k best (in any order), found without sorting it
                    part = np.argpartition(-scores, k - 1, axis=1)[:, :k]
                    scores, items = np.take_along_axis(scores, part, 1), part + lo
                else:
                    items = np.broadcast_to(np.arange(lo, lo + scores.shape[1]), scores.shape)
                best_scores = np.concatenate([best_scores, scores.astype(np.float32)], 1)
                best_items = np.concatenate([best_items, items], 1)
                # highest score first; among equal scores the lower item index
                order = np.lexsort((best_items, -best_scores), axis=1)[:, :k]
                best_scores = np.take_along_axis(best_scores, order, 1)
                best_items = np.take_along_axis(best_items, order, 1)
            yield TopK(self.users[batch], self.items[best_items], best_scores)
