"""The ElixirScope query language: one line of text that people and LLMs both write.

    calls MyApp.Cart.add/2 where arg[1] > 100 last 30s
    exceptions in MyApp.Cart | count by function
    calls MyApp.Repo.* | stats p50(duration), p99(duration) by function
    sequence call MyApp.Cart.add then exception within 500ms same process
    calls without return
    sends never received
    states of MyApp.Counter where state.count > 10

Grammar and every word: docs/query-language.md. Use::

    from elixir_scope.store.query import run_query
    page = run_query(store, "exceptions | count by function")
    page.groups, page.crosses_gaps, page.next_cursor

Structure: `lexer` → `parser` (+ `parse_terms`) → `nodes` (the syntax tree) → `compile`
(SQL for each step, residual conditions for Python) → `engine` (reading), `pairing` (call →
return in SQL), `temporal` (sequences and absences), `aggregate` → `results`. Errors:
`errors.py` (one hierarchy; `QuerySyntaxError` carries position, caret excerpt and a fix).
"""

from .errors import QueryCursorError, QueryError, QueryLimitError, QueryStoreError, QuerySyntaxError
from .limits import QueryLimits
from .nodes import Query
from .parser import parse
from .results import AbsenceRow, EventRow, GapSummary, GroupRow, MatchRow, QueryResult
from .run import run_query

__all__ = [
    "AbsenceRow",
    "EventRow",
    "GapSummary",
    "GroupRow",
    "MatchRow",
    "Query",
    "QueryCursorError",
    "QueryError",
    "QueryLimitError",
    "QueryLimits",
    "QueryResult",
    "QueryStoreError",
    "QuerySyntaxError",
    "parse",
    "run_query",
]
