"""Peak memory of one training run: GPU allocator peak on CUDA, process peak RSS on CPU (Linux)."""

from __future__ import annotations

from pathlib import Path

import torch

_STATUS = Path("/proc/self/status")
_CLEAR_REFS = Path("/proc/self/clear_refs")


def reset_peak_memory(device: torch.device) -> None:
    """Start a new peak measurement. On CPU this resets the kernel's high-water mark (Linux only)."""
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
        return
    try:
        _CLEAR_REFS.write_text("5")  # "5" resets VmHWM to the current RSS
    except OSError:
        pass


def peak_memory_mb(device: torch.device) -> float | None:
    """Peak MiB since :func:`reset_peak_memory`; ``None`` where it cannot be measured.

    CUDA: ``torch.cuda.max_memory_allocated`` (tensors only). CPU: the process's peak resident set
    (VmHWM), which also counts the interpreter and the loaded dataset.
    """
    if device.type == "cuda":
        return torch.cuda.max_memory_allocated(device) / 2**20
    try:
        for line in _STATUS.read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except (OSError, ValueError, IndexError):
        pass
    return None
