"""Data: money in floats, Unicode through `~s`, configuration frozen at compile time, files
rewritten where they should be appended, atoms made from input, binary byte order."""

from __future__ import annotations

import re
from collections.abc import Iterator

from ..syntax import args_of, operator, text
from .index import descendants
from .match import atom_in_list, call_name, inside
from .model import Found, Project, rule

MONEY = re.compile(r"cents|price|amount|vat|tax|fee|money", re.I)


@rule(id="money_in_floats", family="data", shows=('wrong', 'unbalanced'),
      cues=r'\bcents?\b|\brounding\b|\bvat\b|\btax\w*|\bmismatch\b|\boff by one\b|\binvoices?\b',
      title="money rounded in binary floating point",
      matches="`Float.round(expr, 2)` where `expr` divides by 100 or works on an amount-named value "
              "(cents, price, amount, vat, tax, fee)",
      why="decimal fractions like 0.475 have no exact binary float; rounding them to cents goes the wrong way "
          "about half the time (0.475 → 0.47), so totals are a cent off",
      symptoms="amounts, taxes or totals are off by one cent; invoices are rejected for a rounding mismatch; "
               "sums do not reconcile",
      source="Elixir docs, Float.round/2 ('floating-point numbers… may not be exact'); Decimal library docs; "
             "'Handling money' in the Elixir forum / Ecto docs (store integer cents)",
      fix="compute in integer cents (`div(net * rate_bp + 5_000, 10_000)`) or with Decimal, rounding half-up once")
def money_in_floats(project: Project) -> Iterator[Found]:
    for site in project.sites("Float", "round"):
        if len(site.args) != 2 or text(site.args[1]) != "2":
            continue
        expr = site.args[0]
        by_100 = any(n.type == "binary_operator" and operator(n) == "/" and
                     text(n.child_by_field_name("right") or n) in ("100", "100.0") for n in descendants(expr))
        named = any(n.type == "identifier" and MONEY.search(text(n)) for n in descendants(expr))
        if by_100 or named:
            yield Found(site.file, site.node, "rounds money as a float", site.fn)


CONTROL_S = re.compile(r"~(?:-?(?:\d+|\*))?(?:\.(?:\d+|\*)?(?:\..?)?)?([tlkK]*)s")
IO_FORMAT = ((":io_lib", "format"), (":io_lib", "fwrite"), (":io", "format"), (":io", "fwrite"))


@rule(id="io_format_s_unicode", family="data", shows=('wrong',),
      cues=r'\bgarbl\w*|\baccent\w*|\bumlaut\w*|\bunicode\b|\bencoding\b|\bmojibake\b|Ã|\bspecial characters\b',
      title="~s in an :io_lib.format string used for Unicode text",
      matches="a literal format string of `:io_lib.format/2`, `:io.format` or `:io_lib.fwrite` with a `~s` "
              "control (width/padding allowed) without the `t` modifier",
      why="`~s` prints a binary byte by byte as Latin-1 characters; converting the result back with "
          "to_string/1 encodes each byte again, so every non-ASCII letter becomes two garbled ones (ü → Ã¼)",
      symptoms="names with accents, umlauts or non-Latin letters come out garbled (mojibake like Ã¼ or Ã©); "
               "ASCII text is fine",
      source="Erlang docs, io:format/2 control sequences (~s, and the t modifier for Unicode: ~ts)",
      fix="use `~ts` (and `~-*ts` for padding), or pad with `String.pad_trailing/2`")
def io_format_s_unicode(project: Project) -> Iterator[Found]:
    for mod, fun in IO_FORMAT:
        for site in project.sites(mod, fun):
            fmt_arg = site.args[1] if mod == ":io" and len(site.args) == 3 else (site.args[0] if site.args else None)
            if fmt_arg is None or fmt_arg.type not in ("string", "charlist", "sigil"):
                continue
            content = "".join(text(c) for c in fmt_arg.named_children if c.type == "quoted_content")
            content = content.replace("~~", "")
            if any("t" not in m.group(1) for m in CONTROL_S.finditer(content)):
                yield Found(site.file, site.node, "formats text with ~s (bytes as Latin-1)", site.fn)


RUNTIME_ENV = ("get_env", "fetch_env", "fetch_env!", "get_all_env")


