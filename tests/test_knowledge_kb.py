"""The knowledge-base entries: coverage of the issue's topics, and validation of bad files."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

from elixir_scope.knowledge import SIGNATURES, EntryError, KnowledgeBase, SignatureError
from elixir_scope.knowledge.kb import CATEGORIES, RECORD_NEEDS, parse_entry
from elixir_scope.knowledge.signatures import check_tokens, is_known, relation

KB_DIR = Path(__file__).resolve().parents[1] / "knowledge" / "kb"


@pytest.fixture(scope="module")
def kb() -> KnowledgeBase:
    return KnowledgeBase.load()


def test_packaged_entries_load_and_match_the_source_folder(kb):
    assert len(kb) >= 60
    assert set(kb.ids) == {p.stem for p in KB_DIR.glob("*.md")}


# Each topic the issue names, with the entries that must cover it.
REQUIRED_TOPICS = {
    "GenServer call deadlocks and call cycles": ["genserver-call-cycle", "genserver-call-self"],
    "mailbox overload": ["mailbox-overload"],
    "slow callbacks blocking callers": ["slow-callback-blocks-callers"],
    "call timeouts": ["genserver-call-timeout"],
    "crash loops and restart intensity": ["crash-loop-restart-intensity"],
    "state corrupted by an earlier message": ["state-corrupted-by-earlier-message"],
    "ETS races and table ownership": ["ets-read-modify-write-race", "ets-table-owner-death"],
    "process leaks": ["process-leak-unsupervised-spawn"],
    "misuse of links and monitors": ["link-instead-of-monitor", "monitor-leak", "trap-exit-misuse"],
    "Registry/PubSub topic mistakes": ["pubsub-topic-mismatch", "registry-already-started"],
    "selective receive on large mailboxes": ["selective-receive-large-mailbox"],
    "binary memory leaks": ["binary-leak-refc"],
    "atom exhaustion": ["atom-exhaustion"],
    "supervision strategies": ["wrong-supervision-strategy", "one-for-all-cascade"],
    "Task and async pitfalls": ["task-await-timeout", "task-async-crash-kills-caller", "unbounded-async-stream"],
    "gen_statem": ["statem-unhandled-event"],
    "LiveView lifecycle": ["liveview-double-mount"],
    "Ecto pool exhaustion": ["ecto-pool-exhaustion"],
    "distribution partitions": ["dist-netsplit-partition"],
    "hot loops": ["hot-loop-reductions"],
    "large messages": ["large-message-copying"],
    "sys.get_state misuse": ["sys-get-state-misuse"],
    "persistent_term churn": ["persistent-term-churn"],
    "GenServer as a bottleneck": ["genserver-bottleneck"],
    "timer leaks": ["timer-leak-send-after"],
    "Logger backpressure": ["logger-backpressure"],
}


@pytest.mark.parametrize("topic", sorted(REQUIRED_TOPICS))
def test_every_required_topic_has_entries(kb, topic):
    for entry_id in REQUIRED_TOPICS[topic]:
        kb.get(entry_id)


def test_entries_are_complete(kb):
    for e in kb:
        assert e.category in CATEGORIES
        assert len(e.symptoms) >= 3, e.id
        assert e.signatures and all(t in SIGNATURES for t in e.signatures), e.id
        assert len(e.summary) > 150 and len(e.fix) > 80 and len(e.trace_signature) > 80, e.id


def test_every_code_example_is_valid_elixir(kb, tmp_path):
    """Each example is parsed by Elixir's own parser (Code.string_to_quoted), not eyeballed."""
    for e in kb:
        (tmp_path / f"{e.id}.exs").write_text(e.example)
    script = (
        'bad = for f <- Path.wildcard(Path.join(System.argv() |> hd(), "*.exs")), '
        'match?({:error, _}, Code.string_to_quoted(File.read!(f))), do: Path.basename(f); '
        'IO.puts("BAD:" <> Enum.join(bad, ","))'
    )
    out = subprocess.run(["elixir", "-e", script, str(tmp_path)], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "BAD:", out.stdout


def test_every_category_and_most_signatures_are_used(kb):
    assert {e.category for e in kb} == set(CATEGORIES)
    used = {t for e in kb for t in e.signatures}
    assert len(used) / len(SIGNATURES) > 0.9, sorted(set(SIGNATURES) - used)


def test_content_hash_changes_with_content_only(kb):
    e = kb.get("genserver-call-cycle")
    text = (KB_DIR / "genserver-call-cycle.md").read_text()
    same = parse_entry(text, "elsewhere/genserver-call-cycle.md")
    assert same.content_hash == e.content_hash
    changed = parse_entry(text.replace("Break the cycle", "Break that cycle"), "genserver-call-cycle.md")
    assert changed.content_hash != e.content_hash


GOOD = (KB_DIR / "genserver-call-self.md").read_text()


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda t: t.replace("+++\n", "", 1), "TOML front matter"),
        (lambda t: t.replace('title = "', 'title = ', 1), "not valid TOML"),
        (lambda t: t.replace('category = "deadlock"', 'category = "misc"'), "category 'misc'"),
        (lambda t: t.replace('"call:self"', '"call:selff"'), "did you mean call:self"),
        (lambda t: t.replace('"call:self"', '"Call Self"'), "not a signature token"),
        (lambda t: t.replace("## Fix", "## Remedy"), "unknown section '## Remedy'"),
        (lambda t: t.replace("```elixir", "```"), "```elixir fenced code block"),
        (lambda t: t.replace('id = "genserver-call-self"', 'id = "other-id"'), "file name must be the id"),
        (lambda t: t.replace('id = "genserver-call-self"', 'id = "Bad_Id"'), "kebab-case"),
        (lambda t: t.replace("tags = [", "colour = 1\ntags = ["), "unknown front-matter keys"),
        (lambda t: t.replace("- The server crashes", "* The server crashes").replace("- A helper", "* A helper")
         .replace("- The server freezes", "* The server freezes"), "at least one '- ' bullet"),
        (lambda t: re.sub(r"\+\+\+\n\n.*?\n\n## Symptoms", "+++\n\n## Symptoms", t, flags=re.S), "summary paragraph"),
    ],
)
def test_malformed_entries_are_rejected_with_a_useful_message(mutate, message):
    bad = mutate(GOOD)
    assert bad != GOOD
    with pytest.raises(EntryError, match=re.escape(message)):
        parse_entry(bad, "genserver-call-self.md")


