"""The trace-signature vocabulary: short tokens naming what a recording shows.

A detector that reads a recording (see docs/event-format.md) summarises what it saw as
tokens — `exception:timeout:GenServer.call`, `mailbox:growing`, `call:cycle` — and asks the
knowledge base which entries explain that combination (`Retriever.search_signatures`).
Entries list the tokens that reveal them in their `signatures` field. Both sides use this
one vocabulary, so a typo on either side is an error, not a silent miss.

Grammar: `family:detail[:detail…]`, lower-case family, details may carry Elixir names
(`GenServer.call`). Tokens are hierarchical: `exception:timeout` is the parent of
`exception:timeout:GenServer.call`, and a query with the parent matches entries with any
child (with partial credit), and the other way round.

Each token's text says which ElixirScope events show it, so a detector author knows what
to compute.
"""

from __future__ import annotations

import difflib
import re
from typing import Iterable

from .errors import SignatureError

TOKEN_RE = re.compile(r"^[a-z_]+(?::[A-Za-z0-9_.]+)+$")

VOCABULARY: dict[str, str] = {
    # -- exceptions and exit reasons seen in `exception` / `exit` events
    "exception:timeout:GenServer.call": "exception/exit {:timeout, {GenServer, :call, _}} in the caller",
    "exception:timeout:Task.await": "exit {:timeout, {Task, :await, _}} in the awaiting process",
    "exception:timeout:sys.get_state": "exit {:timeout, {:sys, :get_state, _}} from a debugging call",
    "exception:noproc:GenServer.call": "exit {:noproc, {GenServer, :call, _}}: the target is not alive or not registered",
    "exception:calling_self": "exit {:calling_self, {GenServer, :call, _}}: a server called itself",
    "exception:function_clause": "FunctionClauseError raised in a callback (no clause matched the message or state)",
    "exception:badmatch": "MatchError in a callback",
    "exception:badarg:ets": "ArgumentError from an :ets call (table gone, wrong access rights)",
    "exception:key_error": "KeyError / nil access on a map field of the state",
    "exception:dbconnection": "DBConnection.ConnectionError: connection not available, request dropped from queue",
    "exception:ownership": "DBConnection.OwnershipError: the process does not own a sandbox connection",
    "exception:system_limit": "system_limit error (atoms, processes, ports, ETS tables)",
    "exception:noconnection": "exit {:nodedown, _} / :noconnection when calling a remote process",
    "exception:error": "an exception of class error raised in application code (any reason)",
    "exception:throw": "a value thrown (class throw) that escaped a callback or a process's function",
    "exception:exit": "exit/1 called in application code (class exit), or an exit signal turned into an exception",
    "exception:badarg": "ArgumentError / badarg raised by a BIF called with a wrong argument",
    "exception:badarith": "ArithmeticError: arithmetic on nil, a string or a zero divisor",
    "exception:undef": "UndefinedFunctionError: a module or function that does not exist (typo, not loaded)",
    "exception:case_clause": "CaseClauseError / no case or with clause matched a value",
    "exception:bad_return": "a callback returned a value its behaviour does not accept ({:bad_return_value, _})",
    "exit:abnormal": "an exit event whose reason is not :normal / :shutdown",
    "exit:killed": "exit reason :killed (brutal kill, or killed by a supervisor after its shutdown timeout)",
    "exit:shutdown": "exit reason :shutdown or {:shutdown, _}",
    "exit:reached_max_restart_intensity": "a supervisor exits with {:shutdown, :reached_max_restart_intensity}",
    "exit:linked_cascade": "several linked processes exit within a short window with the same reason",
    "exit:noconnection": "exit reason :noconnection delivered through a link to a remote process",
    "exit:caused_by_other": "a process exited because of another process's failure (a link, a call to a process that died or hung)",
    "exit:not_restarted": "a supervised child exited and its supervisor did not start a replacement (restart type, normal exit)",
    "trigger:failed": "the diagnosis's own reproduction (the trigger's rpc worker) failed in its own code: a check of an answer it got, or a failure new in a later round — reported, never a cause",
    "exit:shutdown_timeout": "a child did not stop within its shutdown time and was killed",
    "exit:terminate_skipped": "a process stopped with :shutdown while its state held entries its callbacks collected, and no terminate/2 ran (it does not trap exits)",
    "exit:normal_signal_ignored": "exit(pid, :normal) sent to another process, which kept running (a :normal signal is ignored unless it traps exits)",
    # -- calls between processes (call/return events, send/receive of $gen_call)
    "wait:gave_up_early": "a wait with a timeout (Task.yield) gave up - returned nil - while the work it waited for was still running, and that work answered later in the recording",
    "call:cycle": "a cycle in the wait-for graph: A waits in GenServer.call on B while B calls A (or longer)",
    "call:cycle:across_nodes": "a wait-for cycle through processes on more than one node (calls to remote pids or {name, node})",
    "call:blocked_waiting": "a call event with no matching return for a long time; the caller sits in receive",
    "call:self": "a process sends a $gen_call to its own pid",
    "call:fan_in": "many processes call the same server pid; its call rate approaches its service rate",
    "call:nested_in_callback": "a handle_call/handle_cast of one server makes a synchronous call to another",
    "call:noproc": "a call or send addressed a process that had already exited (a stale pid or name)",
    "monitor:normal_down_retried": "a :DOWN/:EXIT with reason :normal makes the process start the same work again",
    "registry:registered_wrong_process": "a name or Registry key resolves to the supervisor (registered from start_link, in the caller) instead of the child",
    "call:stampede": "many processes make the same call with the same arguments at once, each before the first returned (a cold cache)",
    "call:reply_dropped": "a handle_call deferred its reply (:noreply, the caller's from kept in the state) and a later callback dropped it without replying",
    "message:result_astray": "a process the waiter started or gave its pid sent its result with send/2, and the waiter went on waiting until it gave up: the message went to the sender itself (self() inside the spawned fn), to another process, or in a shape or with a ref the waiter's receive does not match",
    "call:reply_misdirected": "a call's answer, or the caller's from it is sent with, went to another process: a reply to another request's from (one from answered twice), a result sent to a process that ignores it; the caller times out",
    "call:stale_reply": "a {ref, reply} message arrives after the caller's timeout fired",
    # -- callbacks (call/return timing of init/handle_* with return_trace)
    "callback:slow": "handle_* call→return latency far above the others, callers queue behind it",
    "callback:slow:repeated_work": "a slow call's time went in one callee called once per element of a collection a helper built with repeats or self-pairs (or in that callee's own time)",
    "callback:slow:retry_loop": "a slow run's (or a worker's a wait gave up on) time went between attempts at one callee that kept returning errors: a retry loop with a sleep or backoff and no bound within the caller's timeout",
    "callback:slow:repeated_work:same_args": "one application function called again and again in one run with the same arguments, returning the same result each time (a parse, a compile, a read of the same input), holding much of the run's time",
    "callback:slow_init": "init/1 takes long; the parent supervisor (and its start order) waits",
    "callback:blocking_io": "a callback calls file, HTTP, DB or :timer.sleep while holding callers",
    "callback:timeout_cancelled": "a GenServer callback returns without the timeout the others arm, so a message cancels the idle timeout and it never fires",
    "callback:answered_before_ready": "init/1 spawned its set-up and returned; calls were answered before the set-up's result reached the state",
    "callback:rate_high": "one callback runs far more often than the others (a timer rescheduled too fast, a hot loop)",
    "callback:unhandled_message": "handle_info logs or crashes on a message it does not expect",
    # -- mailboxes and messages (send/receive events, message_queue_len checkpoints)
    "mailbox:growing": "message_queue_len of one process increases over the capture",
    "mailbox:large": "a process holds thousands of messages at a checkpoint",
    "receive:nested_swallowed": "a $gen_cast/$gen_call/system message (or one a callback handles) received by a receive inside a callback and never handled",
    "receive:selective_scan": "a receive that matches on a fresh ref/pattern while many older messages wait",
    "message:unmatched": "messages sent to a process are never received (they stay in the queue)",
    "message:large": "send events with large payloads (copied on every send between processes)",
    "message:no_effect": "a message was handled without changing the state or sending anything (swallowed by a catch-all clause)",
    "message:variant_unhandled": "a callback acted on messages of one shape and did nothing for the same shape with another nested tag ({:noeol, _} where {:eol, _} is handled)",
    "message:order_race": "a message naming a key the receiver did not hold yet was handled without effect; a message by another path added that key just after",
    "message:send_dead": "send_dead events: messages sent to a pid or name that no longer exists",
    "message:rate_high": "send events to one receiver at a rate above what it consumes",
    # -- state history (state events before/after callbacks)
    "state:nil_field": "a state field becomes nil (or a default) in an `after` state and a later callback crashes",
    "state:unexpected_shape": "the state after a callback has a different shape/type than before",
    "state:corrupted_by_earlier_message": "the crash happens in message N, the bad value was written by message M < N",
    "state:growing": "the state's size increases with every callback and never shrinks",
    "state:large": "the state term is large (truncated in state events, expensive to copy)",
    "state:value_overwritten": "a callback writes a field that another callback wrote just before, losing the first value",
    "state:check_then_act": "a client reads a value from a server in one call and writes what it decided in a second call, while another client's write of the same key lands between the two",
    "data:type_mismatch": "the same argument arrives as an integer from some callers and as a numeric string from others",
    "data:invalid_utf8": "a function given valid UTF-8 text returns a binary that is not valid UTF-8 (cut by bytes)",
    "data:parse_lossy": "a number written with group separators is parsed as its first digits only (the rest ignored)",
    "data:parse_fallback": "a parser read most texts of one form as the number written and returned 0 for others of the same form that hold a number too: a fallback default stood in for input it failed to read",
    "data:unit_ignored": "a parser given numbers written with different suffixes (\"2.5kg\", \"800g\"; \"90s\", \"2m\") returned the same multiple of every one: the unit (the trailing text) was dropped",
    "data:stale_read": "after a key was set to a new value, a reader of that key still returns another value (a copy the change did not reach)",
    "data:stale_read:not_invalidated": "a read-through copy (ETS, a state map) filled from the source before a write still answers the value from before the write: the write path changed the source and left the copy",
    "data:utc_date": "a function takes the calendar day of a UTC timestamp while the application uses a local UTC offset under which the day differs",
    "data:page_skip": "a page-by-page fetch whose next cursor is past the last row's key although the page ended with rows sharing that key",
    "data:term_order_compare": "dates or times picked by Erlang term order (struct fields, day first) instead of in time",
    "data:entries_collapsed": "a call given N records returns fewer, one per value of a field that is not unique (keys colliding in Map.new/Enum.into, uniq_by on the wrong field): the others are dropped silently",
    "data:items_rejected": "a check answered false for some items and true for items of the same shape; every item it refused is absent from what its caller kept, every one it accepted is there",
    "data:all_refused": "a check answered false or an error to every one of several different items of one kind, and what they should reach never changed or came out empty (nothing kept to compare with)",
    "state:items_unstored": "a callback stored some messages of one kind and returned the state unchanged for others, whose identity is nowhere in the state after",
    "state:entry_overwritten": "storing a new item, a callback removed from its state (or an ETS set table) the entry an earlier, different item of the same kind had put there (a key shared by different items)",
    "data:mixed_type_compare": "numbers written as text (beside numbers, or alone) picked, sorted or filtered by Erlang term order: every number before every binary, binaries byte by byte",
    "state:counter_not_reset": "an integer state field only grows (attempts, errors), a function's result grows with it (a backoff delay), and the state went back to its healthy status without setting it back",
    "state:demand_lost": "a function set a demand/credit field from a to 0 while handing out fewer than a entries of a queue; later entries wait with the field at 0",
    "state:partial_not_undone": "a function took several steps through another module, one failed and it returned that error without undoing the steps that worked",
    "state:error_cached": "an {:error, _} result is stored in the process state and served from there to later calls",
    "data:sum_mismatch": "a function splits an integer argument into near-equal parts that do not add up to it (a remainder lost)",
    "data:order_inverted": "the symptom says a ranking runs the wrong way; an application function returned records ordered that way by a numeric field it was not given in that order",
    "data:value_origin": "a value the symptom states first occurs in the return of an application function whose arguments (and the state it was given) do not hold it",
    "data:boundary_crossed": "an integer field that stayed zero or more (or within its sibling cap/limit/max) in earlier results became negative (or exceeded it) in the return of an application function given it uncrossed",
    "data:boundary_miscounted": "the symptom places its case on a boundary (on its due date, on time, the same day); an application function given the same date or time in two of its arguments returned 1 or -1: the boundary itself counted",
    "data:boundary_excluded": "the symptom places its case on a boundary (on its last day, on its due date); an application predicate given the same date or time in two of its arguments answered outside the range (false for active?/valid?, true for expired?/late?): an inclusive end compared as exclusive",
    "ets:pattern_never_matches": "an :ets select/match call whose pattern (every head of its match specification) is a tuple of another size than every row the table holds: it matches nothing, answers 0 or [], and what it should remove stays",
    "data:zero_answered": "the symptom says a value came out zero where a non-zero one was expected; the deepest application call answered a bare 0 or 0.0 for an input that is not zero (a lookup's default, a factor no clause covers)",
    "data:value_pinned": "a helper inside the call that made a wrong value returned a whole number where the stated expectation needs a fraction, or the same boundary value (0, a cap) for several different inputs",
    "data:bad_value_received": "a callback crashed on a value of the message it handled, which the sender got from an application function it called before sending",
    "exit:killed_mid_work": "a process was killed (exit(pid, :kill) from another process) while inside its own traced functions, its work cut between steps",
    "lock:order_inversion": "two processes each hold a grant of a server (a lock, a lease) that the other waits for: each took them in the opposite order",
    "lock:never_released": "a caller waits for a grant of a server that another process took and never gave back (it died, or returned without releasing)",
    "exit:reason_produced": "a non-normal exit reason ({:shutdown, _}, a custom term) produced by a {:stop, reason, state} return, exit/1 or exit(pid, reason) in application code, and the processes linked to it that died with it",
    "ets:lock_left_behind": "a lock row inserted with insert_new by a process that then died abnormally stays, and later insert_new of the key by other processes are refused",
    "data:value_lost": "a function given both the value the symptom expected and the one it saw returns the one it saw, not the expected one",
    "data:diverges_on_failing": "the deepest function that handled both the cases the symptom calls wrong and those it calls right, with inputs of one shape, answers them with results of different shapes",
    "data:value_altered": "a value the symptom names among the failing cases goes into a function as written and comes out only with information lost (leading zeros, accents, cut short)",
    "data:key_spelled_apart": "a lookup given a text missed while the store held that text as a key in another spelling (case, accents, spacing), every other key in the canonical form the lookup uses",
    "data:spelled_apart": "a function given a failing case's text returned two spellings of it that differ only in case, accents, Unicode form or spacing",
    "data:reply_for_other_caller": "a caller of a server gets an answer made for another concurrent caller's request (it names that request's values, or is what was computed for it)",
    "data:served_for_other_request": "a callback answers a request with a value from its state that it computed and stored for a different request",
    "data:config_default": "a configuration or option read returned its default while the configuration holds the value under a near name (atom/string, spelling, qualifier, nesting, application)",
    "data:option_ignored": "a function given an option returns that key with the value it uses when no option is given (the defaults win)",
    "data:nested_keys_lost": "a function given a record and a change to one nested map returns the nested map replaced by the change (its other keys lost)",
    "data:float_unit_lost": "a function given only integers (cents, counts) returned floats, and a unit was lost on their way: a later call cut a float that stood for a whole number (10.05 x 100 = 1004.999... -> 1004), or the float parts of an integer total add up to a unit less or more",
    "data:half_rounded_down": "a function rounding an integer amount times a float factor to the nearest unit returns the lower unit where the exact product ends in .5 (float money)",
    "data:repeated_value": "a function making identifiers returned the same one to several calls (different processes or arguments) where the symptom says codes or ids repeat",
    "data:byte_order_swapped": "a function decoding integers from binaries returns, for some inputs, values far above the others that read in the other byte order fall in their range",
    "data:same_answer_for_all": "a check (true/false, 0, nil) gave the same answer to every call, failing cases the symptom names among them",
    "data:records_joined": "a function splitting a text into records returns a piece that still holds the separator (the split stopped early)",
    # -- return values (call/return events of the application's functions)
    "return:error_ignored": "a function returned {:error, _} (or :error) and its caller went on as if it had succeeded",
    "return:lazy_stream_dropped": "a function returned a lazy %Stream{} built from its own functions and none of them ran afterwards (the stream was never consumed)",
    "return:error": "a function of the application returned {:error, _} or :error",
    "return:off_contract": "a function returned, in one call, a value of a shape its other calls (or its @spec) never return (a bare false / nil / :error where {:ok, _} | {:error, _} is kept), and its caller crashed on it",
    "return:exception_caught": "a call raised or exited (a call timeout, a badarg) and its caller caught it and returned a normal value (a default) instead",
    # -- restarts and supervision (spawn/spawned/exit events of children and supervisors)
    "restart:loop": "the same child spec is spawned, exits and is spawned again repeatedly",
    "restart:siblings": "the exit of one child is followed by the restart of its siblings",
    "supervisor:start_error": "a supervisor's start_child / init returns {:error, _} for a child",
    "supervisor:intensity_low": "a supervisor exits after more abnormal exits of its children than its intensity allows in its period, children that had answered requests between the crashes (occasional failures, not a loop)",
    "supervisor:restart_type": "a child whose restart type is :temporary exits abnormally, is not restarted, and later calls or messages still address it",
    "supervisor:stale_pid": "messages to a child's old pid sent after its supervisor spawned the replacement",
    # -- processes (spawn / exit events, process counts)
    "process:count_growing": "the number of live processes increases and does not come back down",
    "process:orphaned": "a process outlives the process that started it and has nothing to do",
    "process:unsupervised_spawn": "spawn events without a link or monitor from a supervisor",
    "process:overlapping_runs": "two runs of one job (the same outermost function in two processes) overlap in time and both make the same call with the same arguments",
    "process:many_short_lived": "a high rate of spawn/exit pairs (process per small unit of work)",
    "reductions:high": "one process burns reductions continuously without receiving messages",
    # -- links, monitors, trapping exits
    "link:unexpected_exit": "a process exits because a linked process died, not for its own reason",
    "monitor:count_growing": "monitors are created (DOWN expected) but never removed",
    "monitor:down_unhandled": "a {:DOWN, ...} message arrives and nothing handles it",
    "trap_exit:enabled": "process_flag(:trap_exit, true) is set in the traced process",
    "trap_exit:exit_message": "{:EXIT, pid, reason} messages delivered as ordinary messages",
    # -- ETS (calls to :ets functions)
    "ets:rekeyed_row": "a record inserted into an ETS table under a new key (a changed field of a tuple key) while its row under the old key was never deleted",
    "ets:read_modify_write": "lookup then insert on the same key by different processes, interleaved",
    "ets:owner_exit": "the process that owns a table exits, then :ets calls on it fail",
    "ets:table_count_growing": "ets:new called repeatedly; the number of tables increases",
    "ets:concurrent_writers": "many processes write the same table or key at a high rate",
    "ets:large_scan": "ets:tab2list / match / select over a whole large table in a hot path",
    # -- registries and pubsub (calls to Registry / Phoenix.PubSub / :pg)
    "registry:already_started": "start_link returns {:error, {:already_started, pid}} for a registered name",
    "registry:duplicate_key_held": "two or more live processes registered one key of a registry started with keys: :duplicate while the code that registers there treats it as unique (handles :already_registered, takes a lookup's one entry)",
    "registry:lookup_miss": "Registry.lookup or whereis_name returns []/nil for a key that should exist",
    "registry:stale_entry": "a name or key is looked up and the pid is already dead",
    "pubsub:no_subscribers": "broadcast on a topic that no process subscribed to",
    "pubsub:topic_mismatch": "subscribe and broadcast use similar but different topic strings",
    "pubsub:duplicate_delivery": "the same process receives each broadcast twice (subscribed twice)",
    "pubsub:fanout_large": "one broadcast fans out to thousands of subscribers",
    # -- memory and VM limits (checkpoints of erlang:memory / process_info)
    "memory:binary_growing": "erlang:memory(:binary) grows; a process holds refc binaries it no longer needs",
    "memory:process_heap_growing": "one process's heap grows over the capture",
    "memory:ets_growing": "erlang:memory(:ets) grows without bound",
    "vm:atom_count_growing": "erlang:system_info(:atom_count) increases during the capture",
    "vm:persistent_term_update": "calls to :persistent_term.put/erase in a hot path (global GC each time)",
    "vm:code_purge": "processes killed by code purge / a module loaded twice quickly",
    # -- caches
    "cache:never_hits": "lookups into a cache (an ETS table, a map in a GenServer's state) missed every time with a key new every time, while the keys repeat once a part new in each (a request id, a time stamp, the whole request) is left out and the answers stored under them were the same",
    # -- timers
    "timer:leak": "send_after / :timer calls repeat without cancel; timeout messages pile up",
    "timer:leak:rearmed": "a timer call (send_after, start_timer, :timer.send_interval) armed again for the same message and destination while a timer an earlier call armed for it was still pending and never cancelled: the message arrives once per timer",
    "timer:wrong_unit": "a timer call that takes milliseconds (send_after, :timer, Task.yield, a call timeout) was given a delay equal to a value the program holds under a name in another unit (ttl_seconds: 3 armed as 3 ms; interval_ms: 200 multiplied by 1000 again)",
    "timer:late_message": "a timer message arrives after the state it was meant for is gone",
    # -- tasks
    "task:unbounded_spawn": "a burst of Task spawns, one per input item, with no concurrency bound",
    "task:crash_propagates": "a Task.async child crash kills its caller through the link",
    "task:orphaned": "a task keeps running after its caller exited or stopped waiting",
    # -- gen_statem
    "statem:unhandled_event": "a gen_statem crashes or logs on an event not handled in the current state",
    "statem:postponed_growing": "postponed events accumulate and are never consumed",
    "statem:postponed_never_retried": "an event was postponed and the machine never left that state (keep_state), so the event was never retried",
    "statem:timeout_cancelled": "a state or event timeout is implicitly cancelled by a state change or event",
    # -- Phoenix LiveView
    "liveview:double_mount": "mount/3 runs twice (disconnected render then connected) and does work both times",
    "liveview:crash_remount": "a LiveView process exits and the client rejoins, re-running mount",
    "liveview:large_assigns": "assigns hold large data; every diff and the process heap grow",
    "liveview:blocking_callback": "handle_event/handle_info blocks on slow work; the UI freezes",
    # -- Ecto / DBConnection
    "ecto:pool_queue": "DBConnection checkouts wait in the pool queue (queue_time grows)",
    "ecto:long_checkout": "a connection is held for a long time (transaction with slow work inside)",
    "ecto:n_plus_one": "many small repeated queries from one request",
    # -- distribution
    "dist:nodedown": "nodedown / {:nodedown, node} messages or monitor_node events",
    "dist:send_to_gone_node": "send events to a remote pid or {name, node} after that node went away (nodedown, noconnection, the capture lost it), never received",
    "dist:partition": "nodes disconnect and reconnect; each side kept working alone",
    "dist:global_conflict": ":global name conflict resolution kills one of two registered processes",
    "dist:busy_port": "busy_dist_port: senders suspended on a congested distribution connection",
    # -- logging
    "logger:sync_mode": "Logger switches to sync/drop mode; logging processes block in Logger calls",
    "logger:high_volume": "a very high rate of log calls from hot paths",
    # -- well-known code pitfalls (knowledge/source/pitfalls) in functions the recording shows ran
    "code:pitfall:time": "a function that ran holds a documented time/timer pitfall (clocks mixed, a timer cancelled with the wrong API, float or wrong-unit times, a generator reseeded from the clock, a gen_statem timeout kept)",
    "code:pitfall:collections": "a function that ran holds a documented collections/options pitfall (merge order, shallow merge, split options, strings or dates compared as terms, a lazy stream dropped, an unordered stream zipped)",
    "code:pitfall:ets": "a function that ran holds a documented ETS pitfall (a continuation dropped, a :set read as a bag, a named table per instance, check-then-insert)",
    "code:pitfall:processes": "a function that ran holds a documented process pitfall (start_link from a task, async_stream timeouts, a cast to a sibling not started yet, size-only batching, endless retries)",
    "code:pitfall:data": "a function that ran holds a documented data pitfall (money in floats, ~s with Unicode, config frozen at compile time, a file rewritten, atoms from input, byte order, a parse's rest ignored, text cut by bytes)",
}


