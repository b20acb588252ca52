"""Replay: re-run recorded GenServer callbacks in a scratch process to confirm a hypothesis.

A recording says *what happened*: the state a GenServer had, the messages it handled and how
each callback returned or crashed. A hypothesis says *why*: "the digest crashes because an
earlier ``{:update_profile, 2, %{email: nil}}`` left ``email: nil`` in the state". Replay
tests the hypothesis on the live node without touching the live process: it starts a
fresh, unregistered, unlinked scratch process that calls ``Module.handle_call/3``,
``handle_cast/2``, ``handle_info/2``, ``handle_continue/2`` (or ``init/1``) directly, one
invocation after the other, threading the state exactly as ``gen_server`` would, and reports
each step's return value or exception (class, reason, stacktrace), its duration and the
state after it, compared with the recorded outcome::

    from elixir_scope.instrument.replay import Invocation, Callback, replay

    result = await replay(conn, "CorruptedState.Accounts", state, [
        Invocation(Callback.CAST, (Atom("update_profile"), 2, {Atom("email"): Atom("nil")})),
        Invocation(Callback.CALL, Atom("weekly_digest"),
                   recorded=Outcome.exception("error", Atom("function_clause"))),
    ])
    result.verdict            # Verdict.REPRODUCED
    result.failure.outcome    # Outcome(kind='exception', error_class=error, reason=function_clause, ...)

Structure — why it is safe for the live process, and what it is not:

- The scratch process gets a *copy* of the state (terms are immutable and travel by value);
  the real process, its name, mailbox and links are never used. ``From`` for a call is
  ``{ScratchPid, make_ref()}``, so a ``GenServer.reply/2`` inside the callback lands in the
  scratch mailbox, which is returned (bounded) with the result.
- It is not a sandbox. The module's code runs for real: a callback that writes to ETS, sends
  to other processes, calls other servers or touches the disk does so. Replay what you would
  be willing to run once more on that node.
- ``throw`` inside a callback counts as its return value, as ``gen_server`` does. A step
  that crashes, returns ``{:stop, ...}``, a bad value, or ``init`` returning anything but
  ``{:ok, state}`` ends the run (the real server would have stopped there).
- Each step has a time limit (``step_timeout``); on expiry the scratch process is killed and
  the step is reported as timed out — which is how a "this message makes handle_call slow"
  hypothesis is confirmed.

How the code gets there: funs cannot be sent from Python, so the driver is a fixed Erlang
expression (``_DRIVER``) that the target itself scans and parses (``erl_scan``,
``erl_parse``, once per connection) and evaluates with ``erl_eval:expr/5``; the module, the
state and the invocations travel as bindings, i.e. as ETF terms, never as source text. Only
``stdlib`` is needed, so the same driver runs on Elixir nodes and on bare Erlang nodes
without the ``compiler`` application (the OTP 28 runtime in tests). (``Code.eval_string/2``
with a binding would do the same on Elixir nodes only; one driver for both keeps one code
path to test.)

Types and the outcome comparison live in ``replay_model`` (re-exported here).
"""

from __future__ import annotations

import weakref
from typing import Any, Iterable, Sequence

from .dist import Connection, DistError
from .etf import Atom, Charlist, ImproperList
from .replay_model import (
    REDACTED,
    TRUNCATED,
    Callback,
    Invocation,
    Outcome,
    ReplayError,
    ReplayInputError,
    ReplayRemoteError,
    ReplayResult,
    Step,
    StepStatus,
    Verdict,
    module_atom,
    same_term,
)

__all__ = [
    "Callback",
    "Outcome",
    "Invocation",
    "StepStatus",
    "Step",
    "Verdict",
    "ReplayResult",
    "ReplayError",
    "ReplayInputError",
    "ReplayRemoteError",
    "replay",
    "same_term",
    "module_atom",
]

# --- the driver that runs on the target -------------------------------------------------

