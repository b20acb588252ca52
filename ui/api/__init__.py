"""JSON endpoints of the UI, one module per view. Each reads the store through its public API
and answers with a window or an aggregate, never a whole recording (every list is capped and
says so). ``routes()`` gathers them."""

from __future__ import annotations


def routes() -> list:
    from . import calls, live, messages, moment, query, recordings, timeline

    out: list = []
    for module in (recordings, timeline, moment, messages, query, calls, live):
        out += module.ROUTES
    return out
