"""Planning instrumentation: which specs, which processes, which limits — and why.

The plan is deterministic (no model needed) and explains itself. It starts from what the
live node runs (the application's own modules, its GenServers, ETS tables and registries —
a :class:`Survey`), ranks by the symptom (keywords and the knowledge base's trace
signatures), and adds the source analysis's ranked candidates when sources were given. It
stays inside the capture's safety limits: application modules only (never hot stdlib
modules with wildcard arguments), ETS and Registry calls only with their table or registry
named in the spec's arguments.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from .evidence.config import SPECS as CONFIG_READ_SPECS, option_read_specs
from .evidence.stated import stated_values
from .findings import Plan, PlannedSpec

# ETS writes traced with their outcome for every table of the application (name, arity)
ETS_WRITES = (("update_counter", 3), ("update_counter", 4), ("insert_new", 2), ("update_element", 3),
              # removals of one key: a key of another type than the row's removes nothing (evidence/keytypes.py)
              ("delete", 2), ("take", 2),
              # removals and counts by pattern: a pattern of another size than the rows matches
              # nothing (evidence/patterns.py; the answers are counts, small)
              ("select_delete", 2), ("match_delete", 2), ("select_count", 2))

SYMPTOM_CLASSES: dict[str, tuple[str, ...]] = {
    "timeout": ("timeout", "time out", "timed out", "hang", "hangs", "stuck", "deadlock", "slow", "latency", "freeze", "blocked"),
    "crash": ("crash", "crashes", "restart", "restarting", "exit", "dies", "died", "down", "error", "exception", "raise", "500"),
    "memory": ("memory", "mailbox", "queue", "backlog", "grow", "growing", "leak", "oom", "ram", "processes"),
    "data": ("wrong", "lost", "missing", "count", "counter", "inconsistent", "stale", "incorrect", "lower than", "race",
             "old value", "still show", "still return", "outdated", "add up", "cents", "a cent"),
    "messaging": ("notification", "notify", "event", "pubsub", "subscribe", "broadcast", "topic", "never arrive", "not received", "listener"),
}


# a symptom about days, dates or local times
_CALENDAR = re.compile(r"\b(?:day|days|daily|date[ds]?|today|yesterday|tomorrow|midnight|morning|evening|night|overnight"
                       r"|week(?:ly)?|month(?:ly)?|time ?zones?|utc|local time|(?:mon|tues|wednes|thurs|fri|satur|sun)days?"
                       r"|jan(?:uary)?|feb(?:ruary)?|mar(?:ch)?|apr(?:il)?|june?|july?|aug(?:ust)?|sep(?:tember)?|oct(?:ober)?"
                       r"|nov(?:ember)?|dec(?:ember)?|\d{1,2}:\d{2}"
                       # a span of hours or minutes: a deadline or an age made by time arithmetic
                       r"|\d+[- ]?(?:hours?|hrs?|minutes?|mins?)|hours?|minutes? ago)\b", re.I)


@dataclass
class Survey:
    """What the live node runs, as far as planning needs it."""

    node: str
    app_modules: list[str] = field(default_factory=list)          # Elixir names: "MyApp.Cart"
    genservers: dict[str, list[str]] = field(default_factory=dict)  # module → processes (pid text or name)
    ets_tables: list[tuple[str, str | None]] = field(default_factory=list)  # (table, owner module)
    registries: list[str] = field(default_factory=list)           # app registries, Elixir names
    process_count: int = 0
    longest_mailboxes: list[tuple[str, int]] = field(default_factory=list)
    agents: list[str] = field(default_factory=list)                # modules whose start closures run Agents

    def merged(self, other: "Survey") -> "Survey":
        """This node's survey with another node's (a diagnosis that records several nodes)."""
        servers = {k: list(v) for k, v in self.genservers.items()}
        for mod, procs in other.genservers.items():
            servers.setdefault(mod, []).extend(procs)
        longest = sorted(self.longest_mailboxes + other.longest_mailboxes, key=lambda x: -x[1])[:5]
        return Survey(node=self.node, app_modules=list(dict.fromkeys(self.app_modules + other.app_modules)),
                      genservers=servers, ets_tables=list(dict.fromkeys(self.ets_tables + other.ets_tables)),
                      registries=list(dict.fromkeys(self.registries + other.registries)),
                      process_count=self.process_count + other.process_count, longest_mailboxes=longest,
                      agents=list(dict.fromkeys(self.agents + other.agents)))

    @classmethod
    def from_app_survey(cls, s) -> "Survey":
        """From ``instrument.survey.AppSurvey`` (what the live node runs)."""
        top = sorted(s.processes, key=lambda p: p.message_queue_len, reverse=True)[:5]
        return cls(node=s.node, app_modules=[m.removeprefix("Elixir.") for m in s.modules],
                   genservers=dict(s.genservers), ets_tables=[(t.name, t.owner_module) for t in s.ets],
                   registries=list(s.registries), process_count=s.process_count,
                   longest_mailboxes=[(p.registered_name or str(p.pid), p.message_queue_len) for p in top],
                   agents=list(getattr(s, "agents", [])))


def said_classes(symptom: str) -> list[str]:
    """The symptom classes its own words name (``SYMPTOM_CLASSES``), none when they name none."""
    text = symptom.lower()
    return [c for c, words in SYMPTOM_CLASSES.items() if any(w in text for w in words)]


def classify(symptom: str, signatures: list[str] | None = None) -> list[str]:
    classes = said_classes(symptom)
    for sig in signatures or []:
        if sig.startswith(("exception:timeout", "call:", "callback:slow")) and "timeout" not in classes:
            classes.append("timeout")
        elif sig.startswith(("ets:", "state:lost")) and "data" not in classes:
            classes.append("data")
        elif sig.startswith("pubsub:") and "messaging" not in classes:
            classes.append("messaging")
        elif sig.startswith(("mailbox:", "process:")) and "memory" not in classes:
            classes.append("memory")
        elif sig.startswith(("exit:", "supervisor:")) and "crash" not in classes:
            classes.append("crash")
    return classes or ["crash", "timeout"]


def _mentioned(symptom: str, modules: list[str]) -> list[str]:
    words = set(re.findall(r"[a-z0-9_]+", symptom.lower()))
    hits = []
    for m in modules:
        parts = [p.lower() for p in re.split(r"[.]", m)]
        snake = {re.sub(r"(?<!^)(?=[A-Z])", "_", p).lower() for p in m.split(".")}
        if words & (set(parts) | snake):
            hits.append(m)
    return hits


def _candidate(c) -> tuple[str | None, list[str]]:
    """(spec, reasons) of a source-analysis candidate: a ``knowledge.source.Candidate`` or its
    dict form as the diagnosis state keeps it."""
    if isinstance(c, dict):
        return c.get("spec"), list(c.get("reasons", []))
    return getattr(c, "spec", None), list(getattr(c, "reasons", []))


#: why a tail loop of the sources is traced without its returns
LOOP_WHY = ("calls only: the source shows a self-tail-recursive loop; a traced return would keep one "
            "stack frame per round (its stack would grow for as long as the capture runs), and "
            "its arguments show the state each round")


def _loops_by_module(tail_loops: list[str] | None) -> dict[str, list[str]]:
    """``["MyApp.W.loop/1"]`` → ``{"MyApp.W": ["loop/1"]}``."""
    out: dict[str, list[str]] = {}
    for fa in tail_loops or []:
        module, _, fun = fa.rpartition(".")
        if module and "/" in fun:
            out.setdefault(module, []).append(fun)
    return out


AGENT_SERVER = "Agent.Server"
"""The module whose callbacks run every Agent's closures (and hold its state)."""

