"""Collections and options: merge order, shallow merges, split options, lexical order of
versions and dates, lazy streams dropped, results zipped after an unordered stream."""

from __future__ import annotations

import re
from collections.abc import Iterator

from ..syntax import operator, text

from .match import atom_in_list, call_name, key_field, option, pipeline_top, statement_dropped
from .model import Found, Project, rule

DEFAULTS = re.compile(r"default", re.I)


def _defaults_like(node) -> bool:
    if node is None:
        return False
    if node.type == "unary_operator" and operator(node) == "@":
        return bool(DEFAULTS.search(text(node)))
    if node.type == "identifier":
        return bool(DEFAULTS.search(text(node)))
    if node.type == "call":
        return bool(DEFAULTS.search(text(node.child_by_field_name("target") or node)))
    return False


@rule(id="merge_defaults_last", family="collections", shows=('wrong', 'never'),
      cues=r'\bdefaults?\b|\boptions?\b|\bchose\w*|\bselected\b|\bpreferences?\b|\bignored\b|\bpriority\b|\bpaid for\b',
      title="defaults merged over the caller's options",
      matches="`Keyword.merge(opts, defaults)` / `Map.merge(opts, defaults)` (call or pipe) whose second "
              "argument is named like defaults (`@defaults`, `default_opts`, `defaults()`)",
      why="in `merge(a, b)` the entries of `b` win; with the defaults second, every option the caller "
          "chose is overwritten by its default",
      symptoms="the options or settings a user chose are ignored and the defaults are used instead; every "
               "job, order or request gets the default priority, format or flag",
      source="Elixir docs, Keyword.merge/2 and Map.merge/2 ('values in the second argument override'); "
             "Elixir guide, keyword lists (defaults pattern `Keyword.merge(defaults, opts)`)",
      fix="put the defaults first: `Keyword.merge(@defaults, opts)` (or `Keyword.validate/2`, `Keyword.put_new/3`)")
def merge_defaults_last(project: Project) -> Iterator[Found]:
    for mod in ("Keyword", "Map"):
        for site in project.sites(mod, "merge"):
            if len(site.args) == 2 and _defaults_like(site.args[1]) and not _defaults_like(site.args[0]):
                yield Found(site.file, site.node, f"{mod}.merge with {text(site.args[1])} last overrides the options",
                            site.fn)


CHANGES = re.compile(r"^(?:changes|change|patch|updates?|overrides?|params|attrs|delta|diff|partial|new|"
                     r"new_\w+|\w+_changes|\w+_patch|\w+_updates?)$")


@rule(id="shallow_merge_nested", family="collections", shows=('wrong', 'never'),
      cues=r'\bsettings?\b|\bpreferences?\b|\bnotifications?\b|\bswitched (?:on|off)\b|\bturned (?:on|off)\b|\bonly (?:changed|switched|turned|updated)\b',
      title="a partial update of nested settings applied with a shallow Map.merge",
      matches="`Map.merge(current, changes)` (2 arguments, call or pipe) where the second map is a "
              "parameter named like a patch (`changes`, `params`, `attrs`, `updates`…) in a module whose maps "
              "nest maps (`%{notifications: %{…}}`)",
      why="Map.merge/2 is shallow: a nested map in the patch replaces the whole nested map, dropping the "
          "keys the patch did not mention",
      symptoms="changing one setting resets its siblings: other preferences, flags or channels are switched "
               "off or lost after an update; nested fields disappear",
      source="Elixir docs, Map.merge/2 (only top-level keys) and Map.merge/3 (conflict resolver); "
             "Elixir forum 'deep merge' threads",
      fix="merge the nested level too: `Map.merge(current, changes, fn _k, a, b when is_map(a) and is_map(b) -> "
          "Map.merge(a, b); _k, _a, b -> b end)` or a deep-merge helper",
      shown_by="nested_keys_lost")
