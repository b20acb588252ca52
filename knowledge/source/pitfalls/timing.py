"""Time and timers: clocks mixed, timers cancelled with the wrong API, float or wrong-unit
timeouts, generators reseeded from the clock, gen_statem timeouts that outlive their state."""

from __future__ import annotations

import re
from collections.abc import Iterator

from ..syntax import args_of, operator, text
from .index import CallSite, descendants
from .match import COMPARE, contains_time_call, floaty, name_matches, statement_dropped
from .model import Found, Project, rule

SEND_AFTER = (("Process", "send_after"), (":erlang", "send_after"), (":erlang", "start_timer"))
TIMER_MODULE_STARTS = ("send_after", "apply_after", "send_interval", "apply_interval", "exit_after", "kill_after")
# (module, fun, index of the time argument)
TIME_ARGS = (("Process", "send_after", 2), ("Process", "sleep", 0), (":timer", "sleep", 0),
             (":erlang", "send_after", 0), (":erlang", "start_timer", 0), (":timer", "send_after", 0),
             (":timer", "apply_after", 0), (":timer", "send_interval", 0), (":timer", "apply_interval", 0))
MONOTONIC = (("System", "monotonic_time"), (":erlang", "monotonic_time"))
WALL = (("System", "system_time"), ("System", "os_time"), (":os", "system_time"), (":erlang", "system_time"))


def _time_args(project: Project) -> Iterator[tuple[CallSite, object]]:
    for mod, fun, i in TIME_ARGS:
        for site in project.sites(mod, fun):
            if len(site.args) > i:
                yield site, site.args[i]


@rule(id="timer_cancel_wrong_api", family="time", shows=('wrong', 'stalled', 'never'),
      cues=r'\bcancel\w*|\bextend\w*|\bpostpon\w*|\breschedul\w*|\bstill (?:fired?|went off|closed|ran)|\bclosed on time|\btime left',
      title=":timer.cancel/1 on a Process.send_after reference",
      matches="`:timer.cancel(ref)` in a module that starts its timers with `Process.send_after` / "
              "`:erlang.send_after` / `:erlang.start_timer` and never with the :timer module",
      why="`Process.send_after/3` returns a plain reference; `:timer.cancel/1` only knows the "
          "{:instant | :send_local | ..., ref} values the :timer module returns, answers {:error, :badarg} "
          "and cancels nothing, so the old timer still fires",
      symptoms="the timer still fires after it was cancelled or extended; a deadline, close or timeout "
               "happens at the original time; a rescheduled event runs twice or too early",
      source="Erlang docs, timer:cancel/1 (\"TRef: a timer reference returned by the timer module\"); "
             "Elixir docs, Process.cancel_timer/2",
      fix="cancel a `Process.send_after` reference with `Process.cancel_timer/1` (and check the result)")
def timer_cancel_wrong_api(project: Project) -> Iterator[Found]:
    for site in project.sites(":timer", "cancel"):
        ix = project.index_of(site.owner or "")
        if ix is None:
            continue
        owner_sites = ix.calls_of(site.owner)
        starts_with_timer = any(s.module == ":timer" and s.fun in TIMER_MODULE_STARTS for s in owner_sites)
        erlang_timers = any((s.module, s.fun) in SEND_AFTER for s in owner_sites)
        if erlang_timers and not starts_with_timer:
            yield Found(site.file, site.node, "cancels with :timer.cancel/1 a reference made by Process.send_after",
                        site.fn)


@rule(id="float_timer_value", family="time", shows=('crash', 'never'),
      cues=r'\bretr(?:y|ies|ied)\b|\bbackoff\b|\bargumenterror\b|\bbadarg\b|\bdelay\w*',
      title="a float passed as a timer or sleep time",
      matches="the time argument of `Process.send_after`, `Process.sleep`, `:timer.sleep`, `:erlang.send_after`, "
              "`:timer.send_interval`… built with `/`, `:math.pow` or a float literal (followed through local "
              "variables and module attributes), not wrapped in `round`/`trunc`/`div`",
      why="timer times must be non-negative integers of milliseconds; a float raises ArgumentError "
          "(badarg) when the timer is started, typically in the rare path that computes a backoff",
      symptoms="crash with ArgumentError or badarg when a retry, backoff or delay is scheduled; the process "
               "restarts and its queue or pending work is lost; retries never happen",
      source="Elixir docs, Process.send_after/4 (time is a non-negative integer); Erlang docs, "
             "erlang:send_after/3 (badarg); :math.pow/2 returns a float",
      fix="make the time an integer: `round(base * :math.pow(2, n))`, `trunc/1`, or integer arithmetic "
          "(`base * Integer.pow(2, n)`, `Bitwise.bsl(base, n)`)")