# Bindings: Module, State, Steps ([{Callback, Message}]), Timeout (ms per step), MaxMessages.
# Answers {completed, StepReports, Messages, MessageCount} | {timeout, StepReports}
#       | {died, StepReports, Reason}; a StepReport is {Index, Micros, Outcome, Verdict} where
# Verdict is continue | stopped | halt | bad_return | crashed (the state is sent once, inside
# the Outcome's return value).
_DRIVER = r"""
begin
  Parent = self(),
  Tag = make_ref(),
  Next = fun(init, {ok, S}) -> {continue, S};
            (init, {ok, S, _}) -> {continue, S};
            (init, _) -> {halt, none};
            (_, {reply, _, S}) -> {continue, S};
            (_, {reply, _, S, _}) -> {continue, S};
            (_, {noreply, S}) -> {continue, S};
            (_, {noreply, S, _}) -> {continue, S};
            (_, {stop, _, _, S}) -> {stopped, S};
            (_, {stop, _, S}) -> {stopped, S};
            (_, _) -> {bad_return, none}
         end,
  Run = fun Loop(_, _, []) -> done;
            Loop(I, S, [{Cb, Msg} | Rest]) ->
              Args = case Cb of
                       init -> [Msg];
                       handle_call -> [Msg, {self(), make_ref()}, S];
                       _ -> [Msg, S]
                     end,
              T0 = erlang:monotonic_time(microsecond),
              Outcome = try erlang:apply(Module, Cb, Args) of
                          Ret -> {return, Ret}
                        catch
                          throw:Thrown -> {return, Thrown};
                          Class:Reason:Stack -> {exception, Class, Reason, Stack}
                        end,
              Micros = erlang:monotonic_time(microsecond) - T0,
              {Verdict, S1} = case Outcome of
                                {return, R} -> Next(Cb, R);
                                _ -> {crashed, none}
                              end,
              %% the state after is inside the return value: Python takes it from there
              Parent ! {Tag, step, I, Micros, Outcome, Verdict},
              case Verdict of
                continue -> Loop(I + 1, S1, Rest);
                _ -> done
              end
        end,
  Worker = fun() ->
             Run(0, State, Steps),
             {messages, Msgs} = erlang:process_info(self(), messages),
             Parent ! {Tag, done, lists:sublist(Msgs, MaxMessages), length(Msgs)}
           end,
  {Pid, MRef} = spawn_monitor(Worker),
  Collect = fun Col(Acc) ->
              receive
                {Tag, step, I, Mi, O, V} -> Col([{I, Mi, O, V} | Acc]);
                {Tag, done, Msgs, N} ->
                  erlang:demonitor(MRef, [flush]),
                  {completed, lists:reverse(Acc), Msgs, N};
                {'DOWN', MRef, process, Pid, Why} -> {died, lists:reverse(Acc), Why}
              after Timeout ->
                exit(Pid, kill),
                erlang:demonitor(MRef, [flush]),
                {timeout, lists:reverse(Acc)}
              end
            end,
  Collect([])
end.
"""

# Parsed driver per connection: the abstract format is the target's own.
_PARSED: "weakref.WeakKeyDictionary[Connection, Any]" = weakref.WeakKeyDictionary()

_OK = Atom("ok")


async def _parsed_driver(conn: Connection) -> Any:
    expr = _PARSED.get(conn)
    if expr is not None:
        return expr
    scanned = await conn.rpc("erl_scan", "string", [Charlist.from_text(_DRIVER)])
    if not (type(scanned) is tuple and scanned[0] is _OK):
        raise ReplayRemoteError(f"the target could not scan the replay driver: {scanned!r}")
    parsed = await conn.rpc("erl_parse", "parse_exprs", [scanned[1]])
    if not (type(parsed) is tuple and parsed[0] is _OK and len(parsed[1]) == 1):
        raise ReplayRemoteError(f"the target could not parse the replay driver: {parsed!r}")
    _PARSED[conn] = parsed[1][0]
    return parsed[1][0]


