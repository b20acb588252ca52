"""ETS: continuations dropped, `:set` tables read as if they held several rows per key, named
tables created per instance, check-then-insert races."""

from __future__ import annotations

from collections.abc import Iterator

from ..syntax import args_of, operator, text
from .index import CallSite, descendants
from .match import atom_in_list, call_name, inside
from .model import Found, Project, rule

CHUNKED = ("select", "match", "match_object", "select_reverse")


def _tables(project: Project) -> dict[str, tuple[CallSite, set[str]]]:
    """Table atom (or `__MODULE__` resolved) → its `:ets.new` site and the atoms of its options."""
    out: dict[str, tuple[CallSite, set[str]]] = {}
    for site in project.sites(":ets", "new"):
        if len(site.args) < 2:
            continue
        name = _table_name(site, site.args[0])
        opts = {text(c) for c in site.args[1].named_children if c.type == "atom"} if site.args[1].type == "list" else set()
        if name:
            out.setdefault(name, (site, opts))
    return out


def _table_name(site: CallSite, node) -> str | None:
    if node.type == "atom":
        return text(node)
    if text(node) == "__MODULE__" and site.owner:
        return site.owner
    if node.type == "alias":
        return text(node)
    return None


@rule(id="ets_continuation_dropped", family="ets", shows=('wrong', 'never', 'unbalanced'),
      cues=r'\bonly (?:part|some|\d+)\b|\b\d+ (?:of|out of) (?:the )?\d+|\bfewer\b|\bonly \w+ \d+|\bsent only\b|\bdue\b',
      title="the continuation of a chunked :ets.select/match thrown away",
      matches="`:ets.select/3`, `match/3`, `match_object/3`, `select_reverse/3` (with a limit) whose result is "
              "matched as `{rows, _}` or taken with `elem(…, 0)`",
      why="with a limit ETS returns only the first chunk and a continuation; dropping the continuation "
          "silently ignores every row after the first chunk",
      symptoms="only part of the data is processed: counts, reports or reminders cover the first N rows "
               "only; the rest of the table is ignored without an error",
      source="Erlang docs, ets:select/3 ('…returns {Match, Continuation}; use select/1 for the next chunk')",
      fix="loop with `:ets.select(continuation)` until `:'$end_of_table'`, or use `:ets.select/2` without a limit")
def ets_continuation_dropped(project: Project) -> Iterator[Found]:
    for fun in CHUNKED:
        for site in project.sites(":ets", fun):
            if len(site.args) != 3:
                continue
            parent = site.expr.parent
            dropped = False
            if parent is not None and parent.type == "binary_operator" and operator(parent) == "=":
                left = parent.child_by_field_name("left")
                if left is not None and left.type == "tuple" and left.named_child_count == 2:
                    dropped = text(left.named_children[1]).startswith("_")
            if parent is not None and parent.type == "arguments" and parent.parent is not None:
                call = parent.parent
                if call_name(call)[1] == "elem" and text(args_of(call)[-1]) == "0":
                    dropped = True
                if call_name(call)[1] == "case":
                    for clause in descendants(call):
                        if clause.type != "stab_clause":
                            continue
                        pats = clause.child_by_field_name("left")
                        pat = pats.named_children[0] if pats is not None and pats.named_child_count else None
                        if pat is not None and pat.type == "tuple" and pat.named_child_count == 2 \
                                and text(pat.named_children[1]).startswith("_"):
                            dropped = True
            if parent is not None and parent.type == "binary_operator" and operator(parent) == "|>":
                right = parent.child_by_field_name("right")
                if right is not None and call_name(right)[1] == "elem" and text(args_of(right)[-1]) == "0":
                    dropped = True
            if dropped:
                yield Found(site.file, site.node, f":ets.{fun}/3 continuation ignored", site.fn)


def _whole_pipe(node):
    cur = node
    while cur.parent is not None and cur.parent.type == "binary_operator" and operator(cur.parent) == "|>":
        cur = cur.parent
    return cur


@rule(id="ets_set_read_as_bag", family="ets", shows=('wrong', 'never', 'unbalanced'),
      cues=r'\bonly one\b|\bseveral\b|\bmultiple\b|\blast one\b|\boverwrit\w*|\bbut only \d+|\bonly \d+ (?:were|was|of)',
      title="a :set table read as if a key held several rows",
      matches="`:ets.lookup(table, key)` iterated (`for … <- :ets.lookup`, `Enum.*`, `length`) on a table "
              "created without `:bag` / `:duplicate_bag`",
      why="a `:set` (the default) keeps ONE object per key: each insert with the same key replaces the "
          "previous one, so the list the reader iterates never has more than one element",
      symptoms="items of the same group are lost or counted once: only the last entry per key remains; "
               "totals are lower than what was recorded",
      source="Erlang docs, ets:new/2 table types (set: one object per key; bag / duplicate_bag: several) "
             "and ets:insert/2 ('the new object replaces the old')",
      fix="create the table as `:bag` / `:duplicate_bag`, or make the key unique per item "
          "(`{flight, booking, tag}`)")
