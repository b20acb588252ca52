"""The evidence layer: general, typed facts computed from any recording.

A fact is a :class:`~elixir_scope.agents.findings.Finding` with a stable id (``kind#n``), the
signature tokens it shows (``knowledge/signatures.py``), the events that prove it, the culprit
it would name if it were the first cause, and — when another fact explains it — ``caused_by``.
Facts know nothing of any particular bug; knowledge-base signatures and the hypothesis ranking
(:mod:`~elixir_scope.agents.hypotheses`) turn them into an explanation.

The analyses, each a pure function of a :class:`~elixir_scope.agents.view.RecordingView`:

- :mod:`.failures` — exceptions of every class, abnormal exits and what took them down,
  messages to dead processes, failed calls; :mod:`.nodes` — messages and calls still addressed
  to a node after it went away; :mod:`.supervision` — restart loops, siblings
  restarted by a strategy, children not restarted, init calling its supervisor;
  :mod:`.supervisor_config` — a supervisor's configuration as the first cause (restart
  intensity an occasional crash exhausts, a :temporary child still needed after its crash);
  :mod:`.cascade` — what a crash loop's supervisor took down when it gave up, linked to the loop;
  :mod:`.crossed` — a count that went below zero or past its cap, where it first did; :mod:`.boundary` —
  a case on its boundary (two equal dates) counted one apart, or answered outside its range;
  :mod:`.patterns` — an ETS match pattern of another size than the table's rows; :mod:`.zeroed` — the
  helper that answered a bare zero when the user says a value came out zero;
- :mod:`.ignored` — ignored error returns, messages handled with no effect; :mod:`.rates` — hot
  callbacks, periodic timers whose rate jumps; :mod:`.statem` — gen_statem events dropped in one
  state; :mod:`.growth` — unbounded state growth (these four share :mod:`.common`, the
  vocabulary of culprits, message shapes, state pairs and senders); :mod:`.caught` — failures
  caught and turned into an ordinary value; :mod:`.received` — a crash on a value another process made
  and sent; :mod:`.locks` — a lock row its dead holder left behind; :mod:`.misdirected` — a call's answer, or
  the caller's ``from`` it must be sent with, that went to a process other than the caller; :mod:`.swapped` — deferred answers a caller got that were made for another concurrent request; :mod:`.races` — a client's read call and write call to one server with another client's write between them (check then act); both read calls through :mod:`.calls`; :mod:`.leases` — locks and leases of a server taken in an order that closes a cycle, or never given back; :mod:`.postponed` — gen_statem events postponed in
  a state the machine never leaves; :mod:`.signals` — ``exit(pid, :normal)`` sent to a process
  that ignores it; :mod:`.receives` — messages a receive inside a callback took from the
  behaviour loop and dropped; :mod:`.monitors` — a ``:DOWN`` for a process the watcher still
  keeps, taken with no effect; :mod:`.overlaps` — two runs of one job overlapping and both
  doing the same thing (when the symptom says twice); :mod:`.sums` — one part kept where the
  symptom's total adds them; :mod:`.ranking` — a ranking the symptom says runs the wrong way, at the
  function that ordered it; :mod:`.bounces` — one payload handed back and forth between two
  processes without end; :mod:`.rekeyed` — an ETS record moved to a new key with its old
  row left behind (when the symptom says twice); :mod:`.keytypes` — an ETS row removed under a key of another type than it was
  written with (nothing removed); :mod:`.respelled` — a lookup that missed a key the store holds in
  another spelling (case, spacing) — its writer, when not recorded, from the sources; :mod:`.registries` — one key of a
  registry started with ``keys: :duplicate`` held by two live processes while the code treats it as
  unique; :mod:`.scaled` — a figure off by a conversion factor, at the function whose
  scaled results make it up; :mod:`.deliveries` — one dispatch delivering the same message
  twice to one process; :mod:`.ordering` — a message dropped because the one introducing
  what it refers to came later by another path; :mod:`.readiness` — calls answered before
  the set-up ``init/1`` started elsewhere finished; :mod:`.stale` — reads that still answer
  a value a write changed (a copy the change did not reach); :mod:`.zones` — calendar days
  of UTC timestamps under the application's local offset; :mod:`.paging` — keyset pages whose
  next cursor passes rows tied with the last one; :mod:`.shutdown` — a process stopped
  with work in its state and no ``terminate/2``, or killed before it finished; :mod:`.produced` — where an
  exit reason a linked process died of was made (a ``{:stop, …}`` return, ``exit/1``, ``exit(pid, reason)``);
  :mod:`.variants` — a message dropped where its sibling with another nested tag is handled;
  :mod:`.counters` — a counter never set back when its episode ends; :mod:`.demand` — a demand
  zeroed when only part of it was used; :mod:`.transforms` — options, nested keys and records
  lost between a call's arguments and its result; :mod:`.config` — a configuration or option read
  that fell back to its default while a near name holds the value; :mod:`.rounding` — exact halves of float
  money rounded down; :mod:`.lazy` — lazy streams returned and never run;
  :mod:`.byteorder` — integers decoded from binaries in the wrong byte order; :mod:`.mixed` — numbers
  written as text compared with numbers (term order), blamed where the text was not converted;
  :mod:`.collapsed` — records lost to a key that is not unique (one kept per value of a field);
  :mod:`.lost` — items that went in and never came out (a check that refused some of them, a callback
  that left some out of its state, an entry a later one replaced); :mod:`.refused` — a check that refused
  every one of several different items while nothing came out (no item kept to compare with);
  :mod:`.gaveup` — a wait (``Task.yield/2``) that gave up before the task's work answered;
  :mod:`.durations` — a timer given a duration in another unit than the setting it came from;
  :mod:`.floats` — whole units (cents, counts) put through floats and a unit lost (cut, or parts rounded apart);
  :mod:`.retries` — a wait that gave up on a worker busy retrying a failing callee;
  :mod:`.provenance` (with :mod:`.stated`, :mod:`.repeats` and :mod:`.inputs`) — the values the symptom
  states, followed to the call that produced them (and past it, :mod:`.units`, to a parse that ignored the unit of the numbers it combined or read some of them as 0) (a common or sign-inverted one through the inputs the symptom states); :mod:`.diag_flow` (with :mod:`.cases`) — where
  the cases the symptom calls wrong part from those it calls right, and (:mod:`.altered`) where a
  value they are named by lost information, and (:mod:`.spellings`) where one got two spellings;
  :mod:`.constant` — a check that gave every case the same answer;
  :mod:`.pitfalls` — well-known code
  pitfalls of the sources (knowledge/source/pitfalls) in functions the recording shows ran
  (given ``code``); :mod:`.compensation` — a refused multi-step request that keeps the steps
  that worked; :mod:`.dropped` — a process its owner started and kept in its state, replaced
  there by another without being ended (a leak blamed on the owner, not the spawn); :mod:`.tables`
  — ETS tables a long-lived process creates again and again and never deletes; :mod:`.unread` — a
  plain receive loop whose mailbox grows with messages its receive never takes; :mod:`.rearmed` — a
  timer armed again for the same message while the one before it is pending; :mod:`.cachemiss` — a
  cache whose key is new for every request, so it never hits; :mod:`.samework` — one expensive call
  repeated with the same arguments and result in a loop (when the symptom is slow);
  :mod:`.trigger` — the reproduction's own failures (a trigger whose check of an answer
  failed, or that failed only in a later round), reported and never a hypothesis;
- calibration by the symptom's words: :mod:`.reported` — a failure the user reports is the end
  of the chain, not an error dropped (used by :mod:`.ignored`); :mod:`.expected` — a slowness
  the user calls expected blames the caller that did not survive it; :mod:`.stopped` — a child
  stopped on request (used by :mod:`.supervision`);
- the analyses in :mod:`~elixir_scope.agents.detectors` — call cycles, slow callbacks,
  mailbox growth, state corrupted by an earlier message, ETS read-modify-write races,
  publishes nobody hears, process leaks.

:func:`build_facts` runs them all, then links effects to causes (a caller's timeout to the
slow callback or cycle it waited on, a crash to the earlier message that corrupted the state,
a ``noproc`` to the crash of its target) and returns the :class:`~.book.FactBook`.
The order is deterministic: the same recording always gives the same facts and ids.
"""

