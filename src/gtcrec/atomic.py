"""Atomic file writes: a reader sees the old file or the complete new one, never a partial one."""

from __future__ import annotations

import io
import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np


def current_umask() -> int:
    """The process's umask, read without changing it (os.umask would, for a moment, in every thread)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    except OSError:
        pass
    mask = os.umask(0o022)  # no /proc: set and restore at once
    os.umask(mask)
    return mask


def publish(tmp: str | Path, path: str | Path) -> None:
    """Rename a finished temporary file onto ``path``, with the mode a plain ``open`` would have given it
    (mkstemp makes files 0600, which would hide results from other users of a shared machine)."""
    os.chmod(tmp, 0o666 & ~current_umask())
    os.replace(tmp, path)


def atomic_write_bytes(path: Path, data: bytes) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        publish(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def atomic_write_json(path: Path, obj: Any) -> None:
    atomic_write_bytes(path, json.dumps(obj, indent=2, default=str).encode())


def atomic_write_npy(path: Path, array: np.ndarray) -> None:
    buffer = io.BytesIO()
    np.save(buffer, array, allow_pickle=False)
    atomic_write_bytes(path, buffer.getvalue())


@contextmanager
def building_folder(destination: Path) -> Iterator[Path]:
    """A new folder built beside ``destination`` and renamed onto it at the end (replacing what was there),
    with the modes the umask gives; on any failure it is removed and ``destination`` is left as it was."""
    destination = Path(destination).resolve()
    destination.parent.mkdir(parents=True, exist_ok=True)
    build = Path(tempfile.mkdtemp(dir=destination.parent, prefix=f".{destination.name}.building-"))
    try:
        yield build
        for path in build.rglob("*"):  # mkstemp/mkdtemp made some of them private
            os.chmod(path, (0o777 if path.is_dir() else 0o666) & ~current_umask())
        os.chmod(build, 0o777 & ~current_umask())
        if destination.exists():  # the old folder goes aside first, so one of the two always exists
            aside = Path(tempfile.mkdtemp(dir=destination.parent, prefix=f".{destination.name}.old-"))
            os.replace(destination, aside / destination.name)
            os.replace(build, destination)
            shutil.rmtree(aside, ignore_errors=True)
        else:
            os.replace(build, destination)
    except BaseException:
        shutil.rmtree(build, ignore_errors=True)
        raise