def test_wrapped_symptom_bullets_are_joined():
    wrapped = GOOD.replace("- A helper function works from iex", "- A helper function\n  works from iex")
    e = parse_entry(wrapped, "genserver-call-self.md")
    assert "A helper function works from iex but crashes the server when called from inside handle_call" in e.symptoms
    assert len(e.symptoms) == len(parse_entry(GOOD, "genserver-call-self.md").symptoms)


def test_knowledge_base_level_checks(tmp_path):
    (tmp_path / "genserver-call-self.md").write_text(GOOD)
    with pytest.raises(EntryError, match="related ids"):
        KnowledgeBase.load(tmp_path)
    with pytest.raises(EntryError, match="does not exist"):
        KnowledgeBase.load(tmp_path / "missing")
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(EntryError, match="no entries"):
        KnowledgeBase.load(empty)
    e = parse_entry(GOOD, "genserver-call-self.md")
    with pytest.raises(EntryError, match="duplicate"):
        KnowledgeBase((e, e))


def test_signature_vocabulary_rules():
    assert is_known("exception:timeout")  # a parent of known tokens
    assert relation("exception:timeout", "exception:timeout:GenServer.call") == 0.5
    assert relation("call:cycle", "call:cycle") == 1.0
    assert relation("call:cycle", "call:self") == 0.0
    assert check_tokens(["mailbox:growing"], where="t") == ("mailbox:growing",)
    with pytest.raises(SignatureError, match="mailbox:growing"):
        check_tokens(["mailbox:grow"], where="t")
    with pytest.raises(SignatureError, match="family:detail"):
        check_tokens(["mailbox"], where="t")


# -- evidence signatures ([evidence] in the front matter) ----------------------------------

# Tokens that say "something failed" without saying what: never enough to make a specific
# pattern a candidate on their own.
GENERIC_TOKENS = {"exit:abnormal", "exit:shutdown", "exit:caused_by_other", "exception:error", "restart:loop"}


def test_every_entry_has_an_evidence_signature_or_says_why_not(kb):
    for e in kb:
        sig = e.evidence
        assert sig is not None, f"{e.id}: no [evidence] table"
        if not sig.checkable:
            assert len(sig.none) > 40 and not (sig.primary or sig.contradicts or sig.record), e.id
            continue
        assert sig.primary and set(sig.primary) <= set(sig.supports), e.id
        assert not set(sig.primary) <= GENERIC_TOKENS, f"{e.id}: only generic primary tokens {sig.primary}"
        assert not set(sig.supports) & set(sig.contradicts), e.id
        assert sig.record and set(sig.record) <= set(RECORD_NEEDS), e.id
        assert len(sig.misleads) > 60, f"{e.id}: say how the pattern misleads"
    checkable = [e for e in kb if e.evidence.checkable]
    assert len(checkable) / len(kb) > 0.95