MAX_NOT_YET_SERVERS = 10
"""GenServer modules of the sources with no process at survey time whose state is recorded."""


def plan(symptom: str, survey: Survey, *, signatures: list[str] | None = None,
         candidates: list | None = None, focus: list[str] | None = None,
         seconds: float = 5.0, max_events: int = 50_000, needs: list[str] | None = None,
         tail_loops: list[str] | None = None, option_keys: list[list[str]] | None = None,
         source_servers: list[str] | None = None, source_functions: dict[str, list[str]] | None = None) -> Plan:
    """A capture plan for ``symptom`` on the surveyed node. ``needs`` are what the leading
    hypotheses' knowledge signatures say to record (``knowledge.kb.RECORD_NEEDS``).
    ``tail_loops`` are the functions the source analysis found looping through tail calls
    (``Module.fun/arity``): their calls are traced, never their returns - each spec for one
    comes after its module's, so it is the pattern that holds for that function.
    ``source_servers``: the GenServer and gen_statem modules the sources define; those the node
    has loaded but runs no process of yet get their state history recorded too (the trigger may
    start them: a process per booking, per session, per device).
    ``source_functions``: module → the named functions its sources define (``"parse/1"``); for a
    slow or busy symptom a plain module of the sources is traced by those, not whole (see
    :func:`narrowed`)."""
    classes = classify(symptom, signatures)
    needs = list(needs or [])
    reasons = [f"symptom classes: {', '.join(classes)}"]
    if needs:
        reasons.append("the leading hypotheses need: " + ", ".join(needs))
    if "ets" in needs and "data" not in classes:
        classes.append("data")
    if "samples" in needs and "memory" not in classes:
        classes.append("memory")
    focus = list(focus or []) + _mentioned(symptom, survey.app_modules)
    modules = list(dict.fromkeys(focus + survey.app_modules))
    specs: list[PlannedSpec] = []
    loops = _loops_by_module(tail_loops)
    loop_specs = {f"{m}.{fa}" for m, fas in loops.items() for fa in fas}
    named = narrowed(symptom, classes, survey, source_servers, source_functions)
    for m in modules[:40]:
        why = "named in the symptom" if m in focus else (
            "a GenServer of the application: callbacks with returns and exceptions" if m in survey.genservers
            else "application module: calls with returns and exceptions")
        if m in named:
            specs.extend(PlannedSpec(spec=f"{m}.{fa} :: return", why=NARROW_WHY) for fa in named[m]
                         if f"{m}.{fa}" not in loop_specs)
        else:
            specs.append(PlannedSpec(spec=f"{m} :: return", why=why))
        specs.extend(PlannedSpec(spec=f"{m}.{fa}", why=LOOP_WHY) for fa in loops.get(m, ()))
    for c in candidates or []:
        spec, c_reasons = _candidate(c)
        whole = {s.spec.split(" ")[0] for s in specs}
        module = spec.rsplit(".", 1)[0] if spec and "/" in spec else spec
        if spec and spec not in whole and module not in whole and module not in named:
            if spec in loop_specs:
                specs.append(PlannedSpec(spec=spec, why=LOOP_WHY))
                continue
            specs.append(PlannedSpec(spec=f"{spec} :: return", why="source analysis: " + "; ".join(c_reasons[:2])))
            specs.extend(PlannedSpec(spec=f"{spec}.{fa}", why=LOOP_WHY) for fa in loops.get(spec, ()))
    # a lookup's answer (a hit or `[]`) when the symptom is slow or speaks of work done again: a
    # cache that never hits shows as lookups that all answered `[]` (evidence/cachemiss.py)
    # (the words' own classes: not classify's crash+timeout fallback for a symptom it cannot place)
    lookups_returned = "timeout" in said_classes(symptom) or bool(REPEATS.search(symptom)) or "cpu" in symptom.lower()
    if "data" in classes or survey.ets_tables:
        for table, owner in survey.ets_tables[:5]:
            for fun in ("lookup", "insert"):
                specs.append(PlannedSpec(
                    spec=f":ets.{fun}({table}, _)" + (" :: return" if fun == "insert" or lookups_returned else ""),
                    why=f"ETS table {table}" + (f" of {owner}" if owner else "") + ": read-modify-write races show as interleaved lookup/insert"))
            # writes with their outcome: a write refused with badarg (a :protected table written
            # by a process that does not own it) shows only as the write's exception
            for fun, arity in ETS_WRITES:
                specs.append(PlannedSpec(
                    spec=f":ets.{fun}({', '.join([table] + ['_'] * (arity - 1))}) :: return",
                    why=f"ETS table {table}: writes and whether they fail (access rights, missing table)"))
    if "memory" in classes:
        # tables created and deleted: a long-lived process creating one per request and never
        # deleting it leaks them (agents/evidence/tables.py); creation is rare in a healthy app
        specs.append(PlannedSpec(spec=":ets.new(name, opts) when is_atom(name) :: return",
                                 why="ETS tables created: by whom, and whether they are ever deleted"))
        specs.append(PlannedSpec(spec=":ets.delete(tab) when is_reference(tab) :: return",
                                 why="unnamed ETS tables deleted"))
    # exit(pid, :normal) aimed at another process: ignored unless the target traps exits (a
    # "cancel" or "stop" that does nothing); rare, so the narrow spec costs nothing
    specs.append(PlannedSpec(spec=":erlang.exit(_, :normal) :: return",
                             why="exit signals :normal sent to other processes (ignored unless the target traps exits)"))
    # exit(pid, :kill) aimed at another process: it stops the target wherever it is, in the middle
    # of its work too (rare, so the narrow spec costs nothing)
    specs.append(PlannedSpec(spec=":erlang.exit(_, :kill) :: return",
                             why="exit signals :kill sent to other processes (the target stops wherever it is)"))
    # exit(pid, :shutdown | {:shutdown, _}) aimed at another process: a "clean" stop that takes down
    # what is linked to the target too (rare outside supervisors, so the narrow specs cost nothing)
    for spec in (":erlang.exit(_, :shutdown) :: return", ":erlang.exit(_, {:shutdown, _}) :: return"):
        specs.append(PlannedSpec(spec=spec, why="shutdown exit signals sent to other processes (what is linked to "
                                                "the target goes down with it)"))
    specs.extend(wait_specs())
    specs.extend(send_specs(symptom, classes))
    specs.extend(timer_specs(symptom, needs))
    # node-wide locks of :global taken and given back: who holds which resource, who waits for it
    # (rare calls: the specs cost nothing)
    for spec in (":global.set_lock/1", ":global.set_lock/2", ":global.set_lock/3", ":global.del_lock/1", ":global.del_lock/2"):
        specs.append(PlannedSpec(spec=f"{spec} :: return", why=":global locks: who holds a resource, who waits for it"))
    # configuration changed at runtime, and boot-time copies of it: which value a key was set to,
    # so a reader still answering the old one shows (rare calls: the specs cost nothing)
    for spec in ("Application.put_env/3", "Application.put_env/4", ":persistent_term.put/2"):
        specs.append(PlannedSpec(spec=f"{spec} :: return",
                                 why="runtime configuration writes: the value a key was set to, against what its readers return"))
    # configuration and option reads with a default, with what they returned: a read that fell back
    # to its default while a near name holds the value (evidence/config.py); bounded by the
    # capture's limits like every spec
    for spec in CONFIG_READ_SPECS + option_read_specs(option_keys):
        specs.append(PlannedSpec(spec=f"{spec} :: return",
                                 why="configuration and option reads with a default: which key was asked, and whether the default came back"))
    # a UTC timestamp shifted into local time: the offset the application works with (only when
    # the symptom speaks of days or times: time arithmetic can be frequent)
    if _CALENDAR.search(symptom):
        for spec in ("DateTime.add/4", "NaiveDateTime.add/3"):
            specs.append(PlannedSpec(spec=f"{spec} :: return",
                                     why="the symptom speaks of days or times: the UTC offset the application shifts its timestamps by, "
                                         "and the spans it adds (a deadline in hours added as minutes)"))
    if survey.registries:
        for reg in survey.registries[:3]:
            specs.append(PlannedSpec(spec=f"Registry.dispatch({reg}, _, _)", why=f"publishes on {reg}: which topics get messages"))
            specs.append(PlannedSpec(spec=f"Registry.register({reg}, _, _) :: return",
                                     why=f"subscriptions and claims on {reg}, and whether each was refused"))
    state_modules = list(survey.genservers)
    not_yet = [m for m in dict.fromkeys(source_servers or []) if m in survey.app_modules and m not in survey.genservers]
    if not_yet:
        state_modules += not_yet[:MAX_NOT_YET_SERVERS]
        reasons.append("GenServers of the sources with no process yet (the trigger may start them): state history of "
                       + ", ".join(not_yet[:MAX_NOT_YET_SERVERS]))
    if survey.agents and ("data" in classes or "memory" in classes):
        # an Agent's state lives in Agent.Server's callbacks, which run the application's closures:
        # their state history is recorded like a GenServer's, and a fact about it names the
        # function that passed the closure (evidence/common.culprit_of)
        state_modules.append(AGENT_SERVER)
        reasons.append("Agents of the application (" + ", ".join(survey.agents[:4]) + "): state history of "
                       "Agent.Server's callbacks, the closures they run named by the functions that passed them")
    message_processes = [m for m in survey.genservers]
    if "timeout" in classes:
        reasons.append("timeouts and hangs: trace messages between the GenServers to build the wait-for graph")
    if "crash" in classes:
        reasons.append("crashes: process lifecycle (exits with reasons, restarts) and callback exceptions")
    if "memory" in classes:
        reasons.append("growth: sample mailbox lengths and the process count while recording")
    if "data" in classes:
        reasons.append("wrong data: state history of every GenServer and ETS reads/writes")
    if "messaging" in classes:
        reasons.append("lost messages: publish/subscribe calls and the registries' live keys")
    stated = stated_values(symptom)
    if stated:
        # every application module is traced with its returns, private helpers included (the
        # specs match local calls): the path a stated value took can be followed back
        reasons.append("the symptom states values (" + ", ".join(v.text for v in stated[:4])
                       + "): every call of the application's modules is recorded with its arguments and result, "
                       "private helpers included, to find the call that produced them")
    return Plan(specs=specs, state_modules=state_modules, message_processes=message_processes,
                lifecycle=True, seconds=seconds, max_events=max_events, reasons=reasons)


