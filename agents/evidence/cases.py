"""The cases a symptom names: the clauses that say something went wrong and those that say it
went right, the entities each names (people, places, identifiers, times, numbers of three digits
or more), and whether a recorded term mentions one of them.

"Customers in the Ain (01200 Bellegarde) get their wine late … Paris and Lyon orders arrive on
time": a clause is *passing* when it says "fine", "correct", "right(ly)", "on time", "as before",
"works", "did get", "went through", "succeeded" …, else *failing*. Entities are matched case- and accent-insensitively on word
boundaries; a ``Date`` also answers to its weekday and month in words ("Saturday", "December").
Used by :mod:`.diag_flow` and :mod:`.altered`; bounded and total.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from collections.abc import Iterator
from typing import Any

from elixir_scope.instrument.etf import Atom
from elixir_scope.instrument.etf.terms import Charlist, FrozenList, FrozenMap

from .valuematch import TRUNCATED, calendar_text

MAX_ENTITIES = 24
MAX_LEAVES = 600
MAX_TEXT = 4000

# a clause that says its cases are right
# ("… did get a charger", "… went through", "… rightly left out": the emphatic "did" of a contrast)
_PASSING = re.compile(
    r"\b(?:fine|correct(?:ly)?|right(?:ly)?|normal(?:ly)?|on time|as (?:before|expected|usual|they should|it should)"
    r"|no difference|unaffected|not affected|(?:still )?works?|working|worked|okay|ok|as normal|properly"
    r"|did (?:get|arrive|go through|come through|receive|reach|pass)|(?<!never )(?<!not )(?:succeed(?:ed|s)?|(?:went|got) through)"
    r"|(?:is|are|was|were) (?:all )?(?:good|in order))\b", re.I)
_CLAUSE_SPLIT = re.compile(r"(?<=[.!?;:])\s+|\s+[—–]\s+|,\s*(?=(?:and|but|while|whereas|although|though|yet)\b)"
                           r"|\b(?:but|although|whereas|while|though)\b", re.I)
# a name (capitalised), a time of day, an identifier with digits, a number of three digits or more
_ENTITY = re.compile(r"(?<![\w:-])(?:[A-ZÀ-ÖØ-ÞĀ-ſ][\w'’.-]*[\w](?:\s+[A-ZÀ-ÖØ-ÞĀ-ſ][\w'’.-]*[\w])*|\d{1,2}:\d\d|[A-Za-z]+[-_]?\d[\w-]*|\d+[-_][A-Za-z][\w-]*"
                     r"|\d{3,})(?![\w:-])")
COMMON = frozenset("""
    the a an and or but our we us it its they them their this that these those there here he she his her him you
    your i my me yes no not nobody everybody everyone someone some all any every each one two three four five six
    seven eight nine ten when what which who why how if then than so also only just even still since after before
    in on at of to for from by with without into onto over under about as is are was were be been has have had
    do does did done can could will would should may might must shall error errors ok api app apps http https
    customers customer users user guests guest people staff team teams nothing something everything since
    other others smaller larger bigger normal most many few both new old single another
    monday's tuesday's wednesday's thursday's friday's saturday's sunday's it's that's there's
""".split())


def fold(text: str) -> str:
    """Lower case without accents, in one normal form (NFD ``u`` + U+0308 and NFC ``ü`` fold alike)."""
    return "".join(ch for ch in unicodedata.normalize("NFKD", text) if not unicodedata.combining(ch)).casefold()


@dataclass(frozen=True)
class Entities:
    """The entities of the symptom's failing clauses and of its passing clauses (folded)."""

    failing: tuple[str, ...]
    passing: tuple[str, ...]


def clauses(symptom: str) -> tuple[list[str], list[str]]:
    """The symptom's clauses that say something went wrong, and those that say it went right
    ("… arrive on time", "… was right", "… work as before")."""
    failing: list[str] = []
    passing: list[str] = []
    for clause in _CLAUSE_SPLIT.split((symptom or "")[:MAX_TEXT]):
        if clause and clause.strip():
            (passing if _PASSING.search(clause) else failing).append(clause)
    return failing, passing


