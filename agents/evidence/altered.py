"""A value the symptom names, passed into a function and handed on with information lost.

The user names the cases that go wrong by the values they typed or read — a postcode ``01200``,
a name ``Inês Gonçalves``, a reference ``PO-000417``. When one of those values, exactly as
written, goes into an application function and what comes out holds it only in a lossy form —
its leading zeros gone (read as a number), its accents stripped, cut short — the function
threw away something the cases that go wrong depend on. Case folding and trimming are not
losses: a key made canonical is what a correct program does.

| kind | what | culprit |
| --- | --- | --- |
| ``value_altered`` | the first (deepest) application call given a value of the symptom's failing clauses as written, whose result holds it only with its leading zeros dropped, its accents stripped or cut to a prefix — while the result does not hold it as written | that function, and the value |

The images are matched in the texts and numbers of the result (bounded walk); a call whose
terms the agent cut proves nothing.
"""

from __future__ import annotations

import re
import unicodedata
from itertools import islice
from typing import Any

from elixir_scope.instrument.etf import Atom

from ..findings import Finding
from ..view import Call, RecordingView, fmt
from .book import FactBook
from .cases import term_leaves
from .common import app_returns, culprit_of
from .valuematch import TRUNCATED

MAX_CALLS = 20_000
MAX_FACTS = 2


def _leaves(term: Any) -> tuple[list[str], set[int], bool]:
    """Texts and integers of ``term`` (bounded), and whether the agent cut it."""
    texts: list[str] = []
    ints: set[int] = set()
    cut = False
    for leaf in term_leaves(term, atom_keys=True):
        if isinstance(leaf, str):
            texts.append(leaf)
        elif isinstance(leaf, Atom):
            cut = cut or leaf.name == TRUNCATED
        else:
            ints.add(leaf)
    return texts, ints, cut


def _has(texts: list[str], value: str) -> bool:
    rx = re.compile(r"(?<![\w])" + re.escape(value) + r"(?![\w])")
    return any(rx.search(t) for t in texts)


def _stripped(text: str) -> str:
    return "".join(ch for ch in unicodedata.normalize("NFD", text) if not unicodedata.combining(ch))


def loss(value: str, texts: list[str], ints: set[int]) -> str | None:
    """How ``value`` survives in a result that does not hold it as written: ``None`` when it is
    not there at all or only canonicalised (case, spacing, Unicode form)."""
    nfc = unicodedata.normalize("NFC", value)
    if any(_has(texts, v) for v in {value, nfc, nfc.lower(), nfc.upper(), unicodedata.normalize("NFD", value)}):
        return None   # as written, or only made canonical
    if re.fullmatch(r"0\d{2,}", value) and int(value) in ints:
        return f"its leading zeros dropped ({int(value)})"
    plain = _stripped(nfc)
    if plain != nfc and any(_has(texts, v) for v in (plain, plain.lower(), plain.upper())):
        return f"its accents stripped ({plain!r})"
    if len(value) >= 6:
        for t in texts:
            if 3 <= len(t) < len(value) and value.startswith(t) and not value[len(t)].isspace():
                return f"cut short ({t!r})"
    return None


_UP = "A-ZÀ-ÖØ-ÞĀ-ſ"
_RAW = re.compile(rf"(?<![\w-])(0\d{{2,}}|[{_UP}][\w'’.-]*\w(?:\s+[{_UP}][\w'’.-]*\w)*)(?![\w-])")


def failing_values(failing_clauses: list[str], common: frozenset[str] = frozenset()) -> list[str]:
    """The values the failing clauses name as written: numbers with leading zeros, and names with
    letters outside ASCII or of two words and more (a person, a place), bounded. ``common``:
    (lower-case) words that start a sentence rather than a name."""
    out: list[str] = []
    for clause in failing_clauses:
        for m in _RAW.finditer(clause):
            words = m.group(1).split()
            while words and words[0].lower() in common:
                words.pop(0)
            v = " ".join(words)
            if v and (v[0] == "0" or ((not v.isascii() or " " in v) and len(v) >= 4)) and v not in out:
                out.append(v)
    return out[:24]


def values_altered(view: RecordingView, book: FactBook, values: list[str]) -> None:
    if not values:
        return
    hits: list[tuple[Call, str, str]] = []
    for c in islice(app_returns(view), MAX_CALLS):
        a_texts, _, a_cut = _leaves(tuple(c.args))
        given = [v for v in values if _has(a_texts, v)]
        if not given or a_cut:
            continue
        r_texts, r_ints, r_cut = _leaves(c.value)
        if r_cut:
            continue
        for v in given:
            how = loss(v, r_texts, r_ints)
            if how is not None:
                hits.append((c, v, how))
                break
    inner = {id(c) for c, _, _ in hits}
    outer = set()
    for c, _, _ in hits:
        p = c.parent
        while p is not None:
            if id(p) in inner:
                outer.add(id(p))
            p = p.parent
    by_function: dict[tuple[str, str, int], list[tuple[Call, str, str]]] = {}
    for c, v, how in hits:
        if id(c) not in outer:
            by_function.setdefault((c.module, c.function, c.arity), []).append((c, v, how))
    for same in list(by_function.values())[:MAX_FACTS]:
        c, v, how = same[0]
        names = list(dict.fromkeys(x for _, x, _ in same))
        book.add(Finding(
            detector="value_altered",
            title=f"{c.mfa} was given {v!r} and handed it on with {how}",
            summary=(f"The symptom names {', '.join(repr(x) for x in names[:4])} among the cases that go wrong. "
                     f"{c.mfa}({fmt(c.args, 80)}) received {v!r} as written and returned {fmt(c.value, 80)}, which holds "
                     f"it only with {how} ({len(same)} such call(s)): whatever uses the result no longer has the value "
                     "the user gave."),
            severity="medium", confidence=0.55, culprit=culprit_of(view, c, v),
            evidence=[view.call_evidence(x, f"{x.mfa}({fmt(x.args, 60)}) — given {xv!r}") for x, xv, _ in same[:2]]
            + [view.end_evidence(c, f"returned {fmt(c.value, 80)}")],
            signatures=["data:value_altered"],
            weak="a function may convert a value on purpose: this says where the user's value stopped being the one they gave",
            fix_hint=(f"Check how {c.mfa} converts {v!r}: keep identifiers as text (leading zeros are part of "
                      "them), keep the letters the user typed, do not cut it short.")),
            pid=c.pid, ts=c.ts, value=v)