def float_timer_value(project: Project) -> Iterator[Found]:
    ixs = {ix.file: ix for ix in project.files}
    for site, arg in _time_args(project):
        if floaty(ixs[site.file], site, arg):
            yield Found(site.file, site.node, f"the time {text(arg)[:60]} is a float", site.fn)


@rule(id="monotonic_vs_system_time", family="time", shows=('wrong', 'never'),
      cues=r'\bexpir\w*|\bvalid\w*|\bttl\b|\bdeadline\w*|\bsessions?\b|\btokens?\b|\btickets?\b',
      title="a monotonic-time deadline compared with wall-clock time",
      matches="a module that adds to `System.monotonic_time` (a deadline or expiry) and compares "
              "`System.system_time`/`os_time` values, with no comparison against monotonic time",
      why="monotonic time has an arbitrary origin (often a large negative number on the BEAM); it only "
          "measures intervals against other monotonic readings. A deadline made from it compared with "
          "Unix time is always in the past (or always in the future)",
      symptoms="everything is expired, refused or timed out at once; tickets, tokens, sessions or leases "
               "are never valid; or they never expire",
      source="Elixir docs, System module 'Time' section (monotonic time for intervals, system time for "
             "points in time); Erlang 'Time and Time Correction' guide",
      fix="use one clock: `System.system_time(:second)` for a stored expiry compared with the wall clock, "
          "or compare monotonic deadlines with `System.monotonic_time/1` in the same unit")
def monotonic_vs_system_time(project: Project) -> Iterator[Found]:
    for ix in project.files:
        for mod in ix.modules.values():
            sites = ix.calls_of(mod.name)
            deadlines = [s for s in sites if s.key in MONOTONIC and _added(s.expr)]
            if not deadlines:
                continue
            mono_compared = any(s.key in MONOTONIC and _compared(ix, s) for s in sites)
            wall_compared = [s for s in sites if s.key in WALL and _compared(ix, s)]
            if mono_compared or not wall_compared:
                continue
            for s in deadlines[:2]:
                yield Found(s.file, s.expr.parent or s.node,
                            "a deadline made from monotonic time is compared with system time in "
                            + ", ".join(sorted({w.fn.label for w in wall_compared if w.fn})),
                            s.fn, ran=tuple(w.fn for w in wall_compared if w.fn))


def _added(expr) -> bool:
    parent = expr.parent
    return parent is not None and parent.type == "binary_operator" and operator(parent) == "+"


def _compared(ix, site: CallSite) -> bool:
    """The call's value (or the variable it is bound to) is an operand of a comparison."""
    parent = site.expr.parent
    if parent is not None and parent.type == "binary_operator" and operator(parent) in COMPARE:
        return True
    if parent is not None and parent.type == "binary_operator" and operator(parent) == "=" and site.fn is not None:
        left = parent.child_by_field_name("left")
        if left is not None and left.type == "identifier":
            name = text(left)
            for n in descendants(site.fn.node):
                if n.type == "binary_operator" and operator(n) in COMPARE and n.start_byte > parent.end_byte:
                    if any(c.type == "identifier" and text(c) == name for c in descendants(n)):
                        return True
    return False


NATIVE_DIVISORS = frozenset({"1000", "1_000", "1000000", "1_000_000", "1000000000", "1_000_000_000"})


@rule(id="native_time_unit_assumed", family="time", shows=('wrong', 'rate', 'slow'),
      cues=r'\bduration\w*|\blatenc\w*|\btook\b|\bmilliseconds?\b|\bthousand',
      title="native time units divided by a guessed constant",
      matches="`System.monotonic_time()` / `system_time()` / `os_time()` / `:erlang.monotonic_time()` without a "
              "unit, whose value (or a difference of such values) is divided by 1000, 1_000_000 or 1_000_000_000",
      why="the native unit is platform- and build-dependent (nanoseconds, microseconds…); dividing by a "
          "constant assumes one, so durations are off by factors of 1000",
      symptoms="durations, latencies or rates are off by a factor of a thousand; timeouts fire far too early "
               "or never; metrics show absurd values",
      source="Elixir docs, System.monotonic_time/0 and System.convert_time_unit/3 ('native' unit is "
             "operating-system dependent)",
      fix="ask for the unit: `System.monotonic_time(:millisecond)`, or convert with "
          "`System.convert_time_unit(t, :native, :millisecond)`")
