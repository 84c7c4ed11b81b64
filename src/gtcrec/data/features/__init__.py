"""Content features from raw item data: text (sentence-transformers) and images (CNN), offline.

The ``*_for_dataset`` functions align an item table or image folder to a dataset folder's items
(through its ``i_id_mapping.csv``), encode, fill items without content, and write
``<modality>_feat.npy`` plus a report into the folder.
"""

from __future__ import annotations

from pathlib import Path

from ..errors import DataError
from .common import (
    FeatureReport,
    align_rows,
    columns_template,
    dataset_item_keys,
    render_template,
    template_fields,
    write_modality,
)
from .image import (
    DEFAULT_IMAGE_BACKBONE,
    encode_images,
    images_in_folder,
    load_image_encoder,
)
from .text import DEFAULT_TEXT_MODEL, encode_texts, load_text_encoder


def _read_items(items_path: str | Path, sep: str | None = None):
    from ..importer import read_table

    return read_table(items_path, sep)


def text_features_for_dataset(
    dataset_dir: str | Path,
    items_path: str | Path,
    *,
    id_col: str = "item_id",
    template: str | None = None,
    columns: list[str] | None = None,
    modality: str = "text",
    model: str | None = None,
    batch_size: int = 64,
    device: str = "cpu",
    fill: str = "mean",
    progress: bool = True,
    sep: str | None = None,
) -> FeatureReport:
    """Encode each dataset item's text (``template`` over the items table's columns, or ``columns``
    joined MMRec-style) and write ``<modality>_feat.npy`` into the dataset folder."""
    if (template is None) == (columns is None):
        raise DataError("give either a text template or a list of text columns")
    template = template if template is not None else columns_template(columns or [])
    template_fields(template)
    keys = dataset_item_keys(dataset_dir)
    table = _read_items(items_path, sep)
    rows, unused = align_rows(table, id_col, keys, items_path)
    rendered = render_template(table, template, items_path)
    texts = [rendered[r] if r >= 0 else None for r in rows]
    features, report = encode_texts(texts, model=model, batch_size=batch_size, device=device, fill=fill,
                                    progress=progress, modality=modality, keys=keys)
    report.extra.update({"template": template, "items_file": str(Path(items_path).resolve()), "items_rows_unused": unused,
                         "items_without_row": int((rows < 0).sum()), "example": next((t for t in texts if t), None)})
    write_modality(dataset_dir, modality, features, report)
    return report


def image_features_for_dataset(
    dataset_dir: str | Path,
    *,
    image_dir: str | Path | None = None,
    items_path: str | Path | None = None,
    id_col: str = "item_id",
    image_col: str | None = None,
    image_root: str | Path | None = None,
    modality: str = "image",
    backbone: str = DEFAULT_IMAGE_BACKBONE,
    weights: str | Path | None = None,
    batch_size: int = 32,
    workers: int = 0,
    device: str = "cpu",
    resize: str = "crop",
    fill: str = "mean",
    progress: bool = True,
    sep: str | None = None,
) -> FeatureReport:
    """Encode each dataset item's image and write ``<modality>_feat.npy`` into the dataset folder.

    Images come from ``image_dir`` (files named by raw item id, e.g. ``123.jpg``) or from an items
    table's ``image_col`` (paths relative to ``image_root``, default the table's folder).
    """
    keys = dataset_item_keys(dataset_dir)
    extra: dict[str, object] = {}
    if (image_dir is None) == (image_col is None):
        raise DataError("give either an image folder or an items table with an image-path column")
    if image_dir is not None:
        found = images_in_folder(image_dir)
        paths = [found.get(k) for k in keys]
        extra.update(image_dir=str(Path(image_dir).resolve()), images_unused=len(set(found) - set(keys)))
    else:
        if items_path is None:
            raise DataError("an image-path column needs the items table")
        table = _read_items(items_path, sep)
        if image_col not in table.columns:
            raise DataError(f"no image column {image_col!r}; columns are {list(table.columns)}", path=str(items_path))
        rows, unused = align_rows(table, id_col, keys, items_path)
        root = Path(image_root) if image_root is not None else Path(items_path).parent
        cells = table[image_col].tolist()
        paths = [None if r < 0 or not isinstance(cells[r], str) or not cells[r].strip() else root / cells[r].strip()
                 for r in rows]
        extra.update(items_file=str(Path(items_path).resolve()), image_column=image_col, items_rows_unused=unused)
    features, report = encode_images(paths, backbone=backbone, weights=weights, batch_size=batch_size,
                                     workers=workers, device=device, resize=resize, fill=fill, progress=progress,
                                     modality=modality, keys=keys)
    report.extra.update(extra)
    if weights is not None:  # so that items added later can be encoded alike
        report.extra["weights"] = str(Path(weights).resolve())
    write_modality(dataset_dir, modality, features, report)
    return report


__all__ = [
    "DEFAULT_IMAGE_BACKBONE", "DEFAULT_TEXT_MODEL", "FeatureReport", "encode_images", "encode_texts",
    "image_features_for_dataset", "images_in_folder", "load_image_encoder", "load_text_encoder",
    "render_template", "text_features_for_dataset",
]
