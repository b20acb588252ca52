"""Configuration read under a name it is not stored under: the read falls back to its default.

| kind | what | culprit |
| --- | --- | --- |
| ``config_default`` | a recorded ``Application.get_env/3`` / ``Application.fetch_env/2`` / ``Keyword.get/3`` / ``Map.get/3`` returned its default (``:error``) because the key is absent — while the configuration holds a near name: the same text as an atom where a string was asked (or the reverse), another case or separator, a few letters apart, a unit or qualifier added (``timeout`` / ``timeout_ms``), the key one level down (a nested keyword list or map), or the same key under a near application name. | the innermost application function that made the read (the call with the wrong key), not the one that uses the value |

The keys of a keyword list or map are in the recorded call's first argument; an application's
keys come from the live node (``application:get_all_env`` through the agent's ``app_env`` live
call, :func:`live_envs` — names travel as binaries, nothing becomes an atom) and are passed in
as ``envs``. Keys are compared as text. A near name counts only when its value is of the same
kind as the default (a number for a number, a boolean for a boolean …): a default of 5000 next
to ``timeout_ms: 50`` is the bug; next to ``timeout_label: "x"`` it is not. Keys that differ only
in digits (``sensor_3`` / ``sensor_4``) and keys that are not identifiers are not near.

Bounded: :data:`MAX_READS` reads, :data:`MAX_KEYS` keys a container, :data:`MAX_FACTS` facts.

A setting read before the capture began (at start-up, so no recording holds the read) is
:mod:`.config_start`'s: the same fact from the sources and the live environment.
"""

from __future__ import annotations

import re
from typing import Any, Iterable

from elixir_scope.instrument.etf import Atom

from ..findings import Finding
from ..view import Call, RecordingView, fmt, is_app_module, mod_name
from .book import FactBook
from .common import culprit_of

MAX_READS = 5000
MAX_KEYS = 200
MAX_FACTS = 3
MAX_APPS = 8

#: (module, function, arity) of the reads with a default -> index of the default argument
#: (``None``: ``fetch_env/2``, whose default is ``:error``)
READS: dict[tuple[str, str, int], int | None] = {
    ("Elixir.Application", "get_env", 3): 2,
    ("Elixir.Application", "fetch_env", 2): None,
    ("Elixir.Keyword", "get", 3): 2,
    ("Elixir.Map", "get", 3): 2,
}

#: the capture specs that record the application-environment reads (with their results)
SPECS = ("Application.get_env/3", "Application.fetch_env/2")
MAX_OPTION_SPECS = 12


def option_read_specs(keys: list[list[str]] | None) -> tuple[str, ...]:
    """Specs for ``Keyword.get/3`` / ``Map.get/3`` narrowed to the literal keys the sources read
    with a default (``[target, key text, kind]``, knowledge/source): the whole node calls them,
    so never with a wildcard key. A key the sources write is an atom the node already has."""
    out = []
    for target, key, kind in (keys or [])[:MAX_OPTION_SPECS]:
        if target not in ("Keyword", "Map") or not _IDENT.match(key.removeprefix(":")):
            continue
        if kind == "atom" and key.startswith(":"):
            out.append(f"{target}.get(_, {key}, _)")
        elif kind == "string" and target == "Map":
            out.append(f'{target}.get(_, "{key}", _)')
    return tuple(out)

_IDENT = re.compile(r"^[A-Za-z][A-Za-z0-9_.\-]{1,63}$")


def _key_text(k: Any) -> tuple[str, str] | None:
    """A key as (text, kind): ``("timeout", "atom")`` / ``("timeout", "string")``; ``None`` for
    a key that is no identifier (ids, numbers, tuples …)."""
    if isinstance(k, Atom):
        t, kind = k.name, "atom"
    elif isinstance(k, bytes):
        t, kind = k.decode("utf-8", "replace"), "string"
    else:
        return None
    return (t, kind) if _IDENT.match(t) else None


def _norm(t: str) -> str:
    return re.sub(r"[_.\-]", "", t.lower())


def _tokens(t: str) -> list[str]:
    return [x for x in re.split(r"[_.\-]|(?<=[a-z])(?=[A-Z])", t.lower()) if x]


def _distance(a: str, b: str, cap: int = 3) -> int:
    if abs(len(a) - len(b)) > cap:
        return cap + 1
    prev = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        cur = [i]
        for j, cb in enumerate(b, 1):
            cur.append(min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (ca != cb)))
        prev = cur
    return prev[-1]


def near(asked: str, held: str) -> str | None:
    """How ``held`` is a near name of ``asked`` (both key texts), or ``None``."""
    if asked == held:
        return "the same name"
    if re.sub(r"\d", "", asked) == re.sub(r"\d", "", held):
        return None  # numbered siblings: sensor_3 / sensor_4
    if _norm(asked) == _norm(held):
        return "the same name spelt with another case or separator"
    ta, th = _tokens(asked), _tokens(held)
    if ta and th and len(ta) != len(th):
        short, long_ = (ta, th) if len(ta) < len(th) else (th, ta)
        if long_[:len(short)] == short or long_[-len(short):] == short:
            return "the same name with a qualifier " + ("added" if len(th) > len(ta) else "dropped")
    a, h = _norm(asked), _norm(held)
    if min(len(a), len(h)) >= 5 and _distance(a, h, 2) <= (1 if min(len(a), len(h)) < 8 else 2):
        return "a near spelling"
    return None


