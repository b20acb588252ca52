"""Processes: start_link from a short-lived process, async_stream timeouts that exit the caller,
tasks never awaited, casts in init to a sibling started later, size-only batching."""

from __future__ import annotations

import re
from collections.abc import Iterator

from ..syntax import args_of, function_head, operator, text
from .index import FnRef, descendants
from .match import call_name, option, statement_dropped
from .model import Found, Project, rule

TASK_STARTS = {("Task", "start"), ("Task", "async"), ("Task", "start_link"), ("Task.Supervisor", "start_child"),
               ("Task.Supervisor", "async_nolink"), ("Task.Supervisor", "async"), (None, "spawn"),
               (":erlang", "spawn"), ("Kernel", "spawn")}
NOT_SERVERS = {"Task", "Task.Supervisor", "Supervisor", "DynamicSupervisor", "Registry", "PartitionSupervisor"}


def _task_entries(project: Project) -> set[tuple[str, str]]:
    """(module, function) run as the body of a task or spawned process, written as MFA."""
    out = set()
    for ix in project.files:
        for site in ix.calls:
            if site.key not in TASK_STARTS:
                continue
            args = site.args[1:] if site.module == "Task.Supervisor" else site.args
            if len(args) >= 2 and args[1].type == "atom":
                mod = args[0]
                name = site.owner if text(mod) == "__MODULE__" else text(mod)
                out.add((name or "", text(args[1]).lstrip(":")))
    return out


@rule(id="start_link_from_short_lived", family="processes", shows=('never', 'stalled', 'quiet'),
      cues=r'\bempty\b|\bstopp?ed\b|\bdisappear\w*|\bgone\b|\b0 (?:seconds|bytes|items)\b|\bright after\b|\bnever started\b',
      title="a long-lived process started with start_link from a short-lived one",
      matches="`X.start_link(…)` / `GenServer.start_link` / `Agent.start_link` written inside a task or "
              "spawned function (`Task.start(fn -> … end)`, `Task.Supervisor.start_child(sup, M, :f, a)`)",
      why="start_link links the new process to its caller; when the task ends (even normally) the link "
          "takes the new process down if it traps exits, and on any crash in either both die",
      symptoms="a process that should keep running disappears right after it started, quietly; recordings, "
               "sessions or workers are empty or stop at once; nothing is supervised",
      source="Elixir docs, GenServer.start_link/3 ('linked to the current process'), Task docs ('tasks are "
             "linked to the caller'); Supervisor guide (start long-lived processes under a supervisor)",
      fix="start it under a (Dynamic)Supervisor (`DynamicSupervisor.start_child/2`) instead of linking it "
          "to a temporary process")
def start_link_from_short_lived(project: Project) -> Iterator[Found]:
    entries = _task_entries(project)
    for ix in project.files:
        for site in ix.calls:
            if site.fun != "start_link" or site.module in NOT_SERVERS or site.module is None or site.fn is None:
                continue
            if site.module in ("GenServer", "Agent", ":gen_server") or site.module[:1].isupper():
                in_task_fn = False
                cur = site.node.parent
                while cur is not None and cur.id != site.fn.node.id:
                    if cur.type == "anonymous_function":
                        holder = cur.parent.parent if cur.parent is not None else None
                        if holder is not None and holder.type == "call":
                            m, f = call_name(holder)
                            if (m, f) in TASK_STARTS:
                                in_task_fn = True
                    cur = cur.parent
                if in_task_fn or (site.fn.module, site.fn.name) in entries:
                    yield Found(site.file, site.node, f"{text(site.node)[:60]} links the new process to a task",
                                site.fn)


@rule(id="async_stream_timeout_exits_caller", family="processes", shows=('crash', 'never'),
      cues=r'\bslow\b|\bnothing at all\b|\bwhole (?:run|import|batch|night)\b|\bnone of\b|\btim(?:e|ed|es) ?out\b',
      title="Task.async_stream with a timeout but no on_timeout: :kill_task",
      matches="`Task.async_stream` / `Task.Supervisor.async_stream(_nolink)` given `timeout:` without "
              "`on_timeout: :kill_task`",
      why="by default a task that exceeds the timeout makes the stream EXIT the caller, so one slow item "
          "kills the process running the whole batch (even with _nolink)",
      symptoms="a whole batch, import or night run is lost because one item was slow; the server running it "
               "crashes with 'time out' in Task.Supervised.stream and restarts empty",
      source="Elixir docs, Task.async_stream/5 options :timeout and :on_timeout (default :exit)",
      fix="pass `on_timeout: :kill_task` and handle `{:exit, :timeout}` per item")
