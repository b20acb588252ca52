"""Errors of the query layer — one hierarchy, each message says what was wrong and what to do.

    QueryError                      base of everything this package raises
    ├── QuerySyntaxError            the text does not parse, or names something that does not
    │                               exist (field, kind, stage); carries the position, a caret
    │                               excerpt and a suggested fix
    ├── QueryCursorError            a paging cursor that is malformed or belongs to another query
    ├── QueryLimitError             the query ran out of its time or memory budget (limits.py)
    └── QueryStoreError             the store could not answer (missing recording, schema the
                                    planner does not know); lower-level errors are chained

Why one syntax error type: people and LLMs both write queries; a single error with a position
and a concrete suggestion ("did you mean 'function'?", "expected a duration like 500ms") is
what lets either of them fix the query in one more try, as redbug's trace-pattern compiler does.
"""

from __future__ import annotations

__all__ = ["QueryError", "QuerySyntaxError", "QueryCursorError", "QueryLimitError", "QueryStoreError"]


class QueryError(Exception):
    """Base class of every error raised by `elixir_scope.store.query`."""


class QuerySyntaxError(QueryError):
    """The query text is wrong at `position` (0-based character offset).

    `str(err)` is a complete, human- and LLM-readable explanation::

        unknown field 'fucntion' — did you mean 'function'?
          calls where fucntion = add
                      ^^^^^^^^
        at line 1, column 13

    Attributes: `message` (the one-line reason), `position`, `end`, `line`, `column`,
    `suggestion` (a concrete fix or None), `text` (the whole query).
    """

    def __init__(
        self,
        message: str,
        text: str,
        position: int,
        end: int | None = None,
        suggestion: str | None = None,
    ) -> None:
        self.message = message
        self.text = text
        self.position = max(0, min(position, len(text)))
        self.end = max(self.position + 1, end if end is not None else self.position + 1)
        self.suggestion = suggestion
        before = text[: self.position]
        self.line = before.count("\n") + 1
        self.column = self.position - (before.rfind("\n") + 1) + 1
        super().__init__(self._render())

    @property
    def excerpt(self) -> str:
        """The offending line with carets under the offending characters."""
        lines = self.text.split("\n")
        line = lines[self.line - 1] if lines else ""
        width = max(1, min(self.end - self.position, len(line) - (self.column - 1)))
        return f"  {line}\n  {' ' * (self.column - 1)}{'^' * width}"

    def _render(self) -> str:
        head = self.message
        if self.suggestion:
            head = f"{head} — {self.suggestion}"
        return f"{head}\n{self.excerpt}\nat line {self.line}, column {self.column}"


class QueryCursorError(QueryError):
    """A cursor that was not produced by `run_query` for this same query text."""


class QueryLimitError(QueryError):
    """The query would cost more than its `QueryLimits` allow (time or rows in memory)."""


class QueryStoreError(QueryError):
    """The store could not answer the query (unknown recording, unexpected schema)."""
