"""Well-known code pitfalls (knowledge/source/pitfalls) that the recording shows RAN.

The source catalogue finds code that matches a documented pitfall — a `Process.send_after`
reference cancelled with `:timer.cancel/1`, defaults merged over the caller's options, a
`:set` table read as a bag. That alone is static knowledge: the code may never run, or run
harmlessly. A ``code_pitfall`` fact is made only when the recording holds a call of the function
the pitfall sits in (or of a function it names as its path: the reader of a compile-time
attribute, the caller of a helper returning a stream), and its confidence says how well the
pitfall's documented run-time behaviour fits what the symptom describes:

- the symptom's claims (``hypotheses.claims``: wrong values, something never happens, a crash,
  a rate…) against the claims the pitfall is known to show;
- the words a user reporting the pitfall's effect tends to use (the pitfall's ``cues``);
- the similarity of the symptom to the pitfall's description (the knowledge base's sentence
  encoder, when it is available);
- words of the symptom in the function's name or the offending code.

A fitting pitfall that ran outranks vague run-time guesses (a hot callback, a lost cast, a
growing state) but not a crash with its stack; one that fits nothing stays below the verdict bar.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from elixir_scope.knowledge.source.pitfalls import CATALOGUE, PitfallHit

from ..findings import Culprit, Finding, Location
from ..view import Call, RecordingView, mod_name
from .book import FactBook
from .valuematch import digest
from elixir_scope.instrument.etf import Atom
from elixir_scope.instrument.etf.terms import Charlist, FrozenList, FrozenMap

#: (symptom, texts) -> cosine similarities in [−1, 1], one per text
Similarity = Callable[[str, Sequence[str]], Sequence[float]]

BASE, CLAIM_FIT, EXTRA_CLAIM, CUE, MAX_CUES, SIM_WEIGHT, WORD_FIT = 0.40, 0.15, 0.04, 0.10, 2, 0.20, 0.05
UNRELATED = 0.3      # confidence of a pitfall that ran but fits nothing the symptom says
_FUN = re.compile(r"^-(.+)/(\d+)-fun-\d+-$")


def _ran(view: RecordingView, hit: PitfallHit) -> list[Call]:
    """The recorded calls of the functions the hit names (anonymous functions defined in one
    count for it)."""
    want = set(hit.ran_in)
    out = []
    for c in view.calls:
        mod = mod_name(c.module)
        fun, arity = c.function, c.arity
        m = _FUN.match(fun)
        if m:
            fun, arity = m.group(1), int(m.group(2))
        if f"{mod}.{fun}/{arity}" in want:
            out.append(c)
    return out


def _words(text: str) -> set[str]:
    out = set()
    for w in re.findall(r"[A-Za-z][A-Za-z0-9_]{3,}", text):
        for part in re.split(r"_|(?<=[a-z])(?=[A-Z])", w):
            if len(part) >= 4:
                out.add(part.lower())
    return out


STOP = frozenset({"with", "that", "this", "from", "when", "then", "have", "were", "they", "them", "their",
                  "what", "after", "into", "only", "still", "none", "none", "every", "some", "should", "does"})


def fit(symptom: str, hit: PitfallHit, sim: float | None) -> tuple[float, list[str]]:
    """(confidence, reasons) of a pitfall that ran, given the symptom."""
    from ..hypotheses import claims

    p = CATALOGUE[hit.pitfall]
    shared = [c for c in claims(symptom) if c in p.shows]
    cues = sorted({m.group(0).lower() for m in re.finditer(p.cues, symptom, re.I)})
    why = []
    conf = BASE
    if shared:
        conf += CLAIM_FIT + EXTRA_CLAIM * min(len(shared) - 1, 2)
        why.append("the symptom says " + ", ".join(shared) + ", which this pitfall shows")
    if cues:
        conf += CUE * min(len(cues), MAX_CUES)
        why.append("the symptom speaks of " + ", ".join(repr(c) for c in cues[:4]) + " as this pitfall's effects do")
    if sim is not None:
        conf += SIM_WEIGHT * min(max((sim - 0.1) / 0.3, 0.0), 1.0)
        why.append(f"the symptom reads like the pitfall's description (similarity {sim:.2f})")
    common = (_words(symptom) - STOP) & (_words(hit.code) | _words(hit.function or "") | _words(hit.module))
    if common:
        conf += WORD_FIT
        why.append("the symptom names " + ", ".join(sorted(common)[:4]))
    if not shared and not cues and (sim is None or sim < 0.2):
        return min(conf, UNRELATED), ["nothing the symptom says fits this pitfall"]
    return round(min(conf, 0.95), 4), why


def code_pitfalls(view: RecordingView, book: FactBook, hits: Sequence[PitfallHit], symptom: str,
                  similarity: Similarity | None = None) -> None:
    ran = [(h, calls) for h in hits if h.pitfall in CATALOGUE for calls in [_ran(view, h)] if calls]
    if not ran:
        return
    sims: Sequence[float | None] = [None] * len(ran)
    if similarity is not None and symptom.strip():
        texts = [CATALOGUE[h.pitfall].title + ". " + CATALOGUE[h.pitfall].symptoms for h, _ in ran]
        sims = list(similarity(symptom, texts))
    for (hit, calls), sim in zip(ran, sims):
        p = CATALOGUE[hit.pitfall]
        conf, why = fit(symptom, hit, sim)
        harmless = _harmless(book, hit, calls) or _other_type(hit, calls)
        if harmless and harmless.startswith(OTHER_TYPE):
            conf, why = min(conf, UNRELATED), [harmless]
        first = calls[0]
        where = f"{hit.file}:{hit.line}"
        book.add(Finding(
            detector="code_pitfall",
            title=f"{hit.spec} ran code with a known pitfall: {p.title}",
            summary=(f"{hit.spec} ({where}) has `{hit.code}`: {hit.detail}. {p.why[0].upper() + p.why[1:]}. "
                     f"It ran {len(calls)} time(s) in the recording. Documented in {p.source}. "
                     + ("; ".join(why) + "." if why else "")),
            severity="high" if conf >= 0.6 else "low", confidence=conf,
            culprit=Culprit(module=hit.module, function=hit.function, detail=f"{p.title}: {hit.code}"[:300],
                            location=Location(file=hit.file, line=hit.line, function=hit.function)),
            evidence=[view.call_evidence(c, f"{c.mfa} ran (the code at {where})") for c in calls[:3]],
            signatures=[f"code:pitfall:{p.family}"],
            fix_hint=p.fix, weak=harmless),
            pid=first.pid, ts=first.ts, pitfall=hit.pitfall)


def _harmless(book: FactBook, hit: PitfallHit, calls: list[Call]) -> str | None:
    """Why the pitfall ran without its effect, or None: it names the run-time fact that shows its
    effect (``shown_by``), its functions ran with their arguments and results recorded, and no such
    fact names any of them — the code ran, on input that does not trigger it."""
    kind = CATALOGUE[hit.pitfall].shown_by
    whole = [c for c in calls if c.outcome == "return" and not digest((tuple(c.args), c.value)).cut]
    if kind is None or not whole:
        return None
    where = set(hit.ran_in) | ({hit.spec} if hit.function else set())
    if any(f.culprit.where in where for f in book.of_kind(kind)):
        return None
    return (f"{hit.spec} ran {len(whole)} time(s) with its arguments and results recorded, and none shows the "
            f"pitfall's effect ({kind}): the code ran on input that does not trigger it")


OTHER_TYPE = "the recorded values of"

#: pitfalls about ordering a field by term order, and the values that make them bite: dates as
#: ``Date``/``DateTime``/… structs (maps), versions as text
_BITES = {
    "date_structs_term_order": (lambda x: isinstance(x, (dict, FrozenMap)), "date or time structs"),
    "version_strings_compared": (lambda x: isinstance(x, (bytes, Charlist)), "strings"),
}
_FIELD = re.compile(r"&1\.(\w+)|\.(\w+)\s*end\b|fn\s+\w+\s*->\s*\w+\.(\w+)")
MAX_SEEN = 200   # values of the field looked at


def _field_values(calls: list[Call], field: str) -> list:
    """The values the recorded arguments of ``calls`` hold under the key ``field`` of a map or
    struct, bounded (a walk of at most 4,000 terms a call)."""
    key, out = Atom(field), []
    for c in calls:
        stack, walked = [tuple(c.args)], 0
        while stack and walked < 4000 and len(out) < MAX_SEEN:
            t = stack.pop()
            walked += 1
            if isinstance(t, (dict, FrozenMap)):
                if key in t:
                    out.append(t[key])
                stack.extend(t.values())
            elif isinstance(t, (list, tuple, FrozenList)) and not isinstance(t, Atom):
                stack.extend(t)
        if len(out) >= MAX_SEEN:
            break
    return out


def _other_type(hit: PitfallHit, calls: list[Call]) -> str | None:
    """Why an ordering pitfall cannot bite, or None: the field it orders by holds, in every value
    the recorded arguments of its function show, another type than the one term order gets wrong
    (minutes as integers, not ``Date`` structs; versions as tuples, not text)."""
    bites = _BITES.get(hit.pitfall)
    m = _FIELD.search(hit.code or "")
    if bites is None or m is None:
        return None
    field = next(g for g in m.groups() if g)
    seen = _field_values(calls, field)
    if not seen or any(bites[0](x) or x is None or (isinstance(x, Atom) and x.name == "nil") for x in seen):
        return None
    kinds = sorted({type(x).__name__.replace("bytes", "text").replace("int", "integer") for x in seen})
    return (f"{OTHER_TYPE} {field} ({len(seen)} in the arguments of its calls) are {', '.join(kinds)}, not "
            f"{bites[1]}: term order orders them rightly, so the pitfall cannot bite here")


def encoder_similarity() -> Similarity | None:
    """The knowledge base's sentence encoder as a similarity, or None when the model is not
    available (the claims and words still count)."""
    try:
        from elixir_scope.knowledge.embedding import shared_encoder

        enc = shared_encoder()
    except Exception:
        return None

    def sim(symptom: str, texts: Sequence[str]) -> list[float]:
        vecs = enc.encode([symptom, *texts])
        return [float(vecs[0] @ v) for v in vecs[1:]]

    return sim


@dataclass(frozen=True)
class CodeEvidence:
    """What the pitfall step needs besides the recording: the hits of the application's
    sources, the symptom, and a similarity (None: claims and words only)."""

    hits: tuple[PitfallHit, ...]
    symptom: str
    similarity: Similarity | None = None


def code_evidence(source_path: str, symptom: str, *, include_tests: bool = False,
                  similarity: Similarity | None = None, scans: dict | None = None) -> CodeEvidence:
    """The catalogue's pitfalls in the sources (raises SourcePathError for a missing path).
    ``scans`` keeps each scan by (path, include_tests), so that the later rounds of one
    diagnosis do not parse the sources again."""
    from elixir_scope.knowledge.source.pitfalls import scan_tree

    key = (source_path, include_tests)
    hits = scans.get(key) if scans is not None else None
    if hits is None:
        hits = tuple(scan_tree(source_path, include_tests=include_tests).hits)
        if scans is not None:
            scans[key] = hits
    return CodeEvidence(hits, symptom, similarity)
