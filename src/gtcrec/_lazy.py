"""Lazy package exports: a name is imported from its submodule on first use, so that `gtcrec --help` and
argument errors do not wait for torch and pandas to load."""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any


def lazy_exports(package: str, where: dict[str, str]) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """``__getattr__`` and ``__dir__`` for ``package``: ``where`` maps an exported name to its submodule."""

    def __getattr__(name: str) -> Any:
        if name not in where:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        return getattr(importlib.import_module(where[name], package), name)

    def __dir__() -> list[str]:
        import sys

        return sorted(set(where) | set(vars(sys.modules[package])))

    return __getattr__, __dir__