def symptom_entities(symptom: str) -> Entities:
    """Names, identifiers and numbers of the clauses that say something went wrong, and of those
    that say it went right."""
    failing: list[str] = []
    passing: list[str] = []
    bad, good = clauses(symptom)
    for clause, into in [(c, failing) for c in bad] + [(c, passing) for c in good]:
        for m in _ENTITY.finditer(clause):
            words = [fold(re.sub(r"['’]s$", "", w.strip(".'’"))) for w in m.group(0).split()]
            while words and words[0] in COMMON:   # a sentence's first word is capitalised too
                words.pop(0)
            tok = " ".join(words)
            if len(tok) < 2 or tok in COMMON:
                continue
            if tok not in into:
                into.append(tok)
    both = set(failing) & set(passing)
    return Entities(tuple(t for t in failing if t not in both)[:MAX_ENTITIES],
                    tuple(t for t in passing if t not in both)[:MAX_ENTITIES])


def term_leaves(term: Any, *, atom_keys: bool = False) -> Iterator[Any]:
    """The leaves of ``term`` a person could name, bounded (:data:`MAX_LEAVES` nodes): texts (binaries
    and charlists, decoded), atoms, integers, and a ``Date`` / ``Time`` / date-time struct as its ISO
    text. A map's atom keys (field names) only with ``atom_keys``; a struct's name never."""
    stack, n = [term], 0
    while stack and n < MAX_LEAVES:
        t = stack.pop()
        n += 1
        if isinstance(t, bytes):
            yield t[:400].decode("utf-8", "replace")
        elif isinstance(t, Charlist):
            yield "".join(chr(c) for c in list(t)[:400] if isinstance(c, int) and 0 <= c < 0x110000)
        elif isinstance(t, (Atom, int)) and not isinstance(t, bool):
            yield t
        elif isinstance(t, (list, FrozenList, tuple)):
            stack.extend(reversed(list(t)[:MAX_LEAVES]))
        elif isinstance(t, (dict, FrozenMap)):
            date = calendar_text(t) if isinstance(t, dict) else None
            if date:
                yield date
                continue
            for k, v in list(t.items())[:MAX_LEAVES]:
                if not (isinstance(k, Atom) and k.name == "__struct__"):
                    stack.append(v)
                if atom_keys or not isinstance(k, Atom):
                    stack.append(k)


def words_of(term: Any) -> str:
    """The texts, atom values (not a map's keys or a struct's name) and integers of ``term``,
    with a date's weekday and month in words, folded and joined (bounded)."""
    out: list[str] = []
    for leaf in term_leaves(term):
        if isinstance(leaf, str):
            out.append(leaf)
            out.extend(_calendar_words(leaf))
        elif isinstance(leaf, Atom):
            if leaf.name not in ("nil", "true", "false", TRUNCATED) and not leaf.name.startswith("Elixir."):
                out.append(leaf.name)
        else:
            out.append(str(leaf))
    return fold(" \x00 ".join(out))


_ISO = re.compile(r"^(\d{4})-(\d{2})-(\d{2})")


def _calendar_words(text: str) -> list[str]:
    """A date's weekday and month in words ("saturday", "december"): how a user names it."""
    import datetime

    m = _ISO.match(text)
    if not m:
        return []
    try:
        d = datetime.date(int(m.group(1)), int(m.group(2)), int(m.group(3)))
    except ValueError:
        return []
    day = d.strftime("%A").lower()
    return [day, day + "s", d.strftime("%B").lower()]


def mentions(words: str, tokens: tuple[str, ...]) -> bool:
    return any(re.search(r"(?<![a-z0-9])" + re.escape(t).replace(r"\ ", r"[\s_.-]+") + r"(?![a-z0-9])", words)
               for t in tokens)
