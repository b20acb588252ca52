"""Knowledge-base entries: loading and validating the Markdown files in `knowledge/kb/`.

Each entry is one human-editable Markdown file, named after its id, with a TOML front
matter between `+++` lines (TOML because the standard library reads it — no YAML dependency):

    +++
    id = "genserver-call-cycle"
    title = "Two GenServers calling each other deadlock until a call times out"
    category = "deadlock"
    tags = ["genserver", "call", "deadlock"]
    signatures = ["call:cycle", "exception:timeout:GenServer.call"]
    related = ["genserver-call-timeout"]          # optional

    [evidence]                                    # the evidence signature (see below)
    supports = ["call:cycle", "call:blocked_waiting"]
    contradicts = ["callback:slow"]
    record = ["calls", "messages"]
    misleads = "a slow callback that calls another server looks the same until the second call returns"
    +++

    One paragraph: what goes wrong and why.

    ## Symptoms
    - one bullet per symptom, in the words an operator would use

    ## Trace signature
    Which ElixirScope events and patterns reveal it.

    ## Fix
    What to change.

    ## Example
    ```elixir
    ...
    ```

The optional ``[evidence]`` table is the entry's **evidence signature**, in the shape of a
Sigma rule: what in a recording supports the pattern (``supports``: fact tokens — a fact of the
diagnosis's evidence layer that carries one of them supports it), what argues against it
(``contradicts``), which of the supporting tokens must be present for the pattern to be a
candidate at all (``primary``, default: all of ``supports``), what to record to tell it apart
(``record``: capture needs, see :data:`RECORD_NEEDS`) and how it is known to mislead
(``misleads``). An entry whose failure cannot be seen in a recording says why instead:
``[evidence] none = "..."``. Every entry has one or the other.

Everything is checked once, here, and turned into frozen `Entry` objects; an invalid file
raises `EntryError` naming the file and the field. `signatures` must use the vocabulary in
`signatures.py`. `Entry.content_hash` covers every field, so the index knows exactly which
entries changed.
"""

from __future__ import annotations

import hashlib
import json
import re
import tomllib
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Iterator, Mapping

from .errors import EntryError, SignatureError
from .signatures import check_tokens

ID_RE = re.compile(r"^[a-z0-9]+(?:-[a-z0-9]+)*$")

CATEGORIES: Mapping[str, str] = {
    "deadlock": "processes waiting on each other",
    "overload": "more work arrives than a process or pool can serve",
    "latency": "slow paths that block callers",
    "crash": "exceptions and exits and what caused them",
    "supervision": "restart strategies, intensity, start order, shutdown",
    "state": "state history: values written by one message that break a later one",
    "ets": "ETS races, ownership and access patterns",
    "process-lifecycle": "process leaks, orphans, spawning patterns",
    "links-monitors": "links, monitors and trapping exits",
    "registry-pubsub": "names, Registry, :pg and Phoenix.PubSub topics",
    "memory": "binaries, heaps, large messages, ETS memory",
    "vm-limits": "atoms, persistent_term, reductions, code loading",
    "tasks": "Task, Task.Supervisor and async pitfalls",
    "gen_statem": "gen_statem state machines",
    "liveview": "Phoenix LiveView lifecycle",
    "ecto": "Ecto and DBConnection pools",
    "distribution": "clusters, partitions, remote calls",
    "logging": "Logger and log volume",
    "timers": "timers and timeouts",
    "data": "values that go wrong without an error: arithmetic, conversions, lost units",
}

# What a signature can ask the capture to record (agents/planner.py turns these into a plan).
RECORD_NEEDS: Mapping[str, str] = {
    "calls": "calls with returns and exceptions of the application's functions",
    "callbacks": "GenServer / gen_statem callbacks with returns (durations, outcomes)",
    "state": "state history of the processes involved (before/after every callback)",
    "messages": "sends and receives of the processes involved",
    "lifecycle": "spawns, exits with reasons, links, restarts",
    "supervision": "supervisor strategies, intensities and children's restart types",
    "samples": "periodic samples: mailboxes, memory, binaries, reductions, process and atom counts",
    "ets": "ETS calls on the application's tables, and table sizes",
    "registry": "Registry / pubsub calls and the registries' live keys",
    "timers": "timer calls (send_after, :timer) and the timer messages they produce",
    "logs": "log events",
}


@dataclass(frozen=True)
class EvidenceSignature:
    """What in a recording supports or contradicts an entry (the entry's ``[evidence]`` table)."""

    supports: tuple[str, ...] = ()
    primary: tuple[str, ...] = ()
    contradicts: tuple[str, ...] = ()
    record: tuple[str, ...] = ()
    misleads: str = ""
    none: str = ""          # why the failure cannot be seen in a recording (then the rest is empty)

    @property
    def checkable(self) -> bool:
        return bool(self.supports)


