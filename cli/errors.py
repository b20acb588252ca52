"""Errors the command line itself raises (bad or missing options), with a hint.

Failures from the layers below keep their own types; ``main`` turns any of them into one
error line plus a hint (``mcp_server.hints.describe``), never a traceback unless ``--debug``.
"""

from __future__ import annotations


class CliError(Exception):
    """A usage problem the user can fix: ``message`` says what, ``hint`` says how."""

    def __init__(self, message: str, hint: str | None = None) -> None:
        super().__init__(message)
        self.hint = hint


EXIT_ERROR = 1
EXIT_USAGE = 2
EXIT_INTERRUPTED = 130
