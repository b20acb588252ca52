"""Settings read before the capture began — once, at start-up, in ``init/1`` or a module
attribute — so that no recording holds the read: the ``config_default`` fact from the sources
and the live node.

The sources say what is read and with which default (knowledge/source ``env_reads``: every
``Application.get_env/3`` / ``compile_env/3`` with a literal application, key and default); the
live environment (:func:`.config.live_envs`) says whether the key is there or only a near name
of it, compared as :mod:`.config` compares a recorded read's.
"""

from __future__ import annotations

import re
from typing import Any

from elixir_scope.instrument.etf import Atom

from ..findings import Culprit, Finding, Location
from ..view import RecordingView, fmt
from .book import FactBook
from .config import MAX_FACTS, MAX_READS, _IDENT, _near_in_env, _tokens
from .stated import stated_values

#: the most recorded calls looked through for a default in use (each term bounded by valuematch)
MAX_USE_CALLS = 400


def _as_term(v: Any) -> Any:
    """A source literal as the recorded terms hold it (a string is a binary)."""
    return v.encode() if isinstance(v, str) else v


def _equal(a: Any, b: Any) -> bool:
    if isinstance(a, bool) or isinstance(b, bool):
        return isinstance(a, Atom) and a.name == str(b).lower() or isinstance(b, Atom) and b.name == str(a).lower() \
            or (isinstance(a, bool) and isinstance(b, bool) and a == b)
    if isinstance(a, (int, float)) and isinstance(b, (int, float)):
        return a == b
    return type(a) is type(b) and a == b


#: callbacks whose last argument is the process's state
STATE_CALLBACKS = {("handle_call", 3), ("handle_cast", 2), ("handle_info", 2), ("handle_continue", 2)}


def _default_in_use(view: RecordingView, module: str, default: Any) -> list[tuple[int, str, int, int, str]]:
    """Where the recording shows ``default`` — the value the read fell back to — kept by a
    process of ``module``: its recorded states, else its callbacks' state argument. At most 3
    (event id, event kind, ts, pid, what)."""
    from .valuematch import leaves

    if default is None:
        return []
    want = _as_term(default)
    erl = module if module.startswith("Elixir.") else "Elixir." + module
    mine = {pid for pid, m in view.module_of_pid.items() if m == erl}
    out: list[tuple[int, str, int, int, str]] = []
    for st in view.states[:MAX_USE_CALLS]:
        if st.pid in mine and any(_equal(leaf, want) for leaf in leaves(st.state, 2000)):
            out.append((st.event_id, "state", st.ts, st.pid, f"the state of {view.label(st.pid)} holds {fmt(default, 30)}"))
            return out
    n = 0
    for c in view.calls:
        if c.module != erl or (c.function, c.arity) not in STATE_CALLBACKS or not c.args:
            continue
        n += 1
        if n > MAX_USE_CALLS:
            break
        if any(_equal(leaf, want) for leaf in leaves(c.args[-1], 2000)):
            out.append((c.call_id, "call", c.ts, c.pid, f"{c.mfa} ran with {fmt(default, 30)} in its state"))
            if len(out) >= 3:
                break
    return out


def _stated(symptom: str, value: Any) -> bool:
    """Whether the symptom states the configured number (``8`` for ``8.0``)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return False
    return any(v.number is not None and float(v.number) == float(value) for v in stated_values(symptom))


def config_defaults_at_start(view: RecordingView, book: FactBook, envs: dict[str, list[tuple[str, Any]]] | None,
                             source_reads: list[dict] | None, symptom: str = "") -> None:
    """``config_default`` for a read the recording cannot hold: a setting read once at start-up
    (``init/1``, a module attribute) before the capture began. The sources say what is read and
    with which default (``source_reads``: knowledge/source ``env_reads``); the live environment
    says the key is absent while a near name holds a value of the default's kind. Stronger when
    the recording shows the default in use (kept in the state of a process of the reading
    module), when the symptom states the configured value and when it names a word of the key;
    a read the recording holds is left to :func:`.config.config_defaults`."""
    if not envs or not source_reads:
        return
    covered = {(f.culprit.module, f.culprit.function) for f in book.of_kind("config_default") if f.culprit}
    n = 0
    for r in source_reads[:MAX_READS]:
        app, key, default = r.get("app"), r.get("key"), r.get("default")
        if not isinstance(app, str) or not isinstance(key, str) or app not in envs or not envs[app]:
            continue
        if not _IDENT.match(key) or (r.get("module"), r.get("function")) in covered:
            continue
        found = _near_in_env(app, (key, "atom"), _as_term(default), envs)
        if not found:
            continue
        shown_key, held, how = found[0]
        in_use = _default_in_use(view, r["module"], default)
        stated = _stated(symptom, held)
        words = {w for w in re.findall(r"[a-z]{3,}", symptom.lower())}
        named = any(t in words for t in _tokens(key) if len(t) >= 3)
        confidence = 0.45 + 0.2 * bool(in_use) + 0.1 * stated + 0.05 * named
        fn = r.get("function")
        where = f"{r['module']}{'.' + fn if fn else ''} ({r.get('file')}:{r.get('line')})"
        default_text = r.get("default_text") or fmt(default, 30)
        held_text = fmt(held, 40)
        evidence = [view.evidence(eid, kind, ts, pid, what) for eid, kind, ts, pid, what in in_use]
        first = in_use[0] if in_use else None
        book.add(Finding(
            detector="config_default",
            title=f"{where} reads :{app} :{key} and gets the default {default_text}; {shown_key} holds {held_text}",
            summary=(f"{where} reads Application.get_env(:{app}, :{key}, {default_text}) — before this recording "
                     f"began (at start-up). The live configuration of :{app} has no :{key}; it holds "
                     f"{shown_key} = {held_text} — {how}. The value configured is never used; the default "
                     f"{default_text} is, silently"
                     + (f" (the recording shows it in use: {first[4]})." if first else ".")),
            severity="high", confidence=round(min(0.8, confidence), 2),
            culprit=Culprit(module=r["module"], function=fn,
                            detail=f"reads :{key} (gets {default_text}); {shown_key} is configured",
                            process=view.label(first[3]) if first else None,
                            location=Location(file=str(r.get("file")), line=int(r.get("line") or 0))),
            evidence=evidence,
            signatures=["data:config_default"],
            fix_hint=(f"Read the key the configuration holds ({shown_key}) — or set :{key}; use "
                      "Application.fetch_env!/2 where a missing setting is a mistake, so it fails loudly at "
                      "start-up instead of falling back.")),
            pid=first[3] if first else None, ts=first[2] if first else None)
        n += 1
        if n >= MAX_FACTS:
            break