from __future__ import annotations

from ..view import RecordingView
from . import diag_flow
from . import (addresses, bounces, bursts, byteorder, caught, collapsed, compensation, config, constant, counters, data, demand, deliveries, dropped,
               expected, failures, growth, ignored, lazy, leases, locks, misdirected, mixed, races, swapped, monitors, nodes, ordering, overlaps, rekeyed, paging,
               pitfalls, postponed, produced, provenance, ranking, rates, readiness, received, receives, replies,
               resources, rounding, shutdown, signals, stale, statem, sums, supervision, supervisor_config, timeouts, transforms, trigger, values,
               variants, waits, zones)
from . import astray, boundary, cachemiss, cascade, config_start, contracts, crossed, durations, floats, gaveup, lost, rearmed, refused, retries, samework, tables, units, unread
from . import keytypes, patterns, registries, respelled, scaled, zeroed
from .book import FactBook
from .pitfalls import CodeEvidence

__all__ = ["CodeEvidence", "FactBook", "build_facts"]


def _detectors(view: RecordingView, book: FactBook, symptom: str = "") -> None:
    from ..detectors import (call_cycle, exception_state, lost_update, mailbox_growth, process_leak,
                             slow_callback, unheard_pubsub)

    for mod in (call_cycle, slow_callback, mailbox_growth, lost_update, unheard_pubsub, process_leak):
        for f in (process_leak.detect(view, symptom) if mod is process_leak else mod.detect(view)):
            ids = f.event_ids
            book.add(f, pid=None, ts=None, event_ids=ids)
    for f in exception_state.detect(view):
        if f.state_diffs:  # an earlier transition wrote the bad value: that is a fact of its own
            f.detector = "state_corruption"
            book.add(f, pid=None, ts=None)


