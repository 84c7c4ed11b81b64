"""Where datasets come from: a folder path, the shared data folder, or a built-in name.

Built-ins:
* ``ml-100k``: MovieLens-100K (real), from ``<data dir>/ml-100k/ml-100k.inter`` when present, else
  from the ``recbole`` 1.2.1 wheel on PyPI (fetched with ``pip download``, checked by sha256, never
  installed). Ratings become implicit interactions; 5-core; MMRec-rule split with seed 999.
  Built once into the cache folder (``$GTCREC_CACHE`` or ``~/.cache/gtcrec``).
* ``ml-100k-mm``: ML-100K-MM, the same interactions with two content modalities built offline from
  ``<data dir>/ml-100k``: ``text`` (title, year, genres; all-MiniLM-L6-v2) and ``image`` (posters;
  EfficientNet-Lite0). Built once into the cache by :func:`build_ml100k_mm` (a few minutes on CPU).
* ``synthetic``: the planted multimodal dataset of :mod:`gtcrec.data.synthetic` (in memory).
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

from ..atomic import current_umask
from .dataset import InteractionData
from .errors import DataError
from .importer import import_interactions
from .mmrec import load_mmrec
from .synthetic import SyntheticConfig, make_synthetic

RECBOLE_WHEEL = "recbole-1.2.1-py3-none-any.whl"
RECBOLE_SHA256 = "9c9948202011f37eb0a7c6768129313f00d6403ad221ec940d5e2d5d5f33a407"
ML100K_INTER_SHA256 = "4edb74e2a81178c2ba9ff381495f754f996c4aea351b1272ca36b43da0935eff"
ML100K_IN_WHEEL = "recbole/dataset_example/ml-100k/ml-100k.inter"
BUILTIN = ("ml-100k", "ml-100k-mm", "synthetic")


def cache_dir() -> Path:
    return Path(os.environ.get("GTCREC_CACHE", Path.home() / ".cache" / "gtcrec"))


CHECKOUT = Path(__file__).resolve().parents[3]  # the source checkout, when gtcrec runs from one (src layout)


def data_dirs() -> list[Path]:
    """Folders searched for datasets by name: $GTCREC_DATA_DIR, ./shared/data, ../shared/data, and the
    shared/data beside the gtcrec checkout (so that names work from any working directory)."""
    dirs = []
    if os.environ.get("GTCREC_DATA_DIR"):
        dirs.append(Path(os.environ["GTCREC_DATA_DIR"]))
    dirs += [Path("shared/data"), Path("../shared/data"), CHECKOUT.parent / "shared" / "data"]
    return [d for d in dirs if d.is_dir()]


def find_shared(name: str) -> Path | None:
    for d in data_dirs():
        if (d / name).is_dir():
            return d / name
    return None


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _ml100k_raw(cache: Path) -> Path:
    """Path of the raw RecBole ml-100k.inter, from shared data or the recbole wheel."""
    shared = find_shared("ml-100k")
    if shared and (shared / "ml-100k.inter").exists():
        path = shared / "ml-100k.inter"
        if _sha256(path) != ML100K_INTER_SHA256:
            raise DataError(f"sha256 differs from RecBole's ml-100k.inter ({ML100K_INTER_SHA256})", path=str(path))
        return path
    raw = cache / "raw" / "ml-100k.inter"
    if raw.exists():
        return raw
    wheel_dir = cache / "raw"
    wheel_dir.mkdir(parents=True, exist_ok=True)
    wheel = wheel_dir / RECBOLE_WHEEL
    if not wheel.exists():
        cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:", "recbole==1.2.1",
               "-d", str(wheel_dir)]
        result = subprocess.run(cmd, check=False, capture_output=True, text=True)
        if result.returncode != 0 or not wheel.exists():
            raise DataError(f"could not download {RECBOLE_WHEEL} with pip (no network?). "
                            f"pip said: {result.stderr.strip()[-500:]}", path=str(wheel_dir))
    if _sha256(wheel) != RECBOLE_SHA256:
        raise DataError(f"sha256 mismatch, expected {RECBOLE_SHA256}", path=str(wheel))
    with zipfile.ZipFile(wheel) as zf, tempfile.NamedTemporaryFile("wb", dir=wheel_dir, delete=False) as tmp:
        tmp.write(zf.read(ML100K_IN_WHEEL))
    os.replace(tmp.name, raw)
    return raw


def build_ml100k(cache: Path | None = None) -> Path:
    """Build (once) the ml-100k MMRec folder in the cache and return its path."""
    cache = cache or cache_dir()
    out = cache / "datasets" / "ml-100k"
    if (out / "dataset.yaml").exists():
        return out
    raw = _ml100k_raw(cache)
    (cache / "datasets").mkdir(parents=True, exist_ok=True)
    tmp_out = Path(tempfile.mkdtemp(dir=cache / "datasets"))
    import_interactions(raw, tmp_out, name="ml-100k", user_col="user_id:token", item_col="item_id:token",
                        rating_col="rating:float", timestamp_col="timestamp:float", kcore=5, seed=999)
    os.chmod(tmp_out, 0o777 & ~current_umask())  # mkdtemp makes it 0700
    os.replace(tmp_out, out)  # atomic: a half-built folder is never seen as done
    return out


ML100K_MM_TEXT_TEMPLATE = "{movie_title:token_seq} ({release_year:token}). Genres: {class:token_seq}."


def ml100k_mm_options(raw_dir: Path, progress: bool = True):
    """The import options that define ML-100K-MM (``gtcrec data import`` with these flags gives the same folder)."""
    from .catalogue import ContentOptions

    import_options = {"name": "ml-100k-mm", "user_col": "user_id:token", "item_col": "item_id:token",
                          "rating_col": "rating:float", "timestamp_col": "timestamp:float", "kcore": 5, "seed": 999}
    content = ContentOptions(items=str(raw_dir / "ml-100k.item"), items_id_col="item_id:token",
                             text_template=ML100K_MM_TEXT_TEMPLATE, image_dir=str(raw_dir / "posters"),
                             progress=progress)
    return import_options, content


def build_ml100k_mm(cache: Path | None = None, progress: bool = True) -> Path:
    """Build (once) ML-100K-MM from the shared ml-100k folder (interactions, item table, posters)."""
    from .catalogue import import_catalogue

    cache = cache or cache_dir()
    out = cache / "datasets" / "ml-100k-mm"
    if (out / "dataset.yaml").exists():
        return out
    raw_dir = find_shared("ml-100k")
    if raw_dir is None or not (raw_dir / "posters").is_dir() or not (raw_dir / "ml-100k.item").exists():
        raise DataError("ml-100k-mm is built from a data folder 'ml-100k' holding ml-100k.inter, ml-100k.item and "
                        "posters/; none was found (set GTCREC_DATA_DIR)")
    raw = _ml100k_raw(cache)  # the shared ml-100k.inter, sha256-checked
    (cache / "datasets").mkdir(parents=True, exist_ok=True)
    import_options, content = ml100k_mm_options(raw_dir, progress)
    # built beside and renamed into place: a half-built folder is never seen as done
    import_catalogue(raw, out, content=content, force=True, **import_options)
    return out


def dataset_folder(name_or_path: str) -> Path | None:
    """The folder a dataset is read from (built first if it is a built-in); None for in-memory data."""
    if name_or_path == "synthetic":
        return None
    if name_or_path == "ml-100k":
        return build_ml100k()
    if name_or_path == "ml-100k-mm":
        return build_ml100k_mm()
    path = Path(name_or_path)
    if path.is_dir():
        return path
    return find_shared(name_or_path)


def load_dataset(name_or_path: str, modalities: list[str] | None = None) -> InteractionData:
    """Load a dataset by folder path, built-in name, or name of a folder in :func:`data_dirs`."""
    if name_or_path == "synthetic":
        return make_synthetic(SyntheticConfig()).with_modalities(modalities)
    if name_or_path == "ml-100k":
        return load_mmrec(build_ml100k(), modalities)
    if name_or_path == "ml-100k-mm":
        return load_mmrec(build_ml100k_mm(), modalities)
    path = Path(name_or_path)
    if path.is_dir():
        return load_mmrec(path, modalities)
    shared = find_shared(name_or_path)
    if shared is not None:
        return load_mmrec(shared, modalities)
    searched = [str(d) for d in data_dirs()] or ["(no data folder found: set GTCREC_DATA_DIR)"]
    raise DataError(f"unknown dataset {name_or_path!r}: not a folder, not one of {list(BUILTIN)}, "
                    f"not found under {searched}")