#: why a plain module is traced by its named functions for a slow symptom
NARROW_WHY = ("slow or busy: the module's named functions with their returns, not the anonymous functions inside "
              "them - a loop's per-element funs would overrun the capture's rate limit and shed the calls that "
              "show where the time went")
MAX_NAMED = 40   # named functions of one module traced one by one; more: the whole module


def narrowed(symptom: str, classes: list[str], survey: Survey, source_servers: list[str] | None,
             source_functions: dict[str, list[str]] | None) -> dict[str, list[str]]:
    """module → the named functions to trace instead of the whole module: for a busy symptom (a CPU
    busy or pegged, work that takes seconds — not a wait that times out: a closure's send is seen
    through its anonymous function), the plain modules of the sources (not a GenServer, whose generated callbacks and child
    spec the evidence reads), when the sources list at most :data:`MAX_NAMED` functions."""
    if not source_functions or not _BUSY.search(symptom):
        return {}
    servers = set(survey.genservers) | set(source_servers or [])
    return {m: sorted(fs) for m, fs in source_functions.items()
            if m not in servers and 0 < len(fs) <= MAX_NAMED and all("/" in f for f in fs)}


_BUSY = re.compile(r"\bcpu\b|\bpegged\b|\bspinning\b|\bhot loop\b|\btak(?:es|ing|e) (?:\w+ )?(?:long|ages|seconds|minutes)\b"
                   r"|\bkeeps? (?:\w+ ){0,3}busy\b|\b(?:core|machine|server|node|vm|beam|scheduler)s? (?:is |are |was |were )?(?:\w+ )?busy\b",
                   re.I)