def is_known(token: str) -> bool:
    """True when `token` is in the vocabulary or is the parent of tokens that are."""
    return token in VOCABULARY or any(t.startswith(token + ":") for t in VOCABULARY)


def relation(a: str, b: str) -> float:
    """How strongly token `a` matches token `b`: 1 equal, 0.5 one is an ancestor of the other."""
    if a == b:
        return 1.0
    if a.startswith(b + ":") or b.startswith(a + ":"):
        return 0.5
    return 0.0


def check_tokens(tokens: Iterable[str], *, where: str) -> tuple[str, ...]:
    """Validate tokens against the vocabulary; raise `SignatureError` naming the bad ones."""
    out: list[str] = []
    for tok in tokens:
        if not isinstance(tok, str) or not TOKEN_RE.match(tok):
            raise SignatureError(
                f"{where}: {tok!r} is not a signature token; write family:detail, e.g. 'mailbox:growing'"
            )
        if not is_known(tok):
            close = difflib.get_close_matches(tok, VOCABULARY, n=3, cutoff=0.6)
            hint = f" — did you mean {', '.join(close)}?" if close else ""
            raise SignatureError(
                f"{where}: unknown signature token {tok!r}{hint} (add it to "
                "knowledge/signatures.py VOCABULARY if it is genuinely new)"
            )
        out.append(tok)
    return tuple(out)