def async_stream_timeout_exits_caller(project: Project) -> Iterator[Found]:
    for mod, fun in (("Task", "async_stream"), ("Task.Supervisor", "async_stream"),
                     ("Task.Supervisor", "async_stream_nolink")):
        for site in project.sites(mod, fun):
            timeout = option(site, "timeout")
            if timeout is None or text(timeout) == ":infinity":
                continue
            on_timeout = option(site, "on_timeout")
            if on_timeout is None or text(on_timeout) != ":kill_task":
                yield Found(site.file, site.node, f"timeout {text(timeout)} exits the caller on a slow item", site.fn)


@rule(id="task_async_never_awaited", family="processes", shows=('crash', 'gradual'),
      cues=r'\bcrash\w*|\brestart\w*|\bmailbox\b|\bunexpected message',
      title="Task.async whose task is never awaited",
      matches="`Task.async(…)` whose result is thrown away (a statement followed by others, or bound to `_`)",
      why="Task.async links the task and sends its reply to the caller, which must await it; unawaited, "
          "the reply sits in the caller's mailbox and a crash of the task kills the caller",
      symptoms="a GenServer crashes because of a background job; unexpected {ref, result} / :DOWN messages "
               "in handle_info; the mailbox grows",
      source="Elixir docs, Task.async/1 ('must always be awaited… use Task.start/1 or Task.Supervisor if "
             "you don't need the result')",
      fix="use `Task.start/1` or `Task.Supervisor.start_child/2` for fire-and-forget work, or await it")
def task_async_never_awaited(project: Project) -> Iterator[Found]:
    for site in project.sites("Task", "async"):
        if statement_dropped(site.expr):
            yield Found(site.file, site.node, "the task is never awaited", site.fn)


@rule(id="init_casts_to_later_sibling", family="processes", shows=('never', 'quiet'),
      cues=r'\bsince (?:the )?(?:\w+ )?(?:was )?restart\w*|\bafter (?:a |the )?(?:restart|reboot|deploy)\w*|\bboot\w*|\bscreen\b|\bsubscri\w*|\ball (?:morning|day)\b|\bsays 0\b',
      title="init/1 casts to a sibling that the supervisor starts later",
      matches="a server's `init/1` that casts (directly or through the sibling's client function) to a "
              "registered sibling listed AFTER it in the same supervisor's children",
      why="children start in list order; when init runs the sibling's name is not registered yet and "
          "GenServer.cast to an unregistered name is dropped without an error",
      symptoms="a subscription or registration made at start-up never takes effect: a screen, listener or "
               "subscriber never receives anything, while others started later work",
      source="Elixir docs, Supervisor ('children are started in the order they are listed'), GenServer.cast/2 "
             "('returns :ok … even if the server does not exist')",
      fix="list the sibling first in the children, or subscribe with a call (which fails loudly) or from "
          "handle_continue after checking the name")
def init_casts_to_later_sibling(project: Project) -> Iterator[Found]:
    casts_to_self: set[tuple[str, str]] = set()   # (module, fun) client functions that cast to their module
    for site in project.sites("GenServer", "cast"):
        if site.fn is not None and site.args and text(site.args[0]) in ("__MODULE__", site.owner):
            casts_to_self.add((site.fn.module, site.fn.name))
    orders = _children_orders(project)
    for ix in project.files:
        for fn, sites in ix.by_fn.items():
            if fn.name != "init":
                continue
            targets = set()
            for s in sites:
                if s.key == ("GenServer", "cast") and s.args and s.args[0].type == "alias":
                    targets.add(s.args[0] and text(s.args[0]))
                elif s.module and (s.module, s.fun) in casts_to_self and s.module != fn.module:
                    targets.add(s.module)
            for target in targets:
                for sup_fn, sup_file, order, node in orders:
                    if fn.module in order and target in order and order.index(fn.module) < order.index(target):
                        # the caster and the sibling that should have heard it: when the sibling works
                        # (publishes, dispatches) in the recording, the lost subscription is on the path
                        yield Found(sup_file, node, f"{fn.module} (casts to {target} in init) starts before {target}",
                                    sup_fn, ran=(fn, *project.functions(fn.module), *project.functions(target)))


def _children_orders(project: Project) -> list[tuple[FnRef, str, list[str], object]]:
    out = []
    for ix in project.files:
        for fn, sites in ix.by_fn.items():
            for s in sites:
                if s.key not in (("Supervisor", "init"), ("Supervisor", "start_link")) or not s.args:
                    continue
                lst = s.args[0]
                if lst.type == "identifier":
                    lst = ix.binding(fn, text(lst), s.node.start_byte) or lst
                if lst.type != "list":
                    continue
                names = []
                for child in lst.named_children:
                    head = child.named_children[0] if child.type == "tuple" and child.named_child_count else child
                    if head.type == "alias":
                        mod = ix.modules.get(fn.module)
                        written = text(head)
                        first = written.split(".")[0]
                        names.append(mod.aliases.get(first, first) + written[len(first):] if mod else written)
                out.append((fn, ix.file, names, lst))
    return out