#: waits with a timeout, with what they returned: a wait that gave up (``nil``) on a task that
#: answered later shows a timeout too short or in the wrong unit (evidence/gaveup.py)
WAIT_SPECS = ("Task.yield(_, ms) when is_integer(ms)",)


def wait_specs() -> list[PlannedSpec]:
    """The waits traced with their results in every round (rare calls: they cost little)."""
    return [PlannedSpec(spec=f"{spec} :: return",
                        why="waits with a timeout and whether they gave up (nil) before the work answered")
            for spec in WAIT_SPECS]


#: ``send/2`` of a tuple (what Elixir's ``send/2`` calls; casts excluded), with who sent what
#: where: a result sent to the wrong process shows its destination even where no message trace
#: covers the sender (evidence/astray.py). Only for symptoms of waits that time out or answers
#: that never come; bounded by the capture's limits like every spec.
SEND_SPECS = (':erlang.send(_, msg) when is_tuple(msg) and elem(msg, 0) != :"$gen_cast"',)
_NO_ANSWER = re.compile(r"\btim(?:e|es|ed|ing)[ -]?outs?\b|\bno (?:answer|reply|result|response|confirmation|ack)"
                        r"|\bnever (?:answer|repl|arriv|come|get|confirm|acknowledg)"
                        r"|\bwait(?:s|ed|ing)? (?:forever|in vain)", re.I)


