"""Raw content of new items (text, image files) -> feature rows, with the encoder the dataset was built with.

Each ``<modality>_feat.npy`` written by ``gtcrec data text-features`` / ``image-features`` has a report
beside it naming its encoder; new items must go through the same one, or their rows would live in another
space. Items with no content get the row the dataset gave its own items without content (the report's fill
policy: the catalogue's mean row, or zeros).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from ..data.errors import DataError

TEXT_PREFIX = "sentence-transformers:"


class ContentEncoder:
    """Encodes one modality's raw content as the dataset's feature report says it was encoded."""

    def __init__(self, dataset_folder: Path | None, modality: str):
        path = None if dataset_folder is None else Path(dataset_folder) / f"{modality}_feat.report.json"
        if path is None or not path.is_file():
            raise DataError(f"modality {modality!r}: no feature report beside the dataset, so the encoder that "
                            "built its features is unknown; give feature rows instead of raw content",
                            path=None if path is None else str(path))
        try:
            report = json.loads(path.read_text())
            self.encoder = str(report["encoder"])
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise DataError(f"not a readable feature report ({exc})", path=str(path)) from None
        self.modality = modality
        self.fill = report.get("fill", "mean")
        self.extra = report.get("extra") or {}
        self.kind = "text" if self.encoder.startswith(TEXT_PREFIX) else "image"
        if self.kind == "image" and self.encoder.startswith("torchvision:") and "weights" not in self.extra:
            raise DataError(f"modality {modality!r}: encoder {self.encoder} with weights that the report does not "
                            "record; give feature rows instead of raw content", path=str(path))

    def encode(self, values: Sequence[str | None], catalogue: np.ndarray) -> np.ndarray:
        """One feature row per value (a text, or an image file path); None gets the fill row."""
        present = np.array([v is not None and str(v).strip() != "" for v in values], dtype=bool)
        out = np.empty((len(values), catalogue.shape[1]), dtype=np.float32)
        out[~present] = catalogue.mean(axis=0) if self.fill == "mean" else 0.0
        chosen = [str(values[i]) for i in np.flatnonzero(present)]
        if chosen:
            rows = self._encode(chosen)
            if rows.shape[1] != catalogue.shape[1]:
                raise DataError(f"modality {self.modality!r}: the encoder {self.encoder} gives {rows.shape[1]} "
                                f"dimensions, the run's features have {catalogue.shape[1]}")
            out[present] = rows
        return out

    def _encode(self, values: list[str]) -> np.ndarray:
        if self.kind == "text":
            from ..data.features.text import encode_texts

            rows, _ = encode_texts(values, model=self.encoder[len(TEXT_PREFIX):], progress=False,
                                   modality=self.modality)
            return rows
        from ..data.features.image import encode_images

        missing = [v for v in values if not Path(v).is_file()]
        if missing:
            raise DataError(f"modality {self.modality!r}: no image file {missing[0]!r}")
        rows, report = encode_images(values, backbone=self.encoder, weights=self.extra.get("weights"),
                                     resize=self.extra.get("resize", "crop"), progress=False,
                                     modality=self.modality)
        if report.failed:
            raise DataError(f"modality {self.modality!r}: cannot read image {report.failed[0]['path']!r} "
                            f"({report.failed[0]['error']})")
        return rows