@rule(id="config_frozen_at_compile_time", family="data", shows=('wrong', 'never'),
      cues=r'\blimit\b|\bthreshold\b|\bconfig\w*|\bsettings?\b|\bdeploy\w*|\benvironment\b|\blowered\b|\braised\b',
      title="runtime configuration read into a module attribute",
      matches="`@attr Application.get_env/fetch_env!(…)` (always), or `@attr Application.compile_env(app, key)` "
              "when the same app/key is also read or put at run time elsewhere",
      why="a module attribute is evaluated when the module is compiled; the value the deployment sets at "
          "boot (runtime.exs, put_env) never reaches the code that reads the attribute",
      symptoms="a configured limit, threshold or setting has no effect; the code keeps using the default "
               "although the config page shows the new value",
      source="Elixir docs, Application 'Compile-time environment' (compile_env) and the anti-patterns guide "
             "'Compile-time dependencies'; Credo.Check.Warning.ApplicationConfigInModuleAttribute",
      fix="read it at run time (`Application.get_env/3` inside the function) or configure it in config.exs "
          "for a release-time value")
def config_frozen_at_compile_time(project: Project) -> Iterator[Found]:
    runtime_keys = set()
    for fun in (*RUNTIME_ENV, "put_env"):
        for site in project.sites("Application", fun):
            if site.fn is not None and len(site.args) >= 2:
                runtime_keys.add((text(site.args[0]), text(site.args[1])))
    for ix in project.files:
        for mod in ix.modules.values():
            for name, value in mod.attributes.items():
                if value.type != "call":
                    continue
                m, f = call_name(value)
                if m != "Application":
                    continue
                args = args_of(value)
                key = (text(args[0]), text(args[1])) if len(args) >= 2 else None
                if f in RUNTIME_ENV or (f == "compile_env" and key in runtime_keys):
                    readers = ix.attr_uses.get((mod.name, name), [])
                    if readers:
                        yield Found(ix.file, value.parent or value, f"@{name} is fixed when {mod.name} is compiled",
                                    readers[0], ran=tuple(readers[1:]))


INCREMENT = re.compile(r"line|row|entr|batch|pending|buffer|chunk|sample|event|record|log", re.I)


@rule(id="file_rewritten_not_appended", family="data", shows=('wrong', 'never'),
      cues=r'\bonly (?:the )?last\b|\bheader\b|\bfile\b|\bcsv\b|\blog\b|\bfrom the start\b|\boverwrit\w*|\bonly contains\b',
      title="File.write without :append where lines are added over time",
      matches="`File.write/2,3` or `File.write!/2,3` without `[:append]`, writing values named like "
              "lines/rows/entries/batch/buffer, in a server callback or a loop (or a helper they call)",
      why="File.write truncates the file each time; each flush replaces everything written before, "
          "header included",
      symptoms="a log, CSV or export file holds only the last batch; earlier lines and the header are gone",
      source="Elixir docs, File.write/3 (modes; `:append`), File.open/2",
      fix="`File.write!(path, lines, [:append])`, or keep the file open with `File.open(path, [:append])`")
def file_rewritten_not_appended(project: Project) -> Iterator[Found]:
    for fun in ("write", "write!"):
        for site in project.sites("File", fun):
            if len(site.args) < 2 or site.fn is None:
                continue
            if len(site.args) >= 3 and atom_in_list(site.args[2], ":append"):
                continue
            if site.args[1].type in ("string", "charlist", "sigil"):
                continue   # a literal: a header or a marker written once, not lines added over time
            if not any(INCREMENT.search(text(n)) for n in descendants(site.args[1]) if n.type == "identifier") \
                    and not INCREMENT.search(text(site.args[1])[:60]):
                continue
            repeated = site.fn.name.startswith("handle_") or inside(site.node, ("anonymous_function",)) is not None
            if not repeated:
                ix = project.index_of(site.owner or "")
                callers = [s.fn for s in (ix.by_key.get((None, site.fn.name), []) if ix else [])
                           if s.fn is not None and s.owner == site.owner]
                repeated = any(c.name.startswith("handle_") for c in callers)
            if repeated:
                yield Found(site.file, site.node, "rewrites the file at every write", site.fn)


