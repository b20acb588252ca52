"""Messages a plain receive loop never takes (agents/evidence/unread.py), on a real node: the
counter's mailbox grows with heartbeats its receive has no clause for, while it waits in its
loop — named at the loop, with the unread shape; the twin, whose loop takes heartbeats too,
leaves no fact."""

from __future__ import annotations

from pathlib import Path

from support.diagnose_once import diagnose_once

APP = Path(__file__).parent / "fixtures" / "unread_app" / "turnstile.ex"
SYMPTOM = ("the entry counter answers more and more slowly through the match and its memory keeps rising until "
           "we restart it; the counts themselves are right")


async def test_a_loop_that_never_takes_some_messages_is_named_with_their_shape(tmp_path: Path, kb_index_dir):
    report, book = await diagnose_once(tmp_path, kb_index_dir, APP.read_text(), app="Turnstile", symptom=SYMPTOM)
    found = book.of_kind("messages_unread")
    assert len(found) == 1, [(f.id, f.title) for f in book.facts]
    f = found[0]
    assert (f.culprit.module, f.culprit.function) == ("Turnstile.Counter", "loop/1"), f.culprit
    assert "never fewer" in f.summary and "waiting in Turnstile.Counter.loop/1" in f.summary, f.summary
    assert report.root_cause is not None and report.root_cause.culprit.function == "loop/1", report.verdict


async def test_a_loop_that_takes_every_message_leaves_no_fact(tmp_path: Path, kb_index_dir):
    src = APP.read_text()
    fixed = src.replace("      {:total, from} ->", "      {:heartbeat, _gate, _n} -> loop(counts)\n      {:total, from} ->")
    assert fixed != src
    _report, book = await diagnose_once(tmp_path, kb_index_dir, fixed, app="Turnstile", symptom=SYMPTOM)
    assert book.of_kind("messages_unread") == [], [(f.id, f.title) for f in book.facts]