def native_time_unit_assumed(project: Project) -> Iterator[Found]:
    native = {(m, f) for m, f in (*MONOTONIC, *WALL)}
    for ix in project.files:
        for fn, sites in ix.by_fn.items():
            zero = [s for s in sites if s.key in native and not s.args]
            if not zero:
                continue
            names = set()
            for s in zero:
                parent = s.expr.parent
                if parent is not None and parent.type == "binary_operator" and operator(parent) == "=":
                    left = parent.child_by_field_name("left")
                    if left is not None and left.type == "identifier":
                        names.add(text(left))
            for n in descendants(fn.node):
                divided = None
                if n.type == "binary_operator" and operator(n) == "/":
                    divided = (n.child_by_field_name("left"), n.child_by_field_name("right"))
                elif n.type == "call" and text(n.child_by_field_name("target") or n) == "div":
                    a = args_of(n)
                    divided = (a[0], a[1]) if len(a) == 2 else None
                if not divided or divided[1] is None or text(divided[1]) not in NATIVE_DIVISORS:
                    continue
                inner = divided[0]
                if inner is None:
                    continue
                uses = any((c.type == "identifier" and text(c) in names) for c in descendants(inner)) or any(
                    z.node.start_byte >= inner.start_byte and z.node.end_byte <= inner.end_byte for z in zero)
                if uses:
                    yield Found(ix.file, n, "a native-unit time divided by a constant", fn)
                    break


SECONDS_NAME = re.compile(r"(?:^|_)(?:s|sec|secs|second|seconds)$")
MS_NAME = re.compile(r"(?:^|_)(?:ms|msec|millis|milliseconds)$")


@rule(id="timer_unit_mismatch", family="time", shows=('rate', 'busy', 'slow', 'wrong'),
      cues=r'\bevery \w+|\binterval\w*|\btoo often\b|\bhundreds of times\b|\bpoll\w*',
      title="seconds passed where milliseconds are expected (or milliseconds scaled again)",
      matches="a timer or sleep time written as a variable/attribute named in seconds (`interval_s`, "
              "`@timeout_seconds`) with no conversion, or a `*_ms` value multiplied by 1000",
      why="Process.send_after, sleep and the :timer functions take milliseconds; a value in seconds makes "
          "the timer fire a thousand times too early, a millisecond value times 1000 a thousand times too late",
      symptoms="a periodic job runs far too often (hundreds of times a second) or far too rarely; a timeout "
               "fires almost immediately or after hours",
      source="Elixir docs, Process.send_after/4 and :timer.seconds/1; Erlang docs, timer module (times in ms)",
      fix="convert explicitly: `:timer.seconds(interval_s)`, `interval_s * 1000`, or keep the value in ms")
def timer_unit_mismatch(project: Project) -> Iterator[Found]:
    for site, arg in _time_args(project):
        if name_matches(arg, SECONDS_NAME):
            yield Found(site.file, site.node, f"{text(arg)} (seconds) used as milliseconds", site.fn)
        elif arg.type == "binary_operator" and operator(arg) == "*":
            left, right = arg.child_by_field_name("left"), arg.child_by_field_name("right")
            if (name_matches(left, MS_NAME) and text(right) in ("1000", "1_000")) or (
                    name_matches(right, MS_NAME) and text(left) in ("1000", "1_000")):
                yield Found(site.file, site.node, f"{text(arg)}: milliseconds multiplied by 1000", site.fn)


SEED_FUNS = ((":rand", "seed"), (":random", "seed"), (":rand", "seed_s"))


@rule(id="rand_reseeded_per_call", family="time", shows=('wrong', 'unbalanced'),
      cues=r'\bsame (?:card |voucher |gift )?(?:code|token|id|number)s?\b|\bvery same\b|\bidentical\b|\bduplicate (?:codes?|tokens?|ids?)',
      title="the random generator reseeded from the clock (or a constant) on every call",
      matches="`:rand.seed/2` / `:random.seed/1` whose seed contains a clock reading (`System.system_time`, "
              "`:os.timestamp`, …) or is a literal, outside `init/1`",
      why=":rand seeds itself per process; reseeding with the clock makes every call in the same clock tick "
          "produce the same sequence (and a literal seed makes every call produce it)",
      symptoms="duplicate codes, tokens, ids or vouchers; two customers get the same number; values that "
               "should be random repeat when requests arrive close together",
      source="Erlang docs, rand module (automatic per-process seeding; seed/1,2 sets the process state); "
             "Elixir forum / EEF security guidelines on predictable seeds",
      fix="do not seed: call `:rand.uniform/1` / `:crypto.strong_rand_bytes/1` directly; seed once per "
          "process if reproducibility is needed")