def _same_kind(a: Any, b: Any) -> bool:
    """Values of one kind: both booleans, both numbers, both texts, both lists …"""
    def kind(v: Any) -> str:
        if isinstance(v, Atom):
            return "bool" if v.name in ("true", "false") else "atom"
        if isinstance(v, bool):
            return "bool"
        if isinstance(v, (int, float)):
            return "number"
        return type(v).__name__
    if a is None or b is None or isinstance(a, Atom) and a.name == "nil" or isinstance(b, Atom) and b.name == "nil":
        return True  # no default given (fetch_env/2) or nil: any kind
    return kind(a) == kind(b)


def _entries(term: Any) -> list[tuple[Any, Any]] | None:
    """The (key, value) pairs of a keyword-like list or a map (``None`` for anything else)."""
    if isinstance(term, dict):
        if Atom("__struct__") in term:
            return None
        return list(term.items())[:MAX_KEYS]
    if isinstance(term, list) and term and all(isinstance(x, tuple) and len(x) == 2 for x in term[:MAX_KEYS]):
        return [tuple(x) for x in term[:MAX_KEYS]]
    return None


def near_keys(asked: Any, default: Any, entries: Iterable[tuple[Any, Any]], *, nested: bool = True
              ) -> list[tuple[str, Any, str]]:
    """Keys of ``entries`` near the ``asked`` key whose value is of the default's kind:
    (shown key, value, how near), nearest first; one level down too (``nested``)."""
    a = _key_text(asked)
    if a is None:
        return []
    out: list[tuple[int, str, Any, str]] = []
    for k, v in entries:
        h = _key_text(k)
        if h is None:
            continue
        if k == asked:
            if nested:
                return []  # the key is there: its value is what was read
            if _same_kind(v, default):
                out.append((0, (":" + h[0]) if h[1] == "atom" else f'"{h[0]}"', v, "the same key"))
            continue
        how = near(a[0], h[0])
        shown = (":" + h[0]) if h[1] == "atom" else f'"{h[0]}"'
        if how == "the same name":
            how = f"the same name as {'an atom' if h[1] == 'atom' else 'a string'} (asked as {'an atom' if a[1] == 'atom' else 'a string'})"
        if how and _same_kind(v, default):
            out.append((0 if "same name" in how else 1, shown, v, how))
        if nested and not out:
            inner = _entries(v)
            if inner:
                for shown_in, v_in, how_in in near_keys(asked, default, inner, nested=False):
                    out.append((2, f"{shown} → {shown_in}", v_in, "the key one level down, under " + shown + (
                        "" if how_in == "the same key" else f" ({how_in})")))
    out.sort(key=lambda x: x[0])
    return [(s, v, h) for _p, s, v, h in out]


def _reader(c: Call) -> Call | None:
    """The innermost application call the read ran inside."""
    p, n = c.parent, 0
    while p is not None and n < 200:
        if is_app_module(p.module) and not p.function.startswith("__"):
            return p
        p, n = p.parent, n + 1
    return None


def _fell_back(c: Call) -> tuple[Any, Any] | None:
    """(key, default) of a read that returned its default; ``None`` otherwise."""
    mfa = (c.module, c.function, c.arity)
    if c.outcome != "return" or mfa not in READS or not c.args:
        return None
    spec = READS[mfa]
    if spec is None:  # fetch_env/2
        return (c.args[1], None) if isinstance(c.value, Atom) and c.value.name == "error" else None
    default = c.args[spec]
    return (c.args[1], default) if c.value == default else None


def env_reads(view: RecordingView) -> list[Call]:
    """The recorded application-environment reads that fell back to their default."""
    out = []
    for c in view.calls:
        if c.module == "Elixir.Application" and _fell_back(c) is not None:
            out.append(c)
            if len(out) >= MAX_READS:
                break
    return out


def _app_name(a: Any) -> str | None:
    return a.name if isinstance(a, Atom) else None


async def live_envs(conn, view: RecordingView, source_reads: list[dict] | None = None
                    ) -> dict[str, list[tuple[str, Any]]]:
    """The live environment of the applications the recording's fallen-back reads name, of the
    applications the sources read settings of with a default (``source_reads``: reads made
    before the capture, at start-up, are not in the recording), and of the loaded applications
    with a near name (bounded: :data:`MAX_APPS`): app -> [(key, value shown)]. Nothing the node
    does not hold becomes an atom there (names travel as binaries)."""
    from elixir_scope.instrument.introspect.live_system import app_env, applications

    reads = env_reads(view)
    static = list(dict.fromkeys(r["app"] for r in (source_reads or [])[:MAX_READS] if _IDENT.match(r.get("app", ""))))
    if not reads and not static:
        return {}
    wanted = list(dict.fromkeys([*(n for c in reads if (n := _app_name(c.args[0]))), *static]))
    # the applications other reads found values in: a name the app itself uses
    for c in view.calls:
        if c.module == "Elixir.Application" and c.function in ("get_env", "fetch_env") and c.outcome == "return" \
                and _fell_back(c) is None and (n := _app_name(c.args[0] if c.args else None)):
            wanted.append(n)
    try:
        loaded = [a.application for a in await applications(conn) if a.env_keys]
    except Exception:
        loaded = []
    for n in loaded:
        if any(_app_near(n, w) for w in wanted):
            wanted.append(n)
    out: dict[str, list[tuple[str, Any]]] = {}
    for name in list(dict.fromkeys(wanted))[:MAX_APPS]:
        try:
            env = await app_env(conn, name)
        except Exception:
            continue
        out[name] = [(k, getattr(v, "term", v)) for k, v in env.entries[:MAX_KEYS]]
    return out


