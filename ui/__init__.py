"""The local web UI (``elixir-scope ui``): a Starlette app over the trace store.

What it shows: recordings (list, search, open, import, export), a timeline of event density
per process with gaps, the state of every process at a cursor (term trees with the diff from
the previous state and the message that caused it), the supervision tree as it was, a
sequence diagram of messages with their causal past/future, the query language with results
linked into the timeline, and call trees with durations. docs/ui.md is the manual.

Structure: ``config`` (a value object, validated before a socket is bound), ``security``
(loopback by default, the MCP HTTP transport's Host/Origin rules, a token in the URL),
``api/`` (JSON endpoints: windows and aggregates read through the store's public API, never
the whole recording), ``terms`` (decoded Erlang terms as bounded JSON trees), ``app`` (routes
and static assets), ``serve`` (uvicorn, the printed URL, ``--open``). The front end is plain
ES modules under ``static/``: no build step, no CDN.

Public names::

    UiConfig, UiConfigError, build_app(config) -> Starlette, serve(config)
"""

from .app import build_app
from .config import UiConfig, UiConfigError
from .serve import serve

__all__ = ["UiConfig", "UiConfigError", "build_app", "serve"]