def _check_term(what: str, term: Any, path: str = "") -> None:
    """Refuse terms the recording cut short (the agent's markers: a '$truncated' element or
    list tail, a '$truncated' => N map entry, {'$truncated', Prefix, Size}): replaying them
    would test a different state."""
    if term is TRUNCATED or (type(term) is tuple and len(term) == 3 and term[0] is TRUNCATED):
        raise ReplayInputError(
            f"{what} was truncated by the capture at {path or 'the top'}; replay needs the whole "
            "term: record again with a larger max_term_bytes, or pass the term explicitly")
    if type(term) is tuple or isinstance(term, list):
        for i, x in enumerate(term):
            _check_term(what, x, f"{path}[{i}]")
    elif type(term) is dict:
        if TRUNCATED in term:
            _check_term(what, TRUNCATED, f"{path}[<{term[TRUNCATED]} dropped entries>]")
        for k, v in term.items():
            _check_term(what, v, f"{path}[{k}]")
    elif type(term) is ImproperList:
        _check_term(what, term.items, path)
        _check_term(what, term.tail, path + "|")


async def replay(
    conn: Connection,
    module: str | Atom,
    initial_state: Any,
    invocations: Sequence[Invocation],
    *,
    step_timeout: float = 5.0,
    max_messages: int = 50,
    allow_redacted: bool = False,
) -> ReplayResult:
    """Run ``invocations`` of ``module``'s callbacks in a scratch process on ``conn``'s node,
    starting from ``initial_state`` (ignored when the first invocation is ``init``).

    ``step_timeout`` bounds each callback; ``max_messages`` bounds the scratch mailbox returned.
    Redacted values (``'[REDACTED]'``) are refused unless ``allow_redacted`` (the replayed
    state would not be the real one)."""
    mod = module_atom(module)
    invocations = list(invocations)
    if not invocations:
        raise ReplayInputError("nothing to replay: give at least one Invocation")
    for i, inv in enumerate(invocations):
        if not isinstance(inv, Invocation):
            raise ReplayInputError(f"invocation {i} is a {type(inv).__name__}, not an Invocation")
        if inv.callback is Callback.INIT and i:
            raise ReplayInputError(f"invocation {i}: init can only be the first step")
        _check_term(f"the message of invocation {i}", inv.message)
    if invocations[0].callback is Callback.INIT:
        initial_state = Atom("undefined")  # init/1 makes the state
    elif initial_state is None:
        raise ReplayInputError(
            "initial_state is None: give the recorded state (decoded term; Atom('nil') for Elixir "
            "nil), or start the invocations with Callback.INIT and the init argument")
    else:
        _check_term("the initial state", initial_state)
    if not allow_redacted and _contains(REDACTED, [initial_state, [i.message for i in invocations]]):
        raise ReplayInputError(
            "the state or a message contains redacted values ('[REDACTED]'); the replay would not "
            "run on the recorded data. Pass allow_redacted=True to replay anyway")
    if step_timeout <= 0:
        raise ReplayInputError(f"step_timeout must be positive, got {step_timeout}")
    if not isinstance(max_messages, int) or max_messages < 0:
        raise ReplayInputError(f"max_messages must be an integer >= 0, got {max_messages!r}")

    await _ensure_exports(conn, mod, {inv.callback for inv in invocations})
    expr = await _parsed_driver(conn)
    timeout_ms = int(step_timeout * 1000)
    steps = [(Atom(inv.callback.value), inv.message) for inv in invocations]
    bindings = sorted(
        [(Atom("MaxMessages"), max_messages), (Atom("Module"), mod), (Atom("State"), initial_state),
         (Atom("Steps"), steps), (Atom("Timeout"), timeout_ms)],
        key=lambda kv: kv[0].name,
    )
    try:
        answer = await conn.rpc("erl_eval", "expr", [expr, bindings, Atom("none"), Atom("none"), Atom("value")],
                                timeout=step_timeout * (len(invocations) + 1) + 10)
    except DistError as exc:
        raise ReplayRemoteError(f"replay of {mod.name} on {conn.node_name} failed: {exc}") from exc
    return _result(mod, invocations, answer)


