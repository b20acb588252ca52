"""What the application calls a recorded process: its label, an app-kept name, Registry names.

The agent reads them when it interns a pid (and once more a batch later for a pid interned at
its spawn, before its ``init`` ran) and sends ``[{Kind, {Bin, Flags}}]`` in the batch Dict
(docs/event-format.md): Kind ``'$process_label'`` (``proc_lib:set_label/1`` on OTP 27+, or the
dictionary entry set by hand), ``process_name`` (RabbitMQ style) or ``via`` (``{Registry, Key}``
of an Elixir Registry name); Bin the term, cut to 256 bytes and redacted on the node.

They are stored per process as one ETF blob (``processes.app_names``, schema 5) and read back
as ``AppName`` values; ``app_names_text`` prints them for process lists and reports::

    [checkout worker] [via {MyApp.Registry, "user-42"}]
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from elixir_scope.instrument.etf import Atom, DecodeError, EncodeError, decode, encode

__all__ = ["AppName", "app_names_blob", "read_app_names", "app_names_text", "first_app_name", "KINDS"]

KINDS = ("$process_label", "process_name", "via")
#: a stored blob larger than this is not read (the agent sends at most 3 + 5 terms of 256 bytes)
MAX_BLOB = 16_384
#: names kept per process
MAX_NAMES = 8


@dataclass(frozen=True, slots=True)
class AppName:
    """One name: ``kind`` in ``KINDS``; ``term`` as recorded (cut/redacted on the node)."""

    kind: str
    term: Any
    truncated: bool = False
    redacted: bool = False


def app_names_blob(names: Any) -> bytes | None:
    """The agent's ``[{Kind, {Bin, Flags}}]`` as the stored blob (None when there is none)."""
    rows = []
    for item in names if isinstance(names, list) else []:
        if not (isinstance(item, tuple) and len(item) == 2 and isinstance(item[0], Atom)
                and item[0].name in KINDS and isinstance(item[1], tuple) and len(item[1]) == 2):
            continue
        data, flags = item[1]
        if not isinstance(data, bytes) or not isinstance(flags, int) or len(data) > MAX_BLOB:
            continue
        try:
            rows.append((item[0], decode(data), flags))
        except DecodeError:
            continue
    if not rows:
        return None
    try:
        return encode(rows[:MAX_NAMES])
    except EncodeError:
        return None


def read_app_names(blob: bytes | None) -> tuple[AppName, ...]:
    """The names a stored blob holds; () for NULL or a blob that is not one (an imported file)."""
    if not blob or len(blob) > MAX_BLOB:
        return ()
    try:
        rows = decode(bytes(blob))
    except DecodeError:
        return ()
    out = []
    for row in rows if isinstance(rows, list) else []:
        if isinstance(row, tuple) and len(row) == 3 and isinstance(row[0], Atom) and isinstance(row[2], int):
            out.append(AppName(row[0].name, row[1], bool(row[2] & 1), bool(row[2] & 2)))
    return tuple(out[:MAX_NAMES])


def app_names_text(names: tuple[AppName, ...], term_text: Any) -> list[str]:
    """``["checkout worker", "via {MyApp.Registry, \\"user-42\\"}"]``: a printable string label
    bare, other terms through ``term_text`` (the caller's syntax)."""
    out = []
    for n in names:
        text = _bare(n.term) if not n.truncated else None
        text = text if text is not None else term_text(n.term)
        out.append(f"via {text}" if n.kind == "via" else text)
    return out


def _bare(term: Any) -> str | None:
    if isinstance(term, bytes):
        try:
            text = term.decode("utf-8")
        except UnicodeDecodeError:
            return None
        return text[:200] if text.isprintable() else None
    return None


def first_app_name(names: tuple[AppName, ...]) -> str | None:
    """The first app name as bounded text in the current printing syntax, or None: how a
    process without a registered name is named in query rows and reports."""
    if not names:
        return None
    from elixir_scope.instrument.etf.inspect import inspect

    return app_names_text(names[:1], lambda t: inspect(t, limit=8, printable_limit=80))[0]