def _link_corruption(book: FactBook) -> None:
    """A crash whose exception event a state-corruption fact cites was caused by it."""
    for corr in book.of_kind("state_corruption"):
        cited = set(corr.event_ids)
        for f in book.of_kind("exception"):
            if cited & set(f.event_ids):
                book.link(f, corr, "the state it ran with was corrupted earlier")


def _link_blocked(book: FactBook) -> None:
    """A callback that was slow because its process was stuck in a call cycle is explained by
    the cycle."""
    for cyc in book.of_kind("call_cycle"):
        members = {e.process for e in cyc.evidence + cyc.causal_chain if e.process}
        for f in book.of_kind("slow_callback"):
            if f.culprit.process in members or f.culprit.module in {m for m in members}:
                book.link(f, cyc, "the callback was blocked in a call cycle")


def _link_lost_to_crash(view: RecordingView, book: FactBook) -> None:
    """Messages that died in the mailbox of a process that crashed are an effect of the crash —
    unless senders went on sending to it after it had gone (then the pid they keep is the cause)."""
    from ..view import fmt

    crashes = {book.meta[f.id]["exit"].event_id: f for f in book.of_kind("exit") if "exit" in book.meta[f.id]}
    for dropped in book.of_kind("lost_in_mailbox"):
        for ev in dropped.evidence:
            crash = crashes.get(ev.event_id) if ev.kind == "exit" else None
            if crash is None:
                continue
            pid = book.meta[crash.id]["exit"].pid
            proc = view.proc(pid)
            if proc is not None and any(proc.pid in fmt(d.to, 200) for d in view.dead_sends):
                continue
            book.link(dropped, crash, "the process crashed with these messages still in its mailbox")