def shallow_merge_nested(project: Project) -> Iterator[Found]:
    nested_modules = set()
    for ix in project.files:
        for mod in ix.modules.values():
            for n in ix.nodes("map", module=mod.name):
                if any(c.type == "map" for p in n.named_children for c in _values(p)):
                    nested_modules.add(mod.name)
                    break
    for site in project.sites("Map", "merge"):
        if len(site.args) != 2 or site.owner not in nested_modules:
            continue
        patch = site.args[1]
        if patch.type == "identifier" and CHANGES.match(text(patch)):
            yield Found(site.file, site.node, f"Map.merge replaces nested maps of {text(site.args[0])} "
                                              f"with those of {text(patch)}", site.fn)


def _values(node):
    if node.type == "map_content":
        for c in node.named_children:
            yield from _values(c)
    elif node.type == "keywords":
        for pair in node.named_children:
            v = pair.child_by_field_name("value")
            if v is not None:
                yield v
    elif node.type == "binary_operator" and operator(node) == "=>":
        v = node.child_by_field_name("right")
        if v is not None:
            yield v


@rule(id="binary_split_first_only", family="collections", shows=('wrong', 'never', 'unbalanced'),
      cues=r'\bonly (?:the )?(?:first|one)\b|\blines?\b|\brows?\b|\bfile\b|\bimport\w*|\bcsv\b',
      title=":binary.split without [:global] used to split a whole text",
      matches="`:binary.split(text, sep)` without the `:global` option whose result is not matched as exactly "
              "two parts (`[head, rest] = …`)",
      why=":binary.split/2,3 splits at the FIRST match only unless given [:global]; the rest of the text "
          "stays in one piece",
      symptoms="only the first line, row or item is processed; the rest of a file or message is ignored or "
               "treated as one value; counts are too low",
      source="Erlang docs, binary:split/3 ('the default is to split only at the first occurrence; option "
             "global splits at all')",
      fix="`:binary.split(text, sep, [:global])` or `String.split(text, sep)`")
def binary_split_first_only(project: Project) -> Iterator[Found]:
    for site in project.sites(":binary", "split"):
        if len(site.args) < 2:
            continue
        if len(site.args) >= 3 and atom_in_list(site.args[2], ":global"):
            continue
        parent = site.expr.parent
        if parent is not None and parent.type == "binary_operator" and operator(parent) == "=":
            left = parent.child_by_field_name("left")
            if left is not None and left.type == "list" and left.named_child_count == 2 and "|" not in text(left):
                continue   # `[head, rest] = :binary.split(…)`: splitting once is the point
        if parent is not None and parent.type == "arguments" and parent.parent is not None \
                and call_name(parent.parent)[1] in ("case", "with"):
            continue
        yield Found(site.file, site.node, "splits at the first separator only", site.fn)


SEPARATORS = frozenset({'"\\n"', '","', '";"', '"\\t"', '"\\r\\n"', '"|"'})
ITERATORS = ("Enum", "Stream")


@rule(id="string_split_keeps_empty", family="collections", shows=('wrong', 'crash'),
      cues=r'\bempty\b|\bblank\b|\bextra (?:row|line|record)s?\b|\bone too many\b',
      title="String.split of text with a trailing separator keeps an empty last element",
      matches="`String.split(text, \"\\n\")` (or \",\", \";\", tab) without `trim: true`, on a value not "
              "trimmed first, whose parts are iterated (piped or passed to Enum/Stream)",
      why="a text ending in its separator (every file ending in a newline) splits into one more, empty, "
          "element; the loop then processes an empty line",
      symptoms="an extra empty record, blank row, 'invalid line' error or a count one too high for each "
               "file or message",
      source="Elixir docs, String.split/3 (option :trim — 'remove empty strings from the result')",
      fix="`String.split(text, \"\\n\", trim: true)` or trim the text first")
def string_split_keeps_empty(project: Project) -> Iterator[Found]:
    for site in project.sites("String", "split"):
        if len(site.args) < 2 or text(site.args[1]) not in SEPARATORS:
            continue
        if option(site, "trim") is not None or option(site, "parts") is not None:
            continue
        subject = site.args[0]
        if subject.type == "binary_operator" and operator(subject) == "|>":
            subject = subject.child_by_field_name("right") or subject
        if subject.type == "call" and call_name(subject)[1].startswith("trim"):
            continue
        top = pipeline_top(site.node)
        iterated = False
        parent = top.parent
        if top.id != site.node.id or (parent is not None and parent.type == "binary_operator"
                                      and operator(parent) == "|>"):
            after = parent.child_by_field_name("right") if parent is not None and parent.type == "binary_operator" else None
            if after is not None and call_name(after)[0] in ITERATORS:
                iterated = True
        if parent is not None and parent.type == "arguments" and parent.parent is not None \
                and call_name(parent.parent)[0] in ITERATORS:
            iterated = True
        if iterated:
            yield Found(site.file, site.node, "keeps the empty string after a trailing separator", site.fn)


