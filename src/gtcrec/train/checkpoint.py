"""Checkpoints in safetensors (no pickle), written atomically; a resumable checkpoint is one self-contained file."""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import load_file, save_file

from ..atomic import atomic_write_bytes, atomic_write_json, publish  # noqa: F401  (re-exported)
from ..data.errors import DataError

STATE_KEY = "gtcrec.state"  # the JSON training state, in the safetensors header's metadata


def save_tensors(path: Path, tensors: dict[str, torch.Tensor], metadata: dict[str, str] | None = None, *,
                 keep_previous: Path | None = None) -> None:
    """Write ``tensors`` to ``path`` atomically. With ``keep_previous``, the file it replaces is kept there
    (renamed, not copied), so a reader finds the new file, or failing that the previous one."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    os.close(fd)
    try:
        clean = {k: v.detach().cpu().contiguous().clone() for k, v in tensors.items()}
        save_file(clean, tmp, metadata=metadata)
        if keep_previous is not None and path.exists():
            os.replace(path, keep_previous)
        publish(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def load_tensors(path: Path, device: torch.device | str = "cpu") -> dict[str, torch.Tensor]:
    """The tensors of a safetensors file; a damaged or foreign file is a DataError naming it."""
    try:
        return load_file(str(path), device=str(device))
    except (SafetensorError, OSError, ValueError) as exc:
        raise DataError(f"not a readable safetensors checkpoint ({exc}); expected a file written by gtcrec",
                        path=str(path)) from None


def save_checkpoint(path: Path, tensors: dict[str, torch.Tensor], state: dict, previous: Path) -> None:
    """A resumable checkpoint: tensors and the JSON ``state`` in one file, so the two can never disagree."""
    save_tensors(path, tensors, {STATE_KEY: json.dumps(state, default=str)}, keep_previous=previous)


def load_checkpoint(path: Path, device: torch.device | str = "cpu") -> tuple[dict[str, torch.Tensor], dict]:
    """(tensors, state) of a checkpoint written by :func:`save_checkpoint`; DataError naming a damaged file."""
    try:
        with safe_open(str(path), framework="pt") as handle:
            metadata = handle.metadata() or {}
        state = json.loads(metadata[STATE_KEY])
        if not isinstance(state, dict):
            raise TypeError("the training state is not a mapping")
    except (SafetensorError, OSError, ValueError, KeyError, TypeError) as exc:
        raise DataError(f"not a usable checkpoint ({type(exc).__name__}: {exc}); expected a file written by "
                        "gtcrec train", path=str(path)) from None
    return load_tensors(path, device), state


def optimizer_to_tensors(optimizer: torch.optim.Optimizer) -> tuple[dict[str, torch.Tensor], dict]:
    """Split an optimizer state dict into tensors (for safetensors) and JSON-able scalars."""
    state = optimizer.state_dict()
    tensors, scalars = {}, {"param_groups": state["param_groups"], "state": {}}
    for idx, entry in state["state"].items():
        scalars["state"][str(idx)] = {}
        for key, value in entry.items():
            if torch.is_tensor(value):
                tensors[f"optim.{idx}.{key}"] = value
            else:
                scalars["state"][str(idx)][key] = value
    return tensors, scalars


def optimizer_from_tensors(optimizer: torch.optim.Optimizer, tensors: dict[str, torch.Tensor], scalars: dict) -> None:
    state: dict[int, dict] = {int(i): dict(v) for i, v in scalars["state"].items()}
    for name, value in tensors.items():
        _, idx, key = name.split(".", 2)
        state.setdefault(int(idx), {})[key] = value
    optimizer.load_state_dict({"state": state, "param_groups": scalars["param_groups"]})
