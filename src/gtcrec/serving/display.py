"""What a person sees of an item: a title and a picture, where the catalogue has them.

From an items table (an id column and a title column) and a folder of images named by item id
(``<id>.jpg``, ``.png``, ...), as ``gtcrec data import`` reads them. Without flags, ``gtcrec serve`` finds
them through the dataset's feature reports (``text_feat.report.json`` names the items table,
``image_feat.report.json`` the image folder), as ML-100K-MM has them.
"""

from __future__ import annotations

import json
from pathlib import Path

from ..data.errors import DataError
from ..data.importer import read_table

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".webp", ".gif")


class ItemDisplay:
    """Titles and image files by original item id; either may be missing for any item."""

    def __init__(self, titles: dict[str, str] | None = None, image_dir: Path | None = None):
        self.titles = titles or {}
        self.image_dir = Path(image_dir) if image_dir else None

    def title(self, item: str) -> str | None:
        return self.titles.get(str(item))

    def image_path(self, item: str) -> Path | None:
        if self.image_dir is None:
            return None
        name = str(item)
        if "/" in name or "\\" in name or name.startswith("."):  # ids are names in the folder, never paths
            return None
        for suffix in IMAGE_SUFFIXES:
            path = self.image_dir / f"{name}{suffix}"
            if path.is_file():
                return path
        return None

    @classmethod
    def from_table(cls, path: str | Path, *, id_col: str | None = None, title_col: str | None = None,
                   image_dir: str | Path | None = None, sep: str | None = None) -> ItemDisplay:
        """Titles from an items table: ``id_col`` (default: the first column whose name starts with
        ``item_id``, else the first column) and ``title_col`` (default: the first column with "title" in
        its name, else the second column)."""
        table = read_table(Path(path), sep)
        columns = list(table.columns)
        id_col = id_col or next((c for c in columns if c.lower().startswith("item_id")), columns[0])
        if title_col is None:
            title_col = next((c for c in columns if "title" in c.lower()), columns[1] if len(columns) > 1 else None)
        for name, col in (("id", id_col), ("title", title_col)):
            if col not in columns:
                raise DataError(f"no {name} column {col!r}; columns: {columns}", path=str(path))
        titles = dict(zip(table[id_col].astype(str), table[title_col].astype(str)))
        return cls(titles, image_dir)

    @classmethod
    def from_dataset(cls, folder: Path | None) -> ItemDisplay:
        """Whatever the dataset's feature reports point to (nothing when they point nowhere)."""
        if folder is None:
            return cls()
        items_file = image_dir = None
        for report in sorted(Path(folder).glob("*_feat.report.json")):
            try:
                extra = json.loads(report.read_text()).get("extra", {})
            except (OSError, ValueError):
                continue
            items_file = items_file or extra.get("items_file")
            image_dir = image_dir or extra.get("image_dir")
        if image_dir and not Path(image_dir).is_dir():
            image_dir = None
        if items_file and Path(items_file).is_file():
            return cls.from_table(items_file, image_dir=image_dir)
        return cls(image_dir=image_dir)