VERSION = re.compile(r"^(?:vsn|version|\w+_version|version_\w+|release|semver|firmware|build)$")
DATEISH = re.compile(r"^(?:date|day|on|time|\w+_at|\w+_on|\w+_date|\w+_time|timestamp|deadline|due|born|birthday)$")
ORDER_FUNS = ("max_by", "min_by", "sort_by")


def _order_sites(project: Project, rx: re.Pattern[str]):
    for fun in ORDER_FUNS:
        for site in project.sites("Enum", fun):
            if len(site.args) == 2:
                field = key_field(site.args[1])
                if field and rx.match(field):
                    yield site, field
    for fun in ("max", "min", "sort"):
        for site in project.sites("Enum", fun):
            if len(site.args) == 1 and site.args[0].type == "identifier" and rx.match(text(site.args[0]).rstrip("s")):
                yield site, text(site.args[0])


@rule(id="version_strings_compared", family="collections", shows=('wrong', 'never'),
      cues=r'\bversions?\b|\breleases?\b|\bfirmware\b|\bupgrad\w*|\bdowngrad\w*|\bnewest\b|\blatest\b|\bput back\b|\b\d+\.\d+\.\d+\b',
      title="version strings ordered as text",
      matches="`Enum.max_by/min_by/sort_by(list, & &1.version)` (no sorter module) or `Enum.max/sort(versions)`",
      why="strings compare byte by byte: \"2.9.4\" > \"2.10.0\" because \"9\" > \"1\"; the newest release "
          "is not the largest string",
      symptoms="an older version is picked as the newest or latest; updates go backwards (a downgrade); a new "
               "release is never rolled out",
      source="Elixir docs, Version module and Version.compare/2; Enum.sort/2 and max_by/4 with a module "
             "(`Enum.max_by(list, & &1.version, Version)`)",
      fix="compare with `Version.compare/2`: `Enum.max_by(list, &Version.parse!(&1.version), Version)`")
def version_strings_compared(project: Project) -> Iterator[Found]:
    for site, field in _order_sites(project, VERSION):
        yield Found(site.file, site.node, f"orders by {field} as strings", site.fn)


@rule(id="date_structs_term_order", family="collections", shows=('wrong',),
      cues=r'\blatest\b|\bnewest\b|\boldest\b|\bearliest\b|\blast (?:payment|visit|date|order)\b|\bdates?\b|\bchronolog\w*',
      title="dates ordered by Erlang term order",
      matches="`Enum.max_by/min_by/sort_by(list, & &1.date)` on a field named like a date or time, "
              "without the `Date`/`DateTime` module argument",
      why="`Date`/`DateTime` structs compare as maps, field by field in alphabetical order (day before "
          "month before year), not in time",
      symptoms="the wrong date is picked as the latest or earliest; lists are out of chronological order; "
               "an old entry shows as the newest",
      source="Elixir docs, 'Comparing dates' in Date / DateTime (use compare/2; Enum.sort(dates, Date))",
      fix="pass the module: `Enum.max_by(list, & &1.date, Date)`, `Enum.sort_by(list, & &1.at, DateTime)`")
def date_structs_term_order(project: Project) -> Iterator[Found]:
    for site, field in _order_sites(project, DATEISH):
        yield Found(site.file, site.node, f"orders by {field} with term order", site.fn)


