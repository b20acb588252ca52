"""Flags about shared state and messaging: ETS read-modify-write, and topics that are
published with nobody listening (or listened to with nobody publishing).

ETS read-modify-write: a function that reads a key (`lookup`, `lookup_element`, `member`,
`match`, `select`) and later writes the same table with `insert`, with no atomic operation
(`update_counter`, `update_element`, `insert_new`, `select_replace`, `take`) on that table in
the same function. Two processes running it at once both read the old value and the second
write wins: a lost update. Severity is "warning" when the table is `:public` (any process may
run the writer) and "info" when it is protected/private, where only the owner process writes
and the sequence is serialized by that process's mailbox.

Topics: a published topic matches a subscribed one when they are equal or their `*`
(interpolation) parts can match each other, on the same kind of bus (Registry vs
Phoenix.PubSub/Endpoint). A near miss by spelling is named in the message ("did you mean").
"""

from __future__ import annotations

import difflib
import re
from collections import defaultdict
from functools import lru_cache

from .facts import LiteralCall, TopicWrapper
from .model import EtsAccess, Flag, FlagKind, Location, TopicUse

READS = frozenset({"lookup", "lookup_element", "member", "match", "match_object", "select"})
WRITES = frozenset({"insert"})
ATOMIC = frozenset({"update_counter", "update_element", "insert_new", "select_replace", "take"})


def resolve_tables(accesses: list[EtsAccess]) -> list[EtsAccess]:
    """Name unnamed tables `Module#table` and attribute variable-table accesses (`table` "?")
    to the module's table when the module creates exactly one."""
    created: dict[str, list[EtsAccess]] = defaultdict(list)
    for a in accesses:
        if a.op == "new":
            created[a.module].append(a)
    out = []
    for a in accesses:
        table = a.table
        if table == "?":
            mine = created.get(a.module, [])
            if len(mine) == 1:
                table = mine[0].table if mine[0].table != "?" else f"{a.module}#table"
        out.append(EtsAccess(table, a.op, a.module, a.function, a.file, a.line, a.options) if table != a.table else a)
    return out


def ets_flags(accesses: list[EtsAccess]) -> list[Flag]:
    public: dict[str, bool] = {}
    for a in accesses:
        if a.op == "new":
            public[a.table] = ":public" in a.options
    by_fn: dict[tuple[str, str, str], list[EtsAccess]] = defaultdict(list)
    for a in accesses:
        if a.function and a.table != "?":
            by_fn[(a.module, a.function, a.table)].append(a)
    flags = []
    for (module, function, table), items in sorted(by_fn.items()):
        if any(a.op in ATOMIC for a in items):
            continue
        reads = [a for a in items if a.op in READS]
        writes = [a for a in items if a.op in WRITES]
        pairs = [(r, w) for r in reads for w in writes if w.line >= r.line]
        if not pairs:
            continue
        read, write = pairs[0]
        is_public = public.get(table, True)
        severity = "warning" if is_public else "info"
        where = "a public table: any process can interleave" if is_public else \
            "a protected/private table: safe only while the owner process is the only writer"
        flags.append(Flag(FlagKind.ETS_READ_MODIFY_WRITE,
                          f"{module}.{function} reads {table} with :ets.{read.op} (line {read.line}) and writes it "
                          f"back with :ets.{write.op} (line {write.line}) — {where}; concurrent callers lose "
                          f"updates. Use :ets.update_counter/4, :ets.update_element/3, :ets.insert_new/2 or "
                          f":ets.select_replace/2, or serialize the writes through one process.",
                          (Location(read.file, read.line, module, function),
                           Location(write.file, write.line, module, function)), severity, (module,)))
    return flags


def topics_through_wrappers(wrappers: list[TopicWrapper], calls: list[LiteralCall]) -> list[TopicUse]:
    """Topic uses at call sites of wrapper functions (`MyBus.publish("order:created", x)`),
    so a project-specific pubsub module does not hide its topics."""
    by_fn: dict[tuple[str, str, int], list[TopicWrapper]] = defaultdict(list)
    for w in wrappers:
        by_fn[(w.module, w.name, w.arity)].append(w)
    uses = []
    for c in calls:
        for w in by_fn.get((c.target, c.name, c.arity), ()):
            for index, literal in c.literals:
                if index == w.index:
                    uses.append(TopicUse(literal, w.action, w.bus, w.api, c.module, c.function, c.file, c.line))
    return uses


def _family(use: TopicUse) -> str:
    return "registry" if use.api == "Registry" else "pubsub"


@lru_cache(maxsize=4096)
def _rx(topic: str) -> re.Pattern[str]:
    return re.compile(".*".join(re.escape(p) for p in topic.split("*")) + r"\Z")


def _matches(topic: str, exact: set[str], wild: list[str]) -> bool:
    """Whether `topic` meets one of the counterpart topics (`exact` plain, `wild` with `*`)."""
    if topic in exact:
        return True
    if "*" in topic:
        rx = _rx(topic)
        if any(rx.match(t) for t in exact) or any(rx.match(w) for w in wild):
            return True
    return any(_rx(w).match(topic) for w in wild)


def _near(topic: str, others: list[str]) -> str | None:
    """The closest spelling among topics of similar length (a typo, not a different topic)."""
    pool = [t for t in others if abs(len(t) - len(topic)) <= 3]
    found = difflib.get_close_matches(topic, pool, n=1, cutoff=0.75)
    return found[0] if found else None


def topic_flags(uses: list[TopicUse]) -> list[Flag]:
    flags = []
    groups: dict[tuple[str, str, str], list[TopicUse]] = defaultdict(list)
    for u in uses:
        groups[(_family(u), u.action, u.topic)].append(u)
    sides: dict[tuple[str, str], tuple[set[str], list[str]]] = {}
    for family, action, topic in groups:
        exact, wild = sides.setdefault((family, action), (set(), []))
        (wild.append if "*" in topic else exact.add)(topic)
    orphans: dict[tuple[str, str, str], list[TopicUse]] = {}
    for (family, action, topic), items in groups.items():
        other = "subscribe" if action == "publish" else "publish"
        exact, wild = sides.get((family, other), (set(), []))
        if not _matches(topic, exact, wild):
            orphans[(family, action, topic)] = items
    for (family, action, topic), items in sorted(orphans.items()):
        other = "subscribe" if action == "publish" else "publish"
        # A typo leaves both spellings orphaned, so the "did you mean" is searched among the
        # other side's orphans only.
        near = _near(topic, sorted(t for (f, a, t) in orphans if f == family and a == other))
        hint = ""
        if near:
            who = sorted({u.module for u in groups[(family, other, near)]})
            hint = f" Did you mean {near!r} ({'subscribed' if other == 'subscribe' else 'published'} " \
                   f"in {', '.join(who)})?"
        modules = tuple(sorted({u.module for u in items}))
        bus = items[0].bus
        if action == "publish":
            kind = FlagKind.TOPIC_WITHOUT_SUBSCRIBER
            text = f"topic {topic!r} is published on {bus} by {', '.join(modules)} but nothing in the " \
                   f"analyzed code subscribes to it: the messages go nowhere.{hint}"
        else:
            kind = FlagKind.TOPIC_WITHOUT_PUBLISHER
            text = f"topic {topic!r} is subscribed on {bus} by {', '.join(modules)} but nothing in the " \
                   f"analyzed code publishes it: the subscriber waits for messages that never come.{hint}"
        flags.append(Flag(kind, text, tuple(Location(u.file, u.line, u.module, u.function) for u in items),
                          "warning", modules))
    return flags