def build_facts(view: RecordingView, symptom: str = "", *, code: CodeEvidence | None = None,
                earlier_triggers: list[dict] | None = None, trigger_expr: str | None = None,
                config_env: dict | None = None, source_reads: list[dict] | None = None,
                child_specs: dict | None = None, callees: dict | None = None,
                return_specs: dict | None = None, stores: dict | None = None) -> FactBook:
    """Every analysis over ``view``, then the links between their facts. An analysis that fails
    on an unusual recording is skipped and named in ``book.errors``: the others still count.
    ``symptom`` (the user's words) lets :mod:`.provenance` follow the values it states;
    ``code``: the sources' pitfall hits and the symptom, for the ``code_pitfall`` facts;
    ``earlier_triggers``: what the trigger did in the diagnosis's earlier rounds
    (:func:`.trigger.runs`), for a failure of the trigger new in this round; ``trigger_expr``:
    the trigger expression (the functions it names are the reproduction's code, not the app's);
    ``config_env``: the live environment of the applications whose recorded reads fell back to
    their default and of those the sources read settings of (:func:`.config.live_envs`), for the
    ``config_default`` facts; ``source_reads``: the settings the sources read with a literal
    default (knowledge/source ``env_reads``), for those read before the capture began;
    ``child_specs``: module → the child-spec options its ``use`` sets (``restart: :temporary``),
    for the restart-type facts' culprit; ``return_specs``: ``Module.fun/arity`` → the return
    shapes its ``@spec`` allows (knowledge/source ``return_specs``), for the broken contracts;
    ``stores``: how the sources write and read keyed stores and configure registries
    (knowledge/source ``stores``), for a writer the recording did not see, a lookup table's keys
    and a registry's ``keys:``."""
    book = FactBook()
    steps = [
        failures.exceptions, lambda v, b: trigger.trigger_failures(v, b, earlier_triggers, trigger_expr), replies.deferred_replies, replies.statem_replies_missing,
        misdirected.misdirected_replies, lambda v, b: _detectors(v, b, symptom), races.check_then_act, swapped.swapped_replies, lambda v, b: _link_corruption(b), lambda v, b: _link_blocked(b),
        received.bad_values_received, lambda v, b: contracts.broken_contracts(v, b, return_specs),
        failures.exits, supervision.restarts, supervision.sibling_restarts, failures.ets_owners,
        supervision.not_restarted, dropped.references_dropped, failures.dead_sends, nodes.sends_to_gone_nodes, failures.lost_mailboxes,
        _link_lost_to_crash,
        supervisor_config.intensity_exhausted, supervisor_config.finished_restarted,
        lambda v, b: supervisor_config.temporary_needed(v, b, child_specs, symptom),
        supervisor_config.stale_after_restart,
        supervisor_config.calls_to_lost_children,
        supervision.init_calls_parent,
        supervision.already_started,
        waits.blocked_chains, failures.link_calls, lambda v, b: expected.expected_slowness(v, b, symptom),
        lambda v, b: ignored.ignored_errors(v, b, symptom), caught.caught_failures, ignored.no_effect_messages, misdirected.link_ignored, monitors.downs_ignored, rates.hot_callbacks, rates.rate_changes,
        statem.statem_events, postponed.postponed_events, signals.normal_exits, signals.kills_mid_work, locks.locks_left_behind, leases.locks_and_leases, growth.state_growth,
        receives.nested_receive_lost, deliveries.duplicate_deliveries, bounces.bounced_messages, ordering.early_messages,
        readiness.answered_before_ready,
        values.state_reverts, values.link_reverted_messages, values.children_down, supervisor_config.finished_jobs, values.atoms_from_input, values.type_mismatch,
        values.sum_mismatch, timeouts.cancelled_timeouts,
        data.invalid_utf8, data.lossy_parse, data.term_order_picks, data.errors_cached, bursts.stampedes,
        bursts.retries_after_normal_exit, addresses.sends_to_supervisors,
        resources.ets_growth, resources.memory_growth, lambda v, b: tables.tables_leaked(v, b, symptom), unread.unread_messages,
        stale.stale_reads, zones.utc_dates, paging.page_skips,
        shutdown.terminate_skipped, shutdown.terminate_cut, produced.reasons_produced, cascade.taken_down_with, cascade.loop_taken_down, variants.unhandled_variants,
        counters.counters_not_reset, demand.demand_lost,
        lambda v, b: config.config_defaults(v, b, config_env),
        lambda v, b: config_start.config_defaults_at_start(v, b, config_env, source_reads, symptom), transforms.options_ignored, transforms.nested_keys_lost, transforms.records_joined, mixed.mixed_type_compares,
        rounding.halves_rounded_down, floats.float_units_lost, lazy.streams_never_run, byteorder.swapped_byte_orders,
        *provenance.analyses(symptom, callees), lambda v, b: units.units_ignored(v, b, symptom), *scaled.analyses(symptom), *ranking.analyses(symptom), *sums.analyses(symptom), *overlaps.analyses(symptom), *rekeyed.analyses(symptom), *diag_flow.analyses(symptom), *constant.analyses(symptom), *collapsed.analyses(symptom), *lost.analyses(symptom), *refused.analyses(symptom), *crossed.analyses(symptom), *boundary.analyses(symptom), collapsed.link_effects, gaveup.waits_gave_up, durations.durations_wrong_unit, retries.retries_outlasted_waits, astray.results_astray, rearmed.timers_rearmed, cachemiss.caches_never_hit, keytypes.keys_missed, lambda v, b: respelled.keys_spelled_apart(v, b, stores),
        patterns.patterns_never_match, *zeroed.analyses(symptom, stores),
        lambda v, b: samework.work_repeated(v, b, symptom),
        compensation.partial_failures,
        lambda v, b: registries.registry_keys_shared(v, b, stores),
    ]
    if code is not None:
        def code_pitfalls(v: RecordingView, b: FactBook) -> None:
            pitfalls.code_pitfalls(v, b, code.hits, code.symptom, code.similarity)
        steps.append(code_pitfalls)
    for step in steps:
        try:
            step(view, book)
        except Exception as exc:  # one analysis must never cost the whole diagnosis
            name = getattr(step, "__name__", "analysis")
            book.errors.append(f"the {name} analysis failed on this recording ({type(exc).__name__}: {exc})")
    if view.multi_node:
        _name_nodes(view, book)
    return book


def _name_nodes(view: RecordingView, book: FactBook) -> None:
    """In a recording of several nodes every culprit says which node it runs on: from the
    process the fact was about, else the process its culprit names (when only one node has a
    process of that name)."""
    by_label: dict[str, set[str]] = {}
    for p in view.procs.values():
        if p.node:
            by_label.setdefault(p.label, set()).add(p.node)
    for f in book.facts:
        c = f.culprit
        if c is None or c.node:
            continue
        pid = book.meta.get(f.id, {}).get("pid")
        node = view.node_of(pid) if isinstance(pid, int) and c.process == view.label(pid) else None
        if node is None and c.process:
            found = by_label.get(c.process, set())
            node = next(iter(found)) if len(found) == 1 else None
        c.node = node