def send_specs(symptom: str, classes: list[str]) -> list[PlannedSpec]:
    """The sends of messages traced when the symptom is a wait that gives up or an answer that
    never comes (see :data:`SEND_SPECS`)."""
    if "timeout" not in classes and not _NO_ANSWER.search(symptom):
        return []
    return [PlannedSpec(spec=f"{spec} :: return",
                        why="waits that time out: each send/2 of a result, its sender and where it went "
                            "(a result sent to the wrong process never reaches its wait)")
            for spec in SEND_SPECS]


#: timer calls with the references they return, and their cancels: a timer armed again for the same
#: message while an earlier one is pending delivers it twice (evidence/rearmed.py). Guards restrict
#: the hot `:erlang` patterns to their arguments' types (never a wildcard over the module).
TIMER_SPECS = (":erlang.send_after(t, dest, msg) when is_integer(t)",
               ":erlang.send_after(t, dest, msg, opts) when is_integer(t)",
               ":erlang.start_timer(t, dest, msg) when is_integer(t)",
               ":erlang.start_timer(t, dest, msg, opts) when is_integer(t)",
               ":erlang.cancel_timer(ref) when is_reference(ref)",
               ":erlang.cancel_timer(ref, opts) when is_reference(ref)",
               ":timer.send_after(t, msg) when is_integer(t)", ":timer.send_after(t, dest, msg) when is_integer(t)",
               ":timer.send_interval(t, msg) when is_integer(t)", ":timer.send_interval(t, dest, msg) when is_integer(t)",
               ":timer.cancel(tref) when is_tuple(tref)")