TO_ATOM = (("String", "to_atom"), (":erlang", "binary_to_atom"), (":erlang", "list_to_atom"),
           ("List", "to_atom"))


@rule(id="atom_from_input", family="data", shows=('gradual', 'node_wide', 'crash'),
      cues=r'\batoms?\b|\bmemory\b|\bsystem_limit\b|\bkeeps? growing\b',
      title="atoms created from runtime strings",
      matches="`String.to_atom/1`, `List.to_atom/1`, `:erlang.binary_to_atom/1,2` on a non-literal value",
      why="atoms are never garbage-collected and the table is limited (about a million); atoms made from "
          "input leak until the node crashes with system_limit",
      symptoms="the atom count grows steadily; the node eventually crashes with a system_limit error; "
               "memory creeps up",
      source="Elixir anti-patterns guide / Erlang efficiency guide (atoms are not garbage collected); "
             "Credo.Check.Warning.UnsafeToAtom",
      fix="use `String.to_existing_atom/1` or map the allowed strings explicitly")
def atom_from_input(project: Project) -> Iterator[Found]:
    for mod, fun in TO_ATOM:
        for site in project.sites(mod, fun):
            if site.args and site.args[0].type not in ("string", "charlist", "atom"):
                yield Found(site.file, site.node, f"{mod}.{fun} on {text(site.args[0])[:40]}", site.fn)


def _segments(node):
    """(size, endianness or None) of the integer segments `x::32` / `x::size(32)-little` of a bitstring."""
    for seg in node.named_children:
        if seg.type != "binary_operator" or operator(seg) != "::":
            continue
        spec = text(seg.child_by_field_name("right") or seg)
        m = re.search(r"(?:^|-|size\()(\d+)\)?", spec)
        if not m or any(w in spec for w in ("binary", "bytes", "bits", "bitstring", "utf", "float")):
            continue
        size = int(m.group(1))
        end = next((e for e in ("little", "big", "native") if e in spec), None)
        yield size, end


@rule(id="binary_endianness_mismatch", family="data", shows=('wrong',),
      cues=r'\babsurd\b|\bhuge\b|\bmillions\b|\brandom\b|\bnegative\b|\bnew (?:\w+ )?(?:devices?|meters?|generation|models?|firmware)\b|\bgarbage\b',
      title="a binary pattern reads big-endian what another part writes little-endian",
      matches="an integer segment of 16 bits or more with no endianness (`x::32`, big by default) in a "
              "binary pattern, where the analysed code elsewhere writes or reads the same size `-little`",
      why="bit syntax defaults to big-endian; data produced little-endian (devices, x86 formats) read with "
          "the default gets its bytes reversed: huge or absurd numbers",
      symptoms="absurd or huge numeric values from a device or file format; readings a million times too "
               "large for newer devices while older ones are fine",
      source="Elixir docs, Kernel.<<>>/1 ('endianness… default is big'); Erlang reference manual, bit syntax",
      fix="state the byte order: `wh::32-little` (or branch on the frame version)")
def binary_endianness_mismatch(project: Project) -> Iterator[Found]:
    little: set[int] = set()
    patterns = []
    for ix in project.files:
        for mod in ix.modules.values():
            for n in ix.nodes("bitstring", module=mod.name):
                segs = list(_segments(n))
                little.update(size for size, end in segs if end == "little")
                is_pattern = _is_pattern(n)
                if is_pattern:
                    fn = next((f for f in mod.functions if f.node.start_byte <= n.start_byte < f.node.end_byte), None)
                    patterns.append((ix.file, n, fn, segs))
    for file, node, fn, segs in patterns:
        bad = [size for size, end in segs if end is None and size >= 16 and size in little]
        if bad:
            yield Found(file, node, f"{bad[0]}-bit integer read big-endian; little-endian elsewhere", fn)


def _is_pattern(node) -> bool:
    parent = node.parent
    if parent is not None and parent.type == "binary_operator" and operator(parent) == "=":
        left = parent.child_by_field_name("left")
        return left is not None and left.id == node.id
    cur = node.parent
    while cur is not None and cur.type in ("arguments", "binary_operator"):
        if cur.type == "arguments" and cur.parent is not None and cur.parent.type == "stab_clause":
            return True
        if cur.type == "arguments" and cur.parent is not None and cur.parent.type == "call":
            grand = cur.parent.parent
            return grand is not None and grand.type == "arguments" and grand.parent is not None \
                and call_name(grand.parent)[1] in ("def", "defp")
        cur = cur.parent
    return False