def rand_reseeded_per_call(project: Project) -> Iterator[Found]:
    for mod, fun in SEED_FUNS:
        for site in project.sites(mod, fun):
            if site.fn is None or site.fn.name in ("init", "start", "start_link", "setup"):
                continue
            seed = site.args[-1] if site.args else None
            if seed is None:
                continue
            literal = seed.type == "tuple" and all(c.type == "integer" for c in seed.named_children)
            if contains_time_call(seed) or literal:
                yield Found(site.file, site.node, "reseeds the generator with "
                            + ("the clock" if not literal else "a constant") + " on every call", site.fn)


@rule(id="statem_generic_timeout_kept", family="time", shows=('wrong', 'stalled'),
      cues=r'\bitself again\b|\blocks? itself\b|\bon its own\b|\bback to\b|\bhold\w*|\bwrong state\b|\ba moment later\b',
      title="a gen_statem generic timeout that survives the state change it belonged to",
      matches="a generic timeout action `{{:timeout, name}, time, msg}` in a module that never cancels that "
              "name (`{{:timeout, name}, :cancel}` or `:infinity`)",
      why="unlike `:state_timeout`, a generic timeout is not cancelled when the machine changes state; it "
          "fires in whatever state the machine is in by then",
      symptoms="an action happens in the wrong state: a door relocks, a session closes, an order is cancelled "
               "although something changed the state before the deadline",
      source="Erlang docs, gen_statem 'Generic Time-Outs' vs 'State Time-Out' (state time-outs are "
             "cancelled by a state change, generic time-outs are not)",
      fix="use `{:state_timeout, time, msg}` when the deadline belongs to the state, or cancel the generic "
          "timeout with `{{:timeout, name}, :cancel}` when leaving it")
def statem_generic_timeout_kept(project: Project) -> Iterator[Found]:
    for ix in project.files:
        for mod in ix.modules.values():
            sets, cancels = [], set()
            for n in ix.nodes("tuple", module=mod.name):
                if n.named_child_count < 2:
                    continue
                head = n.named_children[0]
                if head.type == "tuple" and head.named_child_count == 2 and text(head.named_children[0]) == ":timeout":
                    name = text(head.named_children[1])
                    second = text(n.named_children[1])
                    if second in (":cancel", ":infinity") or (n.named_child_count == 2 and second.startswith(":")):
                        cancels.add(name)
                    elif n.named_child_count == 3:
                        sets.append((name, n))
            for name, node in sets:
                if name in cancels:
                    continue
                fn = next((f for f in mod.functions if f.node.start_byte <= node.start_byte < f.node.end_byte), None)
                yield Found(ix.file, node, f"generic timeout {name} is never cancelled", fn, module=mod.name,
                            ran=tuple(mod.functions))
                break


@rule(id="timer_restarted_without_cancel", family="time", shows=('rate', 'busy', 'gradual'),
      cues=r'\bmore and more\b|\btwice\b|\bduplicate \w+|\btoo often\b|\bever more\b',
      title="a timer started again on every request without cancelling the previous one",
      matches="`Process.send_after(self(), msg, t)` inside handle_call/handle_cast whose reference is thrown "
              "away, for a message whose handle_info reschedules itself (a periodic loop), in a module that "
              "never cancels a timer",
      why="each request adds one more timer; none is cancelled, so the message arrives once per request, "
          "not once per period",
      symptoms="a periodic tick or refresh runs more and more often; duplicate reminders or flushes; CPU "
               "and message rate grow with traffic",
      source="Elixir docs, Process.send_after/4 and Process.cancel_timer/1; GenServer guide (periodic work)",
      fix="keep the reference in the state and `Process.cancel_timer/1` it before starting a new one, or "
          "schedule only from the handle_info of the tick itself")
def timer_restarted_without_cancel(project: Project) -> Iterator[Found]:
    for site in project.sites("Process", "send_after"):
        if site.fn is None or site.fn.name not in ("handle_call", "handle_cast"):
            continue
        if not site.args or text(site.args[0]) != "self()":
            continue
        ix = project.index_of(site.owner or "")
        owner = ix.calls_of(site.owner) if ix else []
        if any(s.fun in ("cancel_timer", "cancel") for s in owner):
            continue
        tag = _tag(site.args[1]) if len(site.args) > 1 else None
        periodic = tag is not None and any(
            s.fn is not None and s.fn.name == "handle_info" and s.key == ("Process", "send_after") and len(s.args) > 1
            and _tag(s.args[1]) == tag for s in owner)
        if periodic and statement_dropped(site.expr):
            yield Found(site.file, site.node, f"starts another {tag} loop per request, none cancelled", site.fn)


def _tag(msg) -> str | None:
    if msg.type == "atom":
        return text(msg)
    if msg.type == "tuple" and msg.named_child_count and msg.named_children[0].type == "atom":
        return text(msg.named_children[0])
    return None