def _app_near(a: str, b: str) -> bool:
    return a != b and near(a, b) is not None


def _env_near(c: Call, key: Any, default: Any, envs: dict[str, list[tuple[str, Any]]]
              ) -> list[tuple[str, Any, str]]:
    app = _app_name(c.args[0])
    a = _key_text(key)
    if app is None or a is None:
        return []
    return _near_in_env(app, a, default, envs)


def _near_in_env(app: str, a: tuple[str, str], default: Any, envs: dict[str, list[tuple[str, Any]]]
                 ) -> list[tuple[str, Any, str]]:
    """The near names of the key ``a`` (text, kind) in the live environment of ``app`` and of
    the applications with a near name: [(shown, value, how)], best first; empty when ``app``
    holds the key itself."""
    out: list[tuple[int, str, Any, str]] = []
    for k, v in envs.get(app, []):
        if k == a[0] and a[1] == "atom":
            return []  # held: the read found it (or it holds the default itself)
        how = near(a[0], k)
        if how and how != "the same name" and _same_kind(v, default):
            out.append((1, f":{app} → :{k}", v, how))
        elif how == "the same name" and a[1] == "string":
            out.append((0, f":{app} → :{k}", v, "the same name as an atom (asked as a string)"))
    for other, entries in envs.items():
        if other == app or not _app_near(app, other):
            continue
        for k, v in entries:
            if k == a[0] and _same_kind(v, default):
                out.append((0, f":{other} → :{k}", v, f"the same key under the application :{other} (read from :{app})"))
    out.sort(key=lambda x: x[0])
    return [(s, v, h) for _p, s, v, h in out]


def config_defaults(view: RecordingView, book: FactBook, envs: dict[str, list[tuple[str, Any]]] | None = None) -> None:
    envs = envs or {}
    seen: set[tuple] = set()
    n_reads = 0
    hits: list[tuple[Call, Call, Any, Any, list]] = []
    for c in view.calls:
        if (c.module, c.function, c.arity) not in READS:
            continue
        n_reads += 1
        if n_reads > MAX_READS:
            break
        fb = _fell_back(c)
        if fb is None:
            continue
        key, default = fb
        reader = _reader(c)
        if reader is None:
            continue
        if c.module == "Elixir.Application":
            found = _env_near(c, key, default, envs)
        else:
            entries = _entries(c.args[0])
            found = near_keys(key, default, entries) if entries else []
        if not found:
            continue
        sig = (reader.module, reader.function, reader.arity, fmt(key, 60))
        if sig in seen:
            continue
        seen.add(sig)
        hits.append((c, reader, key, default, found))
    for c, reader, key, default, found in hits[:MAX_FACTS]:
        shown_key, held, how = found[0]
        read = f"{mod_name(c.module)}.{c.function}({', '.join(fmt(a, 40) for a in c.args)})"
        default_text = ":error" if default is None else fmt(default, 30)
        where = f"the application :{_app_name(c.args[0])}'s configuration" if c.module == "Elixir.Application" \
            else "the options it read from"
        held_text = fmt(held, 40)
        book.add(Finding(
            detector="config_default",
            title=f"{reader.mfa} reads {fmt(key, 40)} and gets the default {default_text}; {shown_key} holds {held_text}",
            summary=(f"{reader.mfa} called {read}, which returned {default_text}: there is no key "
                     f"{fmt(key, 40)}. {where[0].upper() + where[1:]} holds {shown_key} = {held_text} — {how}. "
                     f"The value configured is never used; the default is, silently."),
            severity="high", confidence=0.8,
            culprit=culprit_of(view, reader, f"reads {fmt(key, 30)} (got {default_text}); {shown_key} is configured"),
            evidence=[view.call_evidence(c, f"{read}"),
                      view.end_evidence(c, f"returned {default_text}"),
                      view.call_evidence(reader, f"{reader.mfa}: the function that reads it")],
            signatures=["data:config_default"],
            fix_hint=(f"Read the key the configuration holds ({shown_key}) — same name, same type (atom or string), "
                      "same application, same nesting level; or use Application.fetch_env!/2 / Keyword.fetch!/2 / "
                      "Map.fetch!/2 where a missing key is a mistake, so it fails loudly instead of falling back.")),
            pid=reader.pid, ts=c.ts)

