"""The in-memory dataset every model and trainer works on."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

import numpy as np
import scipy.sparse as sp

from ..config import FEATURE_SCALINGS  # one list of choices, kept with the options
from .errors import DataError

SPLITS = ("train", "valid", "test")


def pairs_to_csr(pairs: np.ndarray, n_users: int, n_items: int) -> sp.csr_matrix:
    """Binary user x item matrix of (user, item) pairs (sorted indices, duplicates merged to 1)."""
    mat = sp.csr_matrix((np.ones(len(pairs), dtype=np.float32), (pairs[:, 0], pairs[:, 1])),
                        shape=(n_users, n_items))
    mat.sum_duplicates()
    mat.data[:] = 1.0
    mat.sort_indices()
    return mat




def array_digest(*arrays: np.ndarray) -> str:
    """sha256 of arrays' dtypes, shapes and bytes, in order (not of a .npy file: its header is left out).

    Read in blocks of rows, without a copy of a C-contiguous (e.g. memory-mapped) array.
    """
    h = hashlib.sha256()
    for array in arrays:
        h.update(str((array.dtype.str, array.shape)).encode())
        rows = array.reshape(1, -1) if array.ndim < 2 else array
        step = max(1, (64 << 20) // max(1, rows[:1].nbytes))  # about 64 MiB at a time
        for start in range(0, len(rows), step):
            h.update(memoryview(np.ascontiguousarray(rows[start:start + step])).cast("B"))
    return h.hexdigest()


def scale_features(features: np.ndarray, how: str) -> np.ndarray:
    """A float32 copy of an (n_items, dim) feature matrix, rescaled as ``how`` says (see with_feature_scaling)."""
    x = np.asarray(features, dtype=np.float64)
    if how == "standardize":
        std = x.std(axis=0)
        x = (x - x.mean(axis=0)) / np.where(std > 0, std, 1.0)
    elif how == "l2":
        norms = np.linalg.norm(x, axis=1, keepdims=True)
        x = x / np.where(norms > 0, norms, 1.0)
    elif how != "none":
        raise ValueError(f"feature scaling {how!r}: expected one of {FEATURE_SCALINGS}")
    return x.astype(np.float32)


def scale_like(new: np.ndarray, reference: np.ndarray, how: str) -> np.ndarray:
    """Rows ``new`` scaled as ``scale_features(reference, how)`` scaled the reference's rows.

    ``standardize`` uses the reference catalogue's statistics, so that items added later are on the
    scale the model was trained on and the reference rows are unchanged.
    """
    x = np.asarray(new, dtype=np.float64)
    if how == "standardize":
        ref = np.asarray(reference, dtype=np.float64)
        std = ref.std(axis=0)
        return ((x - ref.mean(axis=0)) / np.where(std > 0, std, 1.0)).astype(np.float32)
    return scale_features(x, how)


@dataclass
class InteractionData:
    """Implicit-feedback interactions split into train/valid/test, plus item content features.

    Pairs are int64 arrays of shape (n, 2) holding (user, item); ids are dense in
    [0, n_users) and [0, n_items). ``features`` maps a modality name (e.g. "visual")
    to a float32 array of shape (n_items, dim), row i describing item i.
    """

    name: str
    n_users: int
    n_items: int
    train: np.ndarray
    valid: np.ndarray
    test: np.ndarray
    features: dict[str, np.ndarray] = field(default_factory=dict)
    source: str = ""

    def __post_init__(self) -> None:
        for split in SPLITS:
            pairs = np.asarray(getattr(self, split), dtype=np.int64).reshape(-1, 2)
            setattr(self, split, pairs)
        for modality, feat in self.features.items():
            if feat.shape[0] != self.n_items:
                raise DataError(f"modality {modality!r}: {feat.shape[0]} feature rows for {self.n_items} items; expected one row per item")

    def fingerprint(self) -> dict[str, str]:
        """Short digests (:func:`array_digest`, 16 hex digits) of the split pairs and of each modality's features.

        Every trained seed records them, taken before feature scaling (so a feature report's ``sha256`` starts
        with its modality's): features encoded again on another machine or with other library versions can
        differ in their last bits, which changes training; two runs are comparable only where these agree.
        """
        return {"interactions": array_digest(self.train, self.valid, self.test)[:16],
                **{modality: array_digest(feat)[:16] for modality, feat in sorted(self.features.items())}}

    def pairs(self, split: str) -> np.ndarray:
        if split not in SPLITS:
            raise ValueError(f"split must be one of {SPLITS}, got {split!r}")
        return getattr(self, split)

    def csr(self, split: str) -> sp.csr_matrix:
        """Binary user x item matrix of one split."""
        return pairs_to_csr(self.pairs(split), self.n_users, self.n_items)

    @property
    def modalities(self) -> list[str]:
        return list(self.features)

    def with_modalities(self, names: list[str] | None) -> InteractionData:
        """A view keeping only the named content modalities (None keeps all)."""
        if names is None:
            return self
        missing = [m for m in names if m not in self.features]
        if missing:
            raise DataError(f"dataset {self.name!r} has no modality {missing}; expected some of {self.modalities}")
        return InteractionData(
            self.name, self.n_users, self.n_items, self.train, self.valid, self.test,
            {m: self.features[m] for m in names}, self.source,
        )

    def with_feature_scaling(self, how: str) -> InteractionData:
        """A copy whose content features are rescaled (``how`` in :data:`FEATURE_SCALINGS`).

        * ``none``: unchanged (MMRec feeds raw features to every model);
        * ``standardize``: every dimension to zero mean and unit variance over the items
          (constant dimensions become 0). Removes a shared offset, e.g. TikTok's image features,
          where two random items have cosine 0.86;
        * ``l2``: every item's row to unit length (all-zero rows stay zero).

        Statistics are over all items of the catalogue: features are content, not labels.
        """
        if how not in FEATURE_SCALINGS:
            raise ValueError(f"data option feature_scaling={how!r}: expected one of {FEATURE_SCALINGS}")
        if how == "none" or not self.features:
            return self
        return InteractionData(self.name, self.n_users, self.n_items, self.train, self.valid, self.test,
                               {m: scale_features(f, how) for m, f in self.features.items()}, self.source)

    def users_with_train(self) -> np.ndarray:
        """Boolean mask over users: True where the user has at least one training interaction."""
        has = np.zeros(self.n_users, dtype=bool)
        has[self.train[:, 0]] = True
        return has