_EVIDENCE_KEYS = {"supports", "primary", "contradicts", "record", "misleads", "none"}


def _evidence(meta: dict, source: str) -> EvidenceSignature | None:
    raw = meta.get("evidence")
    if raw is None:
        return None
    if not isinstance(raw, dict):
        raise EntryError(f"{source}: `evidence` must be a TOML table ([evidence])")
    unknown = set(raw) - _EVIDENCE_KEYS
    if unknown:
        raise EntryError(f"{source}: unknown [evidence] keys {sorted(unknown)}; expected {sorted(_EVIDENCE_KEYS)}")
    for key in ("misleads", "none"):
        if key in raw and (not isinstance(raw[key], str) or not raw[key].strip()):
            raise EntryError(f"{source}: [evidence] `{key}` must be a non-empty string")
    if "none" in raw:
        if set(raw) - {"none"}:
            raise EntryError(f"{source}: [evidence] `none` (cannot be seen in a recording) goes alone")
        return EvidenceSignature(none=" ".join(raw["none"].split()))
    lists = {}
    for key in ("supports", "primary", "contradicts", "record"):
        value = raw.get(key, [])
        if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
            raise EntryError(f"{source}: [evidence] `{key}` must be a list of non-empty strings")
        lists[key] = tuple(value)
    if not lists["supports"]:
        raise EntryError(f"{source}: [evidence] needs `supports` (or `none = \"why it cannot be seen\"`)")
    try:
        for key in ("supports", "primary", "contradicts"):
            check_tokens(lists[key], where=f"{source} [evidence] {key}")
    except SignatureError as exc:
        raise EntryError(str(exc)) from exc
    stray = [t for t in lists["primary"] if t not in lists["supports"]]
    if stray:
        raise EntryError(f"{source}: [evidence] primary tokens {stray} are not in `supports`")
    both = sorted(set(lists["supports"]) & set(lists["contradicts"]))
    if both:
        raise EntryError(f"{source}: [evidence] tokens {both} both support and contradict")
    bad = [r for r in lists["record"] if r not in RECORD_NEEDS]
    if bad:
        raise EntryError(f"{source}: [evidence] record needs {bad} unknown; expected some of {sorted(RECORD_NEEDS)}")
    return EvidenceSignature(supports=lists["supports"], primary=lists["primary"] or lists["supports"],
                             contradicts=lists["contradicts"], record=lists["record"],
                             misleads=" ".join(str(raw.get("misleads", "")).split()))


_SECTIONS = ("Symptoms", "Trace signature", "Fix", "Example")
_FRONT_RE = re.compile(r"\A\+\+\+\n(.*?)\n\+\+\+\n(.*)\Z", re.S)
_FENCE_RE = re.compile(r"```elixir\n(.*?)```", re.S)


@dataclass(frozen=True)
class Entry:
    """One validated knowledge-base entry."""

    id: str
    title: str
    category: str
    tags: tuple[str, ...]
    signatures: tuple[str, ...]
    related: tuple[str, ...]
    summary: str
    symptoms: tuple[str, ...]
    trace_signature: str
    fix: str
    example: str
    source: str
    evidence: EvidenceSignature | None = None

    @property
    def content_hash(self) -> str:
        """sha256 over every field but `source`: changes exactly when the entry's content does."""
        payload = {k: v for k, v in self.__dict__.items() if k not in ("source", "evidence")}
        if self.evidence is not None:
            payload["evidence"] = self.evidence.__dict__
        return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()

    def search_text(self) -> str:
        """The entry's prose (no code) — what keyword search and the benchmark baseline see."""
        return "\n".join([self.title, " ".join(self.tags), self.summary, *self.symptoms,
                          self.trace_signature, self.fix])


@dataclass(frozen=True)
class KnowledgeBase:
    """All entries, in id order, with lookup by id."""

    entries: tuple[Entry, ...]

    def __post_init__(self) -> None:
        ids = [e.id for e in self.entries]
        dup = {i for i in ids if ids.count(i) > 1}
        if dup:
            raise EntryError(f"duplicate entry ids: {sorted(dup)}")
        known = set(ids)
        for e in self.entries:
            missing = [r for r in e.related if r not in known]
            if missing:
                raise EntryError(f"{e.source}: related ids {missing} do not exist")

    def __len__(self) -> int:
        return len(self.entries)

    def __iter__(self) -> Iterator[Entry]:
        return iter(self.entries)

    def get(self, entry_id: str) -> Entry:
        for e in self.entries:
            if e.id == entry_id:
                return e
        raise KeyError(f"no knowledge-base entry with id {entry_id!r}")

    @property
    def ids(self) -> tuple[str, ...]:
        return tuple(e.id for e in self.entries)

    @classmethod
    def load(cls, directory: Path | None = None) -> "KnowledgeBase":
        """Load every `*.md` entry of `directory` (default: the entries shipped in the package).

        Files whose name starts with `_` or is `README.md` are documentation, not entries."""
        if directory is None:
            root = resources.files("elixir_scope.knowledge") / "kb"
            files = [(p.name, p.read_text(encoding="utf-8")) for p in root.iterdir()
                     if p.name.endswith(".md")]
        else:
            directory = Path(directory)
            if not directory.is_dir():
                raise EntryError(f"knowledge-base directory {directory} does not exist")
            files = [(p.name, p.read_text(encoding="utf-8")) for p in directory.glob("*.md")]
        entries = [parse_entry(text, name) for name, text in sorted(files)
                   if not name.startswith("_") and name != "README.md"]
        if not entries:
            raise EntryError(f"no entries found in {directory or 'the packaged knowledge/kb'}")
        return cls(tuple(entries))


