"""A registry started with ``keys: :duplicate`` where the code means one process per key.

``Registry.register/3`` on a ``:unique`` registry refuses a key another live process holds
(``{:error, {:already_registered, pid}}``); on a ``:duplicate`` registry it always succeeds. Code
that claims a key to be its only holder — a bed, a seat, a lock, a job — and handles the refusal
(``{:error, {:already_registered, _}} -> {:stop, :occupied}``), or takes a lookup's one entry
(``[{pid, _}] = Registry.lookup(r, key)``), was written for a unique registry: started with
``keys: :duplicate``, the refusal never comes and two processes hold the same key. The recording
shows both registrations succeed; the sources show where the registry was configured.

| kind | what | culprit |
| --- | --- | --- |
| ``registry_key_shared`` | two or more live processes registered one key in one registry (recorded ``Registry.register/3`` calls of different processes that returned ``{:ok, _}``, the earlier holder not exited before the later one registered), while the sources start that registry with ``keys: :duplicate`` and a function of the sources treats it as unique (it registers there and handles ``:already_registered``, or matches a lookup's one entry) — knowledge/source/stores.py | the function that configures the registry (the supervisor's ``init/1`` with the child spec), detail ``keys: :duplicate`` and the registry |

A duplicate registry is right for a pub/sub topic (many subscribers a key): without code that
treats it as unique there is no fact. Bounded: :data:`MAX_CALLS` calls, :data:`MAX_FACTS` facts.
"""

from __future__ import annotations

from typing import Any

from elixir_scope.instrument.etf import Atom

from ..findings import Culprit, Finding
from ..view import Call, RecordingView, fmt
from .book import FactBook

__all__ = ["registry_keys_shared", "shared_keys", "unique_meant"]

MAX_CALLS = 50_000
MAX_FACTS = 2
REGISTER = ("Elixir.Registry", "register", 3)


def _ok(v: Any) -> bool:
    return isinstance(v, tuple) and len(v) == 2 and isinstance(v[0], Atom) and v[0].name == "ok"


def _same(runtime: str, source: str) -> bool:
    """A registry's recorded name against the sources' text of it (an alias as written)."""
    return runtime == source or runtime.endswith("." + source) or source.endswith("." + runtime)


def unique_meant(stores: dict | None, registry: str) -> tuple[dict, list[str]] | None:
    """(the ``keys: :duplicate`` configuration of ``registry``, the functions that treat it as
    unique) when the sources hold both, else None."""
    stores = stores or {}
    conf = next((r for r in stores.get("registries") or [] if r.get("keys") == "duplicate"
                 and _same(registry, str(r.get("name")))), None)
    if conf is None:
        return None
    users = [f for name, fs in (stores.get("unique_expected") or {}).items() if _same(registry, name) for f in fs]
    return (conf, users) if users else None


def shared_keys(view: RecordingView) -> dict[tuple[str, str], list[Call]]:
    """(registry, key) → successful registrations by two or more different processes, each
    earlier holder still alive when a later one registered."""
    exits: dict[int, int] = {}
    for e in view.exits:
        exits.setdefault(e.pid, e.ts)
    by_key: dict[tuple[str, str], list[Call]] = {}
    for c in view.calls[:MAX_CALLS]:
        if (c.module, c.function, c.arity) != REGISTER or c.outcome != "return" or not _ok(c.value) or len(c.args) != 3:
            continue
        by_key.setdefault((fmt(c.args[0], 100), fmt(c.args[1], 100)), []).append(c)
    out = {}
    for k, calls in by_key.items():
        calls.sort(key=lambda c: c.ts)
        live: list[Call] = []
        for c in calls:
            if any(h.pid != c.pid and exits.get(h.pid, c.ts + 1) > c.ts for h in live):
                out.setdefault(k, [h for h in live if exits.get(h.pid, c.ts + 1) > c.ts][:1]).append(c)
            live.append(c)
    return out


def registry_keys_shared(view: RecordingView, book: FactBook, stores: dict | None = None) -> None:
    if not stores:
        return
    made = 0
    for (registry, key), calls in shared_keys(view).items():
        meant = unique_meant(stores, registry)
        if meant is None:
            continue
        conf, users = meant
        module, _, function = str(conf["function"]).rpartition(".")
        holders = len({c.pid for c in calls})
        book.add(Finding(
            detector="registry_key_shared",
            title=f"{holders} processes hold the key {key} of {registry}, a registry started with keys: :duplicate",
            summary=(f"Registry.register({registry}, {key}, _) returned {{:ok, _}} in {holders} live processes "
                     f"({', '.join(view.label(c.pid) for c in calls[:4])}): {registry} was started with keys: :duplicate "
                     f"({conf['function']}, line {conf.get('line')}), so a second claim of a key is never refused — while "
                     f"{', '.join(users[:3])} treat it as unique (they handle {{:error, {{:already_registered, _}}}}, which "
                     "only a :unique registry returns, or take a lookup's one entry)."),
            severity="high", confidence=0.75,
            culprit=Culprit(module=module.removeprefix("Elixir."), function=function or None,
                            detail=f"{{Registry, keys: :duplicate, name: {registry}}}"),
            evidence=[view.end_evidence(c, f"{view.label(c.pid)} registered {key} in {registry}: {fmt(c.value, 40)}")
                      for c in calls[:4]],
            signatures=["registry:duplicate_key_held"],
            fix_hint=(f"Start {registry} with keys: :unique: a claim of a key another process holds then returns "
                      "{:error, {:already_registered, pid}}, as the code that registers there expects.")),
            pid=calls[-1].pid, ts=calls[-1].ts)
        made += 1
        if made >= MAX_FACTS:
            return
