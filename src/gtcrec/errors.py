"""The one error type for user mistakes: the CLI prints it as one line and exits with code 2.

Anything else that escapes a command is a bug in gtcrec; the CLI says so, shows the traceback and asks
for a report. Raise a subclass of :class:`UserError` only for input the user controls (files, options,
ids), with a message that names it and what was expected.
"""

from __future__ import annotations


class UserError(Exception):
    """A mistake in the user's input: a file, an option or an id. The message says what and what was expected."""


class MissingExtra(UserError, ImportError):
    """An optional dependency that the command needs is not installed; the message names the extra."""