BATCH = re.compile(r"batch|max|limit|size|flush", re.I)


@rule(id="batch_flushed_only_when_full", family="processes", shows=('never', 'stalled'),
      cues=r'\blast (?:few|three|two|\d+|results?|items?|samples?|orders?)\b|\btail\b|\bremaining\b|\bnever reached\b|\bhours later\b|\bonly \d+ of\b',
      title="a buffer flushed only when it is full (no flush timer)",
      matches="a server that compares `length(buffer)` with a batch size to flush, in a module that starts "
              "no timer (`Process.send_after`, `:timer.send_interval`, a callback timeout)",
      why="the last, partial batch waits until enough new items arrive, which may be never: the tail of "
          "every run stays in memory",
      symptoms="the last few items of a run never arrive or are delivered hours later; counts are short by "
               "less than one batch; data is lost on restart",
      source="GenStage/Broadway docs (batch_timeout next to batch_size); Elixir GenServer guide "
             "(periodic work with Process.send_after)",
      fix="also flush on a timer (`Process.send_after(self(), :flush, ms)`) or on an idle timeout, and in "
          "terminate/2")
def batch_flushed_only_when_full(project: Project) -> Iterator[Found]:
    for ix in project.files:
        for mod in ix.modules.values():
            sites = ix.calls_of(mod.name)
            if any(s.fun in ("send_after", "send_interval", "apply_interval", "start_timer") for s in sites):
                continue
            if "GenServer" not in mod.uses and not any(f.name == "handle_cast" for f in mod.functions):
                continue
            for s in sites:
                if s.key != (None, "length") or s.fn is None or not s.fn.name.startswith("handle_"):
                    continue
                parent = s.node.parent
                if parent is None or parent.type != "binary_operator" or operator(parent) not in (">=", "==", ">"):
                    continue
                other = parent.child_by_field_name("right")
                resets = any(n.type == "list" and n.named_child_count == 0 and n.parent is not None
                             and n.parent.type in ("pair", "binary_operator") for n in descendants(s.fn.node))
                if resets and other is not None and (other.type == "integer" or BATCH.search(text(other))):
                    yield Found(ix.file, parent, "flushes only when the buffer reaches the batch size", s.fn)
                    break


def _error_branches(ix, fn: FnRef):
    """(clause, body) of the `{:error, …} ->` clauses in `fn`, and `fn` itself when its head
    matches `{:error, …}`."""
    head = function_head(fn.node)
    if head is not None and head.head.type == "call" and any(
            text(p).startswith("{:error") for p in args_of(head.head)):
        yield fn.node, fn.node
    for n in ix.nodes("stab_clause", fn=fn):
        pattern = n.child_by_field_name("left")
        body = n.child_by_field_name("right")
        if pattern is not None and body is not None and text(pattern).lstrip("(").startswith("{:error"):
            yield n, body


RETRY = re.compile(r"retr", re.I)
LIMIT = re.compile(r"attempt|retries|tries|max_|limit|count", re.I)


@rule(id="retry_every_error_forever", family="processes", shows=('rate', 'burst', 'crash'),
      cues=r'\bretr\w*|\bhammer\w*|\bhundreds of (?:requests|calls)\b|\bsuspend\w*|\brate[- ]limit\w*|\babuse\b|\bflood\w*',
      title="every error retried, with no limit and no distinction of permanent errors",
      matches="a `{:error, _}` clause that schedules a retry (`Process.send_after(self(), {:retry, …}, t)` or "
              "a local `retry*`/`schedule_retry` call) in a module that never compares an attempt counter",
      why="permanent errors (invalid input, 4xx, rejected) fail again every time: the retries never end, "
          "load the other side and can get the account throttled or suspended",
      symptoms="the same failing request is sent again and again; an external provider rate-limits or "
               "suspends the account; later, valid requests fail too",
      source="AWS/Google API guidelines on retrying only transient errors with capped backoff; Elixir "
             "forum 'retry with backoff' patterns",
      fix="retry only transient errors, with a maximum number of attempts and a growing delay")
def retry_every_error_forever(project: Project) -> Iterator[Found]:
    for ix in project.files:
        for mod in ix.modules.values():
            if any(operator(n) in ("<", ">", "<=", ">=", "==") and LIMIT.search(text(n))
                   for n in ix.nodes("binary_operator", module=mod.name)):
                continue
            for fn in mod.functions:
                for n, body in _error_branches(ix, fn):
                    if any(c.type == "call" and RETRY.search(text(c)[:80]) and (
                            call_name(c)[1] in ("send_after",) or RETRY.search(call_name(c)[1]))
                           for c in descendants(body)):
                        yield Found(ix.file, n, "retries every {:error, _} with no attempt limit", fn,
                                    ran=tuple(mod.functions))
                        break