def test_signatures_field_agrees_with_the_evidence(kb):
    """The retrieval field names every primary token (or a relative), and no contradiction."""
    for e in kb:
        if not e.evidence.checkable:
            continue
        for p in e.evidence.primary:
            assert any(relation(p, s) > 0 for s in e.signatures), f"{e.id}: primary {p} not in signatures"
        assert not set(e.evidence.contradicts) & set(e.signatures), e.id


def test_docs_state_the_signature_count_and_list_the_entries_without_one(kb):
    docs = (Path(__file__).resolve().parents[1] / "docs" / "knowledge.md").read_text()
    checkable = sum(e.evidence.checkable for e in kb)
    assert f"**{checkable} of {len(kb)}**" in docs
    for e in kb:
        if not e.evidence.checkable:
            assert f"`{e.id}`" in docs, f"docs/knowledge.md does not list {e.id} among entries without a signature"


EVIDENCE = '''
[evidence]
supports = ["call:self", "exception:calling_self", "exit:abnormal"]
primary = ["call:self"]
contradicts = ["call:cycle"]
record = ["calls", "callbacks"]
misleads = "a call through a registered name hangs instead of raising"
+++
'''


def _with_evidence(block: str) -> str:
    head, _, body = GOOD.partition("\n+++\n")   # the first +++ line opens, the next closes
    opening, _, front = head.partition("+++\n")
    front = front.split("\n[evidence]\n")[0]
    return f"+++\n{front}\n{block.strip()}\n+++\n{body}"


def test_an_evidence_table_is_parsed():
    e = parse_entry(_with_evidence(EVIDENCE), "genserver-call-self.md")
    assert e.evidence.supports == ("call:self", "exception:calling_self", "exit:abnormal")
    assert e.evidence.primary == ("call:self",) and e.evidence.contradicts == ("call:cycle",)
    assert e.evidence.record == ("calls", "callbacks") and e.evidence.checkable
    assert e.evidence.misleads.startswith("a call through")
    # primary defaults to every supporting token
    no_primary = parse_entry(_with_evidence(EVIDENCE.replace('primary = ["call:self"]\n', "")), "genserver-call-self.md")
    assert no_primary.evidence.primary == no_primary.evidence.supports
    none = parse_entry(_with_evidence('[evidence]\nnone = "only a crash dump shows it"'), "genserver-call-self.md")
    assert not none.evidence.checkable and none.evidence.none == "only a crash dump shows it"
    # the signature is part of the content hash
    assert e.content_hash != no_primary.content_hash


@pytest.mark.parametrize(
    ("block", "message"),
    [
        (EVIDENCE.replace("misleads =", "severity = 3\nmisleads ="), "unknown [evidence] keys ['severity']"),
        (EVIDENCE.replace('"exception:calling_self"', '"exception:caling_self"'), "did you mean exception:calling_self"),
        (EVIDENCE.replace('contradicts = ["call:cycle"]', 'contradicts = ["Call Cycle"]'), "not a signature token"),
        (EVIDENCE.replace('primary = ["call:self"]', 'primary = ["call:cycle"]'), "primary tokens ['call:cycle'] are not in `supports`"),
        (EVIDENCE.replace('contradicts = ["call:cycle"]', 'contradicts = ["exit:abnormal"]'), "['exit:abnormal'] both support and contradict"),
        (EVIDENCE.replace('record = ["calls", "callbacks"]', 'record = ["calls", "heap_dump"]'), "record needs ['heap_dump'] unknown"),
        (EVIDENCE.replace("[evidence]\n", '[evidence]\nnone = "cannot be seen"\n'), "`none` (cannot be seen in a recording) goes alone"),
        ('[evidence]\nnone = "  "', "`none` must be a non-empty string"),
        (EVIDENCE.replace('supports = ["call:self", "exception:calling_self", "exit:abnormal"]', "supports = []")
         .replace('primary = ["call:self"]\n', ""), "needs `supports`"),
        (EVIDENCE.replace('record = ["calls", "callbacks"]', 'record = "calls"'), "`record` must be a list"),
        (EVIDENCE.replace("[evidence]\n", "").replace("supports =", "evidence = 1\nsupports =", 1), "must be a TOML table"),
    ],
)
def test_malformed_evidence_is_rejected_naming_the_file(block, message):
    text = _with_evidence(block)
    if "evidence = 1" in block:   # a plain key instead of a table
        text = _with_evidence("").replace("related = [", "evidence = 1\nrelated = [")
    with pytest.raises(EntryError, match=re.escape(message)) as err:
        parse_entry(text, "kb/genserver-call-self.md")
    assert str(err.value).startswith("kb/genserver-call-self.md")
