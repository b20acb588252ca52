"""Lazy work never done: a ``Stream`` built around the application's own functions, returned,
and never run.

| kind | what | culprit |
| --- | --- | --- |
| ``stream_never_run`` | a function returned a lazy ``%Stream{}`` whose steps are functions it defined itself (``Stream.map``/``Stream.each`` with its own ``fn``), and none of those functions ran afterwards: nothing consumed the stream (no ``Stream.run/1``, no ``Enum``), so its side effects never happened | that function |

Only streams whose steps are the application's anonymous functions count: their calls are
recorded, so "never ran" is seen, not guessed. Bounded: the first :data:`MAX_CALLS` calls.
"""

from __future__ import annotations

from typing import Any

from elixir_scope.instrument.etf import Atom
from elixir_scope.instrument.etf.terms import Fun

from ..findings import Finding
from ..view import RecordingView, fmt, is_app_module
from .book import FactBook
from .common import culprit_of

MAX_CALLS = 20_000


def _stream_funs(v: Any) -> list[Fun] | None:
    if isinstance(v, tuple) and len(v) == 2 and getattr(v[0], "name", None) == "ok":
        v = v[1]
    if not isinstance(v, dict) or v.get(Atom("__struct__")) != Atom("Elixir.Stream"):
        return None
    funs = v.get(Atom("funs"))
    return [f for f in funs if isinstance(f, Fun)] if isinstance(funs, list) else None


def streams_never_run(view: RecordingView, book: FactBook) -> None:
    calls = [c for c in view.calls[:MAX_CALLS] if is_app_module(c.module)]
    done = set()
    for c in calls:
        if c.outcome != "return" or c.end_ts is None or (c.module, c.function, c.arity) in done:
            continue
        funs = _stream_funs(c.value)
        if not funs:
            continue
        own = [f for f in funs if c.module.encode() in f.raw]
        if not own:
            continue   # steps of other modules: whether they ran is not recorded
        prefix = f"-{c.function}/{c.arity}-fun-"
        ran = any(o.module == c.module and o.function.startswith(prefix) and o.ts >= c.end_ts for o in calls)
        if ran:
            continue
        done.add((c.module, c.function, c.arity))
        n = sum(1 for o in calls if (o.module, o.function, o.arity) == (c.module, c.function, c.arity)
                and _stream_funs(o.value))
        book.add(Finding(
            detector="stream_never_run",
            title=f"{c.mfa} returns a lazy Stream that is never run",
            summary=(f"{c.mfa}({fmt(c.args, 80)}) returned a %Stream{{}} of {len(funs)} step(s) built from its own "
                     f"functions ({n} such call(s)); none of those functions ran afterwards. A stream does nothing "
                     "until something consumes it: the work it describes — sending, writing, notifying — never "
                     "happened, and nothing failed."),
            severity="high", confidence=0.8, culprit=culprit_of(view, c, fmt(c.args, 60)),
            evidence=[view.call_evidence(c, f"{c.mfa}({fmt(c.args, 60)})"),
                      view.end_evidence(c, f"returned a %Stream{{}} with {len(funs)} lazy step(s)")],
            signatures=["return:lazy_stream_dropped"],
            fix_hint=("Run the stream where its effects are wanted: end the pipeline with Stream.run/1 or "
                      "Enum.each/2 (or use Enum.map/each instead of Stream for a finite list).")),
            pid=c.pid, ts=c.ts)
