"""ETS tables of a live node: the list (size, memory, owner, protection) and a sample of a
table's first objects.

::

    tables = await ets_tables(conn)
    sample = await ets_sample(conn, "ac_tab", limit=5)
"""

from __future__ import annotations

from ..dist import Connection
from ..etf import Atom
from .live_call import LiveOptions, live_call, shown, table_ref
from .live_call import atom_name as _name, reply_field as _a
from .live_models import EtsSample, EtsTable

__all__ = ["ets_tables", "ets_sample", "TABLE_SCAN_LIMIT"]

# Tables described per call; a node with more gets the first this many (ets:all/0 order).
TABLE_SCAN_LIMIT = 20_000


def _table(m: dict, word: int) -> EtsTable:
    return EtsTable(
        id=_a(m, "id"), name=_name(_a(m, "name")) or "?", size=int(_a(m, "size") or 0),
        memory_bytes=int(_a(m, "memory") or 0) * word, type=_name(_a(m, "type")) or "?",
        protection=_name(_a(m, "protection")) or "?", owner=_a(m, "owner"),
        owner_name=_name(_a(m, "owner_name")), named=_a(m, "named_table") == Atom("true") or _a(m, "named_table") is True,
        keypos=int(_a(m, "keypos") or 1))


async def ets_tables(conn: Connection, *, options: LiveOptions | None = None) -> tuple[list[EtsTable], int]:
    """Every table the node has (up to ``TABLE_SCAN_LIMIT``) and how many exist in all."""
    r = await live_call(conn, (Atom("ets_tables"), TABLE_SCAN_LIMIT), options, timeout=30.0)
    word = int(_a(r, "word") or 8)
    return [_table(t, word) for t in _a(r, "tables")], int(_a(r, "total"))


async def ets_sample(conn: Connection, table: str, *, limit: int = 10,
                     options: LiveOptions | None = None) -> EtsSample:
    """The first ``limit`` objects of a public or protected table (redacted, each cut to a
    share of ``options.max_bytes``)."""
    if not 1 <= limit <= 500:
        raise ValueError(f"limit must be between 1 and 500, got {limit}")
    r = await live_call(conn, (Atom("ets_sample"), table_ref(table), limit), options)
    return EtsSample(table=_table(_a(r, "table"), int(_a(r, "word") or 8)), objects=[shown(o) for o in _a(r, "objects")])
