"""The one error type of the trace spec compiler.

::

    SpecError                  bad syntax or meaning: position + hint
    └── DangerousSpecError     valid, but would flood or break the node (force=True to allow,
                               except for tracing the agent itself, which is never allowed)
"""

from __future__ import annotations


class SpecError(ValueError):
    """A trace spec that cannot be compiled. ``pos`` is the 0-based column in ``text``."""

    def __init__(self, message: str, *, text: str = "", pos: int | None = None, hint: str = "") -> None:
        self.message = message
        self.text = text
        self.pos = pos
        self.hint = hint
        parts = [message]
        if text and pos is not None:
            parts.append(f"\n  {text}\n  {' ' * pos}^")
        if hint:
            parts.append(f"\n  hint: {hint}")
        super().__init__("".join(parts))


class DangerousSpecError(SpecError):
    """A spec refused for safety. ``code`` names the rule: ``everything``, ``agent``,
    ``hot_module``."""

    def __init__(self, code: str, message: str, *, text: str = "", hint: str = "") -> None:
        self.code = code
        super().__init__(message, text=text, pos=None, hint=hint)
