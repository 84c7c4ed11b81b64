"""Errors and warnings raised for bad input data."""

from __future__ import annotations

from ..errors import UserError


class DataError(UserError, ValueError):
    """Input data is malformed. The message names the file, line/row or field and what was expected."""

    def __init__(self, message: str, *, path: str | None = None, line: int | None = None):
        where = ""
        if path is not None:
            where = f"{path}"
            if line is not None:
                where += f", line {line}"
            where += ": "
        super().__init__(where + message)
        self.path = path
        self.line = line


class DataWarning(UserWarning):
    """Input data is usable but something in it was handled by a documented policy."""