@rule(id="lazy_stream_dropped", family="collections", shows=('never', 'quiet'),
      cues=r'\bnotified\b|\bnobody (?:got|received)\b|\bnot a single\b|\bno (?:messages?|texts?|mails?|e-?mails?|sms)\b|\bnever (?:sent|got|received)\b|\bsaid\b',
      title="a lazy Stream built and never run",
      matches="a `Stream.map/each/filter/…` pipeline whose last step is a Stream call and whose value is "
              "thrown away (a statement followed by others, or bound to `_`)",
      why="streams are lazy: nothing happens until an Enum function or Stream.run/1 consumes them; the "
          "side effects in Stream.each never run",
      symptoms="notifications, messages, e-mails or writes are never sent although the code that sends them "
               "is reached and the count is logged; nothing happens and nothing fails",
      source="Elixir docs, Stream module ('streams are lazy… only when Enum is called'), Stream.run/1",
      fix="use `Enum.each/2` for side effects, or end the pipeline with `Stream.run()`")
def lazy_stream_dropped(project: Project) -> Iterator[Found]:
    for ix in project.files:
        for site in ix.calls:
            if site.module != "Stream" or site.fun in ("run",):
                continue
            top = pipeline_top(site.node)
            if top.id != site.node.id and top.child_by_field_name("right") is not None \
                    and top.child_by_field_name("right").id != site.node.id:
                continue
            if statement_dropped(top):
                yield Found(site.file, top, f"the stream ending in Stream.{site.fun} is never run", site.fn)
            elif site.fn is not None and _last_expression(site.fn.node, top):
                # a helper that returns the stream: dropped by its callers
                for caller in ix.by_key.get((None, site.fn.name), []):
                    if caller.owner == site.owner and caller.fn is not None and statement_dropped(caller.expr):
                        yield Found(site.file, top, f"{site.fn.label} returns a stream (ending in Stream.{site.fun}) "
                                    f"that {caller.fn.label} never runs", site.fn, ran=(caller.fn,))
                        break


def _last_expression(def_call, node) -> bool:
    body = None
    for child in def_call.children:
        if child.type == "do_block":
            body = child
    if body is None:
        return False
    stmts = [c for c in body.named_children if c.type != "comment"]
    return bool(stmts) and stmts[-1].id == node.id


ASYNC_STREAMS = (("Task", "async_stream"), ("Task.Supervisor", "async_stream"),
                 ("Task.Supervisor", "async_stream_nolink"))


@rule(id="zip_after_unordered_stream", family="collections", shows=('wrong', 'unbalanced'),
      cues=r'\bwrong (?:price|item|row|branch|customer|result)s?\b|\bnot what\b|\bmixed up\b|\bswapped\b|\bbelongs? to\b|\bshown?\b.*\bbilled\b|\bcharges?\b',
      title="results of an unordered async_stream zipped back with the inputs",
      matches="`Enum.zip`/`Enum.zip_with` in a function that runs `Task.async_stream…(…, ordered: false)`",
      why="with `ordered: false` results arrive in completion order; pairing them with the input list by "
          "position gives each input another input's result",
      symptoms="results are attached to the wrong items: prices, quotes or answers belong to another entry; "
               "values are shuffled between rows",
      source="Elixir docs, Task.async_stream/3 option :ordered ('results are emitted as soon as they are "
             "ready')",
      fix="keep the input with its result (return `{item, result}` from the task), or keep `ordered: true`")
def zip_after_unordered_stream(project: Project) -> Iterator[Found]:
    for mod, fun in ASYNC_STREAMS:
        for site in project.sites(mod, fun):
            ordered = option(site, "ordered")
            if ordered is None or text(ordered) != "false" or site.fn is None:
                continue
            ix = project.index_of(site.owner or "")
            for z in (ix.by_fn.get(site.fn, []) if ix else []):
                if z.module == "Enum" and z.fun in ("zip", "zip_with") and any(
                        _carries(ix, z, arg, site.node) for arg in z.args):
                    yield Found(z.file, z.node, "zips inputs with results that came back unordered", site.fn)
                    break


def _carries(ix, z, arg, stream) -> bool:
    """`arg` is the unordered stream's result: written there, or a variable bound to it."""
    def within(node) -> bool:
        return node is not None and node.start_byte <= stream.start_byte and stream.end_byte <= node.end_byte

    if within(arg):
        return True
    if arg.type == "identifier":
        return within(ix.binding(z.fn, text(arg), arg.start_byte))
    return False