def _sections(body: str, source: str) -> tuple[str, dict[str, str]]:
    parts = re.split(r"^## +(.+?)\s*$", body, flags=re.M)
    summary, found = parts[0].strip(), {}
    for name, text in zip(parts[1::2], parts[2::2]):
        if name not in _SECTIONS:
            raise EntryError(f"{source}: unknown section '## {name}'; expected one of {_SECTIONS}")
        found[name] = text.strip()
    missing = [s for s in _SECTIONS if not found.get(s)]
    if missing:
        raise EntryError(f"{source}: missing or empty sections {missing}")
    if not summary:
        raise EntryError(f"{source}: write a summary paragraph between the front matter and '## Symptoms'")
    return summary, found


def _bullets(text: str) -> tuple[str, ...]:
    """`- ` bullets; an indented line continues the bullet above it (editors wrap lines)."""
    items: list[str] = []
    for line in text.splitlines():
        if line.startswith("- "):
            items.append(line[2:].strip())
        elif items and line.startswith("  ") and line.strip():
            items[-1] += " " + line.strip()
    return tuple(items)


def _str_list(meta: dict, key: str, source: str, *, required: bool = True) -> tuple[str, ...]:
    value = meta.get(key, [] if not required else None)
    if value is None or not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
        raise EntryError(f"{source}: `{key}` must be a list of non-empty strings")
    if required and not value:
        raise EntryError(f"{source}: `{key}` must not be empty")
    return tuple(value)


def parse_entry(text: str, source: str = "<string>") -> Entry:
    """Parse and validate one entry file's text. `source` names it in error messages."""
    m = _FRONT_RE.match(text.replace("\r\n", "\n"))
    if not m:
        raise EntryError(f"{source}: must start with a TOML front matter block between '+++' lines")
    try:
        meta = tomllib.loads(m.group(1))
    except tomllib.TOMLDecodeError as exc:
        raise EntryError(f"{source}: front matter is not valid TOML: {exc}") from exc
    unknown = set(meta) - {"id", "title", "category", "tags", "signatures", "related", "evidence"}
    if unknown:
        raise EntryError(f"{source}: unknown front-matter keys {sorted(unknown)}")
    for key in ("id", "title", "category"):
        if not isinstance(meta.get(key), str) or not meta[key].strip():
            raise EntryError(f"{source}: front matter needs a non-empty string `{key}`")
    entry_id = meta["id"]
    if not ID_RE.match(entry_id):
        raise EntryError(f"{source}: id {entry_id!r} must be kebab-case (a-z, 0-9, '-')")
    stem = Path(source).stem
    if source.endswith(".md") and stem != entry_id:
        raise EntryError(f"{source}: file name must be the id ({entry_id}.md)")
    if meta["category"] not in CATEGORIES:
        raise EntryError(f"{source}: category {meta['category']!r} is not one of {sorted(CATEGORIES)}")
    try:
        signatures = check_tokens(_str_list(meta, "signatures", source), where=source)
    except SignatureError as exc:
        raise EntryError(str(exc)) from exc
    summary, sec = _sections(m.group(2), source)
    symptoms = _bullets(sec["Symptoms"])
    if not symptoms:
        raise EntryError(f"{source}: '## Symptoms' needs at least one '- ' bullet")
    code = _FENCE_RE.search(sec["Example"])
    if not code or not code.group(1).strip():
        raise EntryError(f"{source}: '## Example' needs an ```elixir fenced code block")
    return Entry(
        id=entry_id, title=meta["title"].strip(), category=meta["category"],
        tags=_str_list(meta, "tags", source), signatures=signatures,
        related=_str_list(meta, "related", source, required=False),
        summary=" ".join(summary.split()), symptoms=symptoms,
        trace_signature=sec["Trace signature"], fix=sec["Fix"],
        example=code.group(1).rstrip() + "\n", source=source,
        evidence=_evidence(meta, source),
    )