#: a symptom of something done again: twice, three times, duplicated, again and again, repeated, doubled
REPEATS = re.compile(r"\b(?:twice|thrice|(?:two|three|four|five|several|many|\d+|multiple) times|again and again|over and "
                     r"over|repeated(?:ly)?|repeats?|duplicat\w*|doubled?|doubles|double[- ](?:charg|pag|count|sen)\w*"
                     r"|more than once|each time|every time|once per|keeps? (?:re)?(?:doing|sending|paging|charging|calling))\b",
                     re.I)


#: a symptom of a duration in the wrong unit: things that expire, time out or come too soon, too
#: late or never, intervals and windows (a delay armed in milliseconds from a setting in seconds)
DURATIONS = re.compile(r"\b(?:expir\w*|ttl|too (?:soon|early|late|often|rarely)"
                       r"|(?:fire[sd]?|times? out|timed out|evicted|dropped|cleared|out) (?:\w+ ){0,2}(?:at once|right away|immediately|instantly|straight away)"
                       r"|(?:never|not) (?:fires?|expires?|runs?|refresh\w*|ticks?|polls?|times? out|clears?)"
                       r"|interval|window|every \d+ (?:ms|milliseconds?|s|sec\w*|min\w*|hours?)|times? out (?:at once|immediately|instantly)"
                       r"|log(?:s|ged)? (?:\w+ )?out)\b", re.I)


def timer_specs(symptom: str, needs: list[str]) -> list[PlannedSpec]:
    """The timer calls traced with their references when the symptom speaks of something happening
    again or of a duration (expiry, an interval, too soon, never), or the leading hypotheses need
    timers (see :data:`TIMER_SPECS`, :data:`DURATIONS`)."""
    if "timers" not in needs and not REPEATS.search(symptom) and not DURATIONS.search(symptom):
        return []
    return [PlannedSpec(spec=f"{spec} :: return",
                        why="the symptom speaks of something done again or of a duration: timers armed, their "
                            "delays, references and cancels (a timer armed again while the last one is pending "
                            "delivers its message twice; a delay in another unit than its setting fires too soon or never)")
            for spec in TIMER_SPECS]


MAX_CALLEE_PAIRS = 20_000   # static calls kept from the sources


def static_callees(pairs) -> dict[str, list[str]]:
    """The source analysis's static calls (``("Mod.f/1", "Other.g/2")``) as caller → callees,
    bounded: what a function delegates its work to, for the rounds and the evidence."""
    out: dict[str, list[str]] = {}
    for caller, callee in list(pairs)[:MAX_CALLEE_PAIRS]:
        out.setdefault(caller, []).append(callee)
    return out


def callee_modules(hypotheses, callees: dict[str, list[str]] | None) -> list[str]:
    """The modules of the functions the hypotheses' culprit functions call (from the sources),
    to record whole, with their returns, in the next round: the helpers on the culprit's path,
    not every module (at most 6)."""
    out: list[str] = []
    for h in hypotheses:
        c = getattr(h, "culprit", None)
        if c is None or not c.module or not c.function:
            continue
        for callee in (callees or {}).get(f"{c.module}.{c.function}", []):
            module = callee.rpartition(".")[0]
            if module and module not in out:
                out.append(module)
    return out[:6]


async def plan_for(conn, symptom: str, **kw) -> tuple[Plan, Survey]:
    """Survey the node behind ``conn`` (read-only) and plan for ``symptom``; ``kw`` as :func:`plan`."""
    from elixir_scope.instrument.survey import survey

    sv = Survey.from_app_survey(await survey(conn))
    return plan(symptom, sv, **kw), sv