def _contains(needle: Atom, term: Any) -> bool:
    if term is needle:
        return True
    if isinstance(term, (list, tuple)):
        return any(_contains(needle, x) for x in term)
    if type(term) is dict:
        return any(_contains(needle, v) for v in term.values())
    return False


async def _ensure_exports(conn: Connection, mod: Atom, callbacks: Iterable[Callback]) -> None:
    """Load the module if needed and check it exports the callbacks, with a clear error."""
    from .names import existing_atom

    if await existing_atom(conn, mod.name) is None:  # asked first: a typed name creates no atom there
        raise ReplayRemoteError(
            f"module {mod.name} is not available on {conn.node_name}: no such module; replay runs the "
            "module's own code, so it must be loaded there (check the name: Elixir modules are "
            "'Elixir.My.Module')")
    loaded = await conn.rpc("code", "ensure_loaded", [mod])
    if not (type(loaded) is tuple and loaded[0] is Atom("module")):
        raise ReplayRemoteError(
            f"module {mod.name} is not available on {conn.node_name} ({loaded!r}); replay runs the "
            "module's own code, so it must be loaded there (check the name: Elixir modules are "
            "'Elixir.My.Module')")
    for cb in callbacks:
        if not await conn.rpc("erlang", "function_exported", [mod, Atom(cb.value), cb.arity]):
            raise ReplayRemoteError(f"{mod.name} does not export {cb.value}/{cb.arity} on {conn.node_name}")


def _outcome(term: Any) -> Outcome:
    if term[0] is Atom("return"):
        return Outcome.returned(term[1])
    _, klass, reason, stack = term
    return Outcome.exception(klass, reason, stack)


_STATUS = {"continue": StepStatus.CONTINUED, "stopped": StepStatus.STOPPED, "halt": StepStatus.HALTED,
           "bad_return": StepStatus.BAD_RETURN, "crashed": StepStatus.CRASHED}


def _state_in(ret: tuple) -> Any:
    """The new state in a valid callback return (the driver already checked its shape):
    ``{ok, S}``, ``{reply, _, S}``, ``{noreply, S}``, ``{stop, _, S}`` — optionally followed by
    an action — and ``{stop, _, Reply, S}``."""
    if ret[0] is Atom("stop"):
        return ret[-1]
    if ret[0] is Atom("reply"):
        return ret[2]
    return ret[1]


def _result(mod: Atom, invocations: list[Invocation], answer: Any) -> ReplayResult:
    if not (type(answer) is tuple and answer and isinstance(answer[0], Atom)):
        raise ReplayRemoteError(f"unexpected answer from the replay driver: {answer!r}")
    how = answer[0].name
    reports = {r[0]: r for r in answer[1]}
    steps: list[Step] = []
    ended = False
    for i, inv in enumerate(invocations):
        report = reports.get(i)
        if report is None:
            if not ended and how == "timeout":
                steps.append(Step(i, inv, StepStatus.TIMED_OUT))
            elif not ended and how == "died":
                steps.append(Step(i, inv, StepStatus.CRASHED,
                                  Outcome.exception("exit", answer[2])))
            else:
                steps.append(Step(i, inv, StepStatus.NOT_RUN))
            ended = True
            continue
        _, micros, out, verdict = report
        outcome = _outcome(out)
        status = _STATUS.get(verdict.name, StepStatus.CRASHED)
        state = _state_in(outcome.value) if status in (StepStatus.CONTINUED, StepStatus.STOPPED) else None
        if status is not StepStatus.CONTINUED:
            ended = True
        steps.append(Step(i, inv, status, outcome, state, micros))
    messages = list(answer[2]) if how == "completed" else []
    count = answer[3] if how == "completed" else 0
    return ReplayResult(mod, steps, messages, count)