PARSERS = (("Integer", "parse"), ("Float", "parse"))


@rule(id="parse_rest_ignored", family="data", shows=("wrong", "unbalanced"),
      cues=r"\bthousands?\b|\bseparators?\b|\bcomma\w*|\bparsed?\b|\bimport\w*|\bamounts?\b|\bonly (?:the )?first\b|\btoo (?:low|small)\b",
      title="Integer.parse / Float.parse with the unparsed rest thrown away",
      matches="`{n, _} = Integer.parse(text)` / `Float.parse` (also in a `case` clause or piped) where the "
              "rest of the string is matched by `_` or `_name`",
      why="parse/1 reads the longest valid prefix and returns the rest: \"1,049.00\" parses as {1, \",049.00\"}; "
          "ignoring the rest silently accepts a wrong number",
      symptoms="amounts, quantities or prices are far too small (1 instead of 1049); numbers written with "
               "thousands separators or units are misread without an error",
      source="Elixir docs, Integer.parse/2 and Float.parse/1 (returns {value, rest}); String.to_integer/1 "
             "raises on trailing characters",
      fix="match the empty rest (`{n, \"\"} = Integer.parse(text)`) and handle the error, or normalise "
          "separators first")
def parse_rest_ignored(project: Project) -> Iterator[Found]:
    for mod, fun in PARSERS:
        for site in project.sites(mod, fun):
            parent = site.expr.parent
            pattern = None
            if parent is not None and parent.type == "binary_operator" and operator(parent) == "=":
                pattern = parent.child_by_field_name("left")
            elif parent is not None and parent.type == "arguments" and parent.parent is not None \
                    and call_name(parent.parent)[1] == "case":
                for clause in (c for c in descendants(parent.parent) if c.type == "stab_clause"):
                    pats = clause.child_by_field_name("left")
                    pat = pats.named_children[0] if pats is not None and pats.named_child_count else None
                    if pat is not None and pat.type == "tuple" and pat.named_child_count == 2:
                        pattern = pat
                        break
            if pattern is not None and pattern.type == "tuple" and pattern.named_child_count == 2 \
                    and pattern.named_children[1].type == "identifier" and text(pattern.named_children[1]).startswith("_"):
                yield Found(site.file, site.node, f"{mod}.parse keeps a prefix and drops {text(pattern.named_children[1])}",
                            site.fn)


@rule(id="binary_part_cuts_text", family="data", shows=("wrong", "crash"),
      cues=r"\bgarbl\w*|\bcut\w*|\btruncat\w*|\binvalid (?:utf-?8|characters?)\b|\bunicode\b|\baccent\w*|\bemoji\w*|\bsearch\b|\bpreview\w*",
      title="text truncated by bytes (binary_part) instead of by characters",
      matches="`binary_part(text, 0, n)` / `:binary.part(text, 0, n)` on a value named like text (`text`, "
              "`name`, `title`, `body`, `message`, `description`, `summary`, `comment`)",
      why="a UTF-8 character can take 2–4 bytes; cutting at a byte count splits one and leaves an invalid "
          "binary that later crashes String functions, JSON encoders or the database",
      symptoms="previews, titles or messages with accents or emoji end in a broken character; JSON encoding "
               "or inserts fail with invalid UTF-8 for some texts only",
      source="Elixir docs, String module ('Bytes vs code points vs graphemes'), String.slice/3",
      fix="`String.slice(text, 0, n)` (graphemes), or cut at a valid boundary")
def binary_part_cuts_text(project: Project) -> Iterator[Found]:
    for mod, fun in ((None, "binary_part"), ("Kernel", "binary_part"), (":binary", "part"), (":erlang", "binary_part")):
        for site in project.sites(mod, fun):
            if len(site.args) == 3 and text(site.args[1]) == "0" and TEXTY.search(text(site.args[0])):
                yield Found(site.file, site.node, f"cuts {text(site.args[0])} at a byte count", site.fn)


TEXTY = re.compile(r"(?:^|[._])(?:text|name|title|body|message|msg|description|summary|comment|label|note)s?$")
