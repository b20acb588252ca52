"""Messages published where nobody listens.

With ``Registry``-based pub/sub (``keys: :duplicate``) — and Phoenix.PubSub, which is built
the same way — a publisher dispatches to a topic string and every process registered under
that key gets the message. A typo on either side compiles and runs fine: messages simply go
nowhere. Proof: dispatches to a topic that has no registration, neither in the recording nor
in the registry's live contents taken when the diagnosis ran; the nearest topic that *is*
subscribed is usually the intended one.
"""

from __future__ import annotations

import re
from collections import defaultdict
from difflib import SequenceMatcher

from ..findings import Culprit, Finding, MessageArrow
from ..view import Call, RecordingView, fmt, mod_name

PUBLISH = {("Elixir.Registry", "dispatch"), ("Elixir.Phoenix.PubSub", "broadcast"),
           ("Elixir.Phoenix.PubSub", "broadcast!"), ("Elixir.Phoenix.PubSub", "local_broadcast")}
SUBSCRIBE = {("Elixir.Registry", "register"), ("Elixir.Phoenix.PubSub", "subscribe")}

# trace-signature tokens (knowledge/signatures.py VOCABULARY) this detector proves
SIGNATURES = ("pubsub:no_subscribers", "pubsub:topic_mismatch")


def _origin(c: Call, topic: str) -> Call | None:
    """Where the topic was made: walk up the callers while they received it as an argument
    (thin wrappers like ``MyApp.PubSub.publish(topic, msg)`` pass it through); the first
    caller that did not receive it wrote it."""
    origin = None
    p = c.parent
    while p is not None:
        origin = p
        if not any(topic in fmt(a, 400) for a in p.args):
            break
        p = p.parent
    return origin


def detect(view: RecordingView) -> list[Finding]:
    published: dict[tuple[str, str], list[Call]] = defaultdict(list)
    subscribed: dict[str, set[str]] = defaultdict(set)
    for c in view.calls:
        if len(c.args) < 2:
            continue
        key = (c.module, c.function)
        registry, topic = fmt(c.args[0]), fmt(c.args[1])
        if key in PUBLISH:
            published[(registry, topic)].append(c)
        elif key in SUBSCRIBE:
            subscribed[registry].add(topic)
    for registry, topics in view.registry_keys.items():
        subscribed[registry].update(topics)
    findings = []
    for (registry, topic), calls in published.items():
        if topic in subscribed.get(registry, set()):
            continue
        findings.append(_finding(view, registry, topic, calls, sorted(subscribed.get(registry, set()))))
    return findings


def _moved_on(nearest: str | None, topic: str) -> str | None:
    """Why the publisher may be right: the nearest subscribed topic differs from the published
    one only in its digits (``"hearings:2026-12-07"`` and ``"…-08"``, ``"shard:3"`` and ``"shard:4"``)
    — a value that moves on, such as today's date. A subscriber that registered once for the value
    of its day and never again looks the same as a publisher computing a wrong one, and the
    recording does not tell them apart: where that key was registered is as likely the cause.
    None for any other difference (a spelling: the topics simply disagree)."""
    if nearest is None or nearest == topic or not any(ch.isdigit() for ch in topic):
        return None
    if re.sub(r"\d+", "#", nearest) != re.sub(r"\d+", "#", topic):
        return None
    return (f"the nearest subscribed topic {nearest} differs from {topic} only in its digits (a date, a number "
            "that moves on): a subscriber that registered once for an earlier value and never again looks the "
            "same as a wrong topic here — look at where that key was registered too")


def _finding(view, registry, topic, calls, known) -> Finding:
    nearest = max(known, key=lambda t: SequenceMatcher(None, t, topic).ratio(), default=None)
    first = calls[0]
    outer = _origin(first, topic)
    module = mod_name(outer.module) if outer else mod_name(first.module)
    function = f"{outer.function}/{outer.arity}" if outer else f"{first.function}/{first.arity}"
    evidence = [view.call_evidence(c, f"{c.mfa} published to {topic} on {registry}") for c in calls[:5]]
    if outer:
        evidence.insert(0, view.call_evidence(outer))
    hint = f" The registry has subscribers for {', '.join(known[:5])}" if known else " The registry has no subscribers at all"
    near = f"; {nearest} looks like the intended topic." if nearest else "."
    return Finding(
        weak=_moved_on(nearest, topic),
        detector="unheard_pubsub",
        title=f"Published to {topic} where nobody listens",
        summary=(
            f"{module}.{function} published {len(calls)} message(s) to topic {topic} on {registry}, but no "
            f"process is registered under that topic, so every message was silently dropped.{hint}{near}"
        ),
        severity="high",
        confidence=0.9 if known else 0.75,
        culprit=Culprit(module=module, function=function, detail=topic),
        evidence=evidence,
        causal_chain=evidence[:2],
        messages=[MessageArrow(sender=view.label(first.pid), receiver=f"{registry} {topic}", message=fmt(first.args[2] if len(first.args) > 2 else None, 40),
                               at_ms=view.at_ms(first.ts), kind="send")],
        signatures=list(SIGNATURES),
        fix_hint=(
            f"Use one definition of the topic for both sides (a function like `def topic(:order_created), do: "
            f"{nearest or topic}`), so publisher and subscriber cannot drift apart."
        ),
    )