def ets_set_read_as_bag(project: Project) -> Iterator[Found]:
    tables = _tables(project)
    for site in project.sites(":ets", "lookup"):
        if len(site.args) != 2:
            continue
        name = _table_name(site, site.args[0])
        if name not in tables:
            continue
        new_site, opts = tables[name]
        if opts & {":bag", ":duplicate_bag"}:
            continue
        parent = site.expr.parent
        iterated = False
        if parent is not None and parent.type == "binary_operator" and operator(parent) == "<-":
            iterated = inside(parent, ("call",)) is not None and call_name(inside(parent, ("call",)))[1] == "for"
        if parent is not None and parent.type == "arguments" and parent.parent is not None:
            m, f = call_name(parent.parent)
            iterated = iterated or m in ("Enum", "Stream") or f == "length"
        if parent is not None and parent.type == "binary_operator" and operator(parent) == "|>":
            right = parent.child_by_field_name("right")
            iterated = iterated or (right is not None and call_name(right)[0] in ("Enum", "Stream"))
        if iterated and any(w in text(_whole_pipe(site.node)) for w in ("List.first", "hd(", "Enum.at(")):
            iterated = False   # the reader takes the one row there is
        if iterated:
            # the rows are lost where they are written: the inserts ran when the loss happened
            writers = tuple(s.fn for s in project.sites(":ets", "insert") if s.fn is not None and s.args
                            and _table_name(s, s.args[0]) == name)
            yield Found(site.file, new_site.node, f"{name} is a set (one row per key) but {site.fn.label if site.fn else 'a reader'} "
                        "iterates its lookup", new_site.fn, ran=((site.fn,) if site.fn else ()) + writers)


@rule(id="ets_named_table_per_instance", family="ets", shows=('wrong',),
      cues=r"\bnot (?:theirs|ours|mine|his|hers)\b|\beach (?:customer|tenant|account|user)\b|\bits own\b|\bsomeone else'?s?\b|\bother (?:customer|tenant|account)'?s?\b|\bas well\b",
      title="one named ETS table shared by every instance of a process",
      matches="`:ets.new(:name, [:named_table, …])` in `init/1` guarded by `:ets.whereis(:name)` / "
              "`:ets.info(:name)` (create-or-reuse), or in a server started under several names",
      why="a named table is global to the node: every instance creates (or reuses) the same table, so "
          "instances read and overwrite each other's rows",
      symptoms="one customer, tenant or account sees another's data; entries from several instances are "
               "mixed together; counts include other tenants",
      source="Erlang docs, ets:new/2 option named_table (one name per node); Elixir docs, GenServer/ETS "
             "guide (a table per process is unnamed and kept in the state)",
      fix="create an unnamed table per instance and keep its reference in the state, or put the instance id "
          "in the key")
def ets_named_table_per_instance(project: Project) -> Iterator[Found]:
    for site in project.sites(":ets", "new"):
        if site.fn is None or site.fn.name != "init" or len(site.args) < 2:
            continue
        if not atom_in_list(site.args[1], ":named_table") or site.args[0].type != "atom":
            continue
        name = text(site.args[0])
        guarded = False
        for n in descendants(site.fn.node):
            if n.type == "call" and call_name(n) in ((":ets", "whereis"), (":ets", "info")):
                a = args_of(n)
                if a and text(a[0]) == name:
                    guarded = True
        if guarded:
            mod_fns = tuple(project.functions(site.owner or ""))
            yield Found(site.file, site.node, f"{name} is created once and shared by every instance", site.fn,
                        ran=mod_fns)


@rule(id="ets_check_then_insert", family="ets", shows=('wrong', 'unbalanced'),
      cues=r'\btwice\b|\bduplicat\w*|\bdouble\w*|\bre-?sent\b|\bredeliver\w*|\bonce\b',
      title="check-then-insert on a shared ETS table",
      matches="`:ets.member/2` (or `lookup`) in a condition followed by `:ets.insert/2` on the same table in "
              "the same function, on a `:public` table, with no `insert_new` there",
      why="the check and the insert are two operations: two processes can both see the key missing and both "
          "act (double processing, double credit); `:ets.insert_new/2` claims the key atomically",
      symptoms="the same event, payment or job is processed twice; duplicates get through a deduplication "
               "check when they arrive close together",
      source="Erlang docs, ets concurrency ('insert_new/2 … atomic'); Elixir forum threads on ETS "
             "check-then-act races",
      fix="claim first with `:ets.insert_new(table, {id, …})` and act only when it returns true")
def ets_check_then_insert(project: Project) -> Iterator[Found]:
    tables = _tables(project)
    for ix in project.files:
        for fn, sites in ix.by_fn.items():
            checks = [s for s in sites if s.module == ":ets" and s.fun in ("member", "lookup") and s.args]
            if not checks:
                continue
            if any(s.module == ":ets" and s.fun in ("insert_new", "update_counter", "take", "select_replace")
                   for s in sites):
                continue
            for chk in checks:
                name = _table_name(chk, chk.args[0])
                info = tables.get(name or "")
                if info is None or ":public" not in info[1]:
                    continue
                if inside(chk.node, ("call",)) is None or call_name(inside(chk.node, ("call",)))[1] not in ("if", "unless", "case", "cond"):
                    continue
                ins = [s for s in sites if s.module == ":ets" and s.fun == "insert" and s.args
                       and _table_name(s, s.args[0]) == name and s.node.start_byte > chk.node.start_byte]
                if ins:
                    yield Found(ix.file, chk.node, f"checks {name} then inserts later: not atomic", fn)
                    break
