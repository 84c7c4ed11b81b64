"""One step from a raw catalogue to a dataset folder: interactions, then every content modality."""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path

from ..atomic import atomic_write_json, building_folder
from .errors import DataError
from .importer import import_interactions


@dataclass
class ContentOptions:
    """Where each item's content is and how to encode it. A modality with no source is skipped."""

    items: str | None = None  # items table (CSV/TSV/Parquet) with an id column, text columns, image paths
    items_id_col: str = "item_id"
    text_template: str | None = None  # e.g. "{title}. {genres}"
    text_columns: list[str] | None = None  # MMRec-style: these columns joined
    text_model: str | None = None
    text_modality: str = "text"
    image_dir: str | None = None  # files named by raw item id
    image_col: str | None = None  # or a column of image paths in the items table
    image_root: str | None = None
    image_backbone: str = "efficientnet-lite0"
    image_weights: str | None = None
    image_resize: str = "crop"
    image_modality: str = "image"
    fill: str = "mean"
    device: str = "cpu"
    text_batch_size: int = 64
    image_batch_size: int = 32
    workers: int = 0
    progress: bool = True
    sep: str | None = None

    def wants_text(self) -> bool:
        return self.text_template is not None or bool(self.text_columns)

    def wants_images(self) -> bool:
        return self.image_dir is not None or self.image_col is not None


@dataclass
class CatalogueReport:
    interactions: dict
    modalities: dict[str, dict] = field(default_factory=dict)

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2, default=str)


def import_catalogue(interactions: str | Path, out_dir: str | Path, *, content: ContentOptions | None = None,
                     force: bool = False, **import_options) -> CatalogueReport:
    """``import_interactions`` (k-core, split, id maps) and then text and image features for the kept items.

    The dataset is built in a hidden folder beside ``out_dir`` and renamed into place at the end, so a
    failure leaves nothing behind. A non-empty ``out_dir`` is refused unless ``force`` (then replaced whole,
    never mixed with its old files).
    """
    from .features import image_features_for_dataset, text_features_for_dataset

    content = content or ContentOptions()
    if content.wants_text() and content.items is None:
        raise DataError("text features need the items table (--items)")
    out = Path(out_dir)
    if out.exists() and not out.is_dir():
        raise DataError("exists and is a file; expected a new or empty folder", path=str(out))
    if out.is_dir() and any(out.iterdir()) and not force:
        raise DataError("exists and is not empty; expected a new or empty folder (--force replaces it)",
                        path=str(out))
    inputs = [interactions, content.items, content.image_dir, content.image_root, content.image_weights]
    for source in (Path(x).resolve() for x in inputs if x is not None):
        if source == out.resolve() or out.resolve() in source.parents:
            raise DataError(f"holds the input {source}; expected an output folder apart from the inputs",
                            path=str(out))
    import_options.setdefault("name", None)
    import_options["name"] = import_options["name"] or out.resolve().name
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise DataError(f"cannot create its parent folder ({exc.strerror}); expected a writable place",
                        path=str(out)) from None
    if not os.access(out.parent, os.W_OK | os.X_OK):
        raise DataError("its parent folder is not writable; expected a writable place", path=str(out))
    with building_folder(out) as build:
        report = CatalogueReport(asdict(import_interactions(interactions, build, **import_options)))
        if content.wants_text():
            text = text_features_for_dataset(
                build, content.items, id_col=content.items_id_col, template=content.text_template,
                columns=content.text_columns, modality=content.text_modality, model=content.text_model,
                batch_size=content.text_batch_size, device=content.device, fill=content.fill,
                progress=content.progress, sep=content.sep)
            report.modalities[content.text_modality] = asdict(text)
        if content.wants_images():
            image = image_features_for_dataset(
                build, image_dir=content.image_dir, items_path=content.items, id_col=content.items_id_col,
                image_col=content.image_col, image_root=content.image_root, modality=content.image_modality,
                backbone=content.image_backbone, weights=content.image_weights,
                batch_size=content.image_batch_size, workers=content.workers, device=content.device,
                resize=content.image_resize, fill=content.fill, progress=content.progress, sep=content.sep)
            report.modalities[content.image_modality] = asdict(image)
        atomic_write_json(build / "import_report.json", json.loads(report.to_json()))
    return report
