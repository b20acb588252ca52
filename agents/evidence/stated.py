"""The concrete values a symptom states, in the user's words: amounts with their currency or
unit, counts ("46 animals", "six lines", "booked: 1"), versions, quoted text, identifiers.

A user who says *what* came out wrong gives the diagnosis something to look for in the
recording (:mod:`.provenance` follows each value to the function that produced it). Each value
carries the role the words around it give it:

- ``seen`` — what came out ("only 17", "shows EUR 249.00", "put back on 2.9.4", "got 95");
- ``expected`` — what should have come out ("published 2.10.1", "instead of 48", "should be 6",
  "spelled correctly");
- ``stated`` — neither is said.

Extraction is bounded (the first :data:`MAX_TEXT` characters, at most :data:`MAX_VALUES`
values) and never fails: text with nothing concrete gives an empty list.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation

MAX_TEXT = 4000
MAX_VALUES = 24

CURRENCIES = ("EUR", "USD", "GBP", "CHF", "JPY", "SEK", "NOK", "DKK", "PLN", "CZK", "AUD", "CAD", "NZD", "INR", "BRL")
_CUR_SIGNS = {"€": "EUR", "$": "USD", "£": "GBP", "¥": "JPY"}
_CUR_WORDS = {"euro": "EUR", "euros": "EUR", "dollar": "USD", "dollars": "USD", "pound": "GBP", "pounds": "GBP",
              "franc": "CHF", "francs": "CHF", "cent": "cent", "cents": "cent", "pence": "cent", "penny": "cent"}
_WORD_NUMBERS = {"one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7, "eight": 8, "nine": 9,
                 "ten": 10, "eleven": 11, "twelve": 12, "twenty": 20, "a dozen": 12, "none": 0, "zero": 0}

# the words just before a value that say it is what came out, or what should have
_SEEN = re.compile(r"(?:\b(?:only|just|shows?|showed|showing|shown|got|gets|finds?|found|had|has|now|back (?:on|to)|came out"
                   r"|comes? out|charg\w*|billed|return\w*|garbled|display\w*|ends? up|instead|actually"
                   r"|lists|listed|prints|printed|asks|asked)\b|(?<!\d):)"
                   r"\s*(?:\w+\s+){0,2}(?:[€$£¥]\s*)?$", re.I)
_EXPECTED = re.compile(r"\b(?:expect\w*|should(?: (?:be|have|say|show))?|instead of|rather than|supposed to"
                       r"|publish\w*|released|added|uploaded|created|configured|set to|(?:upgrad|updat|chang)ed to"
                       r"|correct\w*|right|real|actual|intended|paid|bought|ordered"
                       r"|spelled|written|entered|chose|chosen|selected|not|never|no)\b\s*(?:\w+\s+){0,2}"
                       r"(?:[€$£¥]\s*)?$", re.I)   # "instead of $105.00": the currency sign before the amount
# a display verb, then the thing shown, then the value: "shows the mean heading as 180", "prints a
# closing balance of EUR 1425.77" — the value after "as" / "of" / "at" / ":" is what came out
_SEEN_AS = re.compile(r"\b(?:shows?|showed|showing|shown|display\w*|prints?|printed|reports?|reported|reads?|puts?)\b"
                      r"\s+(?:[\w'’-]+\s+){1,6}?(?:as|of|at|is|reads?|with)\s+(?:[A-Z]{3}\s*|[€$£¥]\s*)?$", re.I)
# a total the program came to: "totals EUR 3.98", "adds up to 41", "comes to 12.50"
_SEEN_TOTAL = re.compile(r"\b(?:totals?|totalled|totaled|total of|adds? up to|comes? to|came to)\s+(?:[A-Z]{3}\s*|[€$£¥]\s*)?$",
                         re.I)
# the words of _EXPECTED that say what was expected whatever follows ("should be 6 instead of …")
_EXPECTING = re.compile(r"\b(?:expect\w*|should(?: (?:be|have|say|show))?|instead of|rather than|supposed to"
                        r"|correct\w*|right|intended|not|never|no)\b\s*(?:\w+\s+){0,2}$", re.I)
# the words of _EXPECTED that name what was given, bought or made ("paid", "ordered", "set to"):
# before a value a correction follows they name what came out
_PAID_LIKE = re.compile(r"\b(?:paid|bought|ordered|added|created|set to|entered|chose|chosen|selected|real|actual)\b"
                        r"\s*(?:\w+\s+){0,2}$", re.I)
# the value a correction follows: "17100 cents instead of 285"
_SEEN_AFTER = re.compile(r"^\s*(?:[a-zA-Z%]+\s+){0,2}?(?:instead of|rather than)\b", re.I)
# a clause that concedes what is right ("although its lines come to 63.50")
_CONCEDED = re.compile(r"\b(?:although|though|whereas|while)\b[^;!?]*$", re.I)
# a value the result fell short of (or went past) is the one that was expected: "one cent short of EUR 3.99"
_SHORT_OF = re.compile(r"\b(?:short of|shy of|off from|away from)\s+(?:[A-Z]{3}\s*|[€$£¥]\s*)?$", re.I)
# units of measure: a number with one of them is a measurement, not a number of things ("180
# degrees" is a heading, an angle, a temperature — any number field, not a list of 180 items);
# durations stay counts (a timeout's "500 ms" is matched as the program holds it, a whole number)
MEASURES = frozenset((
    "degree", "degrees", "deg", "celsius", "fahrenheit", "kelvin", "percent", "per-cent", "points", "point", "pts",
    "metre", "metres", "meter", "meters", "m", "km", "kilometres", "kilometers", "cm", "mm", "mile", "miles",
    "knot", "knots", "kn", "mph", "kph", "kmh", "kg", "kilograms", "kilos", "g", "grams", "gram", "lb", "lbs", "tons",
    "tonnes", "litre", "litres", "liter", "liters", "l", "ml", "kwh", "wh", "kw", "watts", "watt", "w", "volts", "volt",
    "v", "amps", "bar", "hpa", "rpm", "bpm"))
# lengths of time shorter than a day: a count in one of them ("ten minutes", "500 ms") is a
# duration the program holds as a number, never a number of things (a list of ten)
TIME_UNITS = frozenset((
    "ms", "msec", "millisecond", "milliseconds", "s", "sec", "secs", "second", "seconds", "min", "mins", "minute",
    "minutes", "h", "hr", "hrs", "hour", "hours"))
_EXPECTED_AFTER = re.compile(r"^\s*(?:\w+\s+){0,3}?(?:but no|was published|were published|is right|are right"
                             r"|as expected|was expected|expected\b|should)", re.I)

_QUOTED = re.compile(r"""(?:^|[\s(\[{,;:])(['"‘“«])(.{2,80}?)(['"’”»])(?=$|[\s)\]},;:.!?])""")
_VERSION = re.compile(r"(?<![\w.])v?(\d+\.\d+\.\d+(?:-[0-9A-Za-z.]+)?)(?![\w.]*\d)")
_ISO_DATE = re.compile(r"\b(\d{4}-\d{2}-\d{2})\b")
_MONTHS = {m: i + 1 for i, m in enumerate(("january", "february", "march", "april", "may", "june", "july", "august",
                                           "september", "october", "november", "december"))}
_MONTH = r"(Jan(?:uary)?|Feb(?:ruary)?|Mar(?:ch)?|Apr(?:il)?|May|June?|July?|Aug(?:ust)?|Sept?(?:ember)?|Oct(?:ober)?" \
         r"|Nov(?:ember)?|Dec(?:ember)?)\.?"
# a date in words: "15 January 2026", "10 December", "March 3rd, 2027" (a day and a month at least)
_DAY_MONTH = re.compile(r"\b(\d{1,2})(?:st|nd|rd|th)?\s+(?:of\s+)?" + _MONTH + r"(?:,?\s+(\d{4}))?\b", re.I)
_MONTH_DAY = re.compile(r"\b" + _MONTH + r"\s+(\d{1,2})(?:st|nd|rd|th)?\b(?:,?\s+(\d{4})\b)?", re.I)
# a range as a program prints it: "-15..-11", "20..29" (a band, a bucket, a slice)
_RANGE = re.compile(r"(?<![\w.])(-?\d+(?:\.\d+)?\.\.-?\d+(?:\.\d+)?)(?![\w]|\.\d)")
# a time of day: "07:58", "23:41", "7:05 pm" (not a ratio or a score: minutes below 60)
_CLOCK = re.compile(r"(?<![\w:.])([01]?\d|2[0-3]):([0-5]\d)(?::([0-5]\d))?\s*(am|pm|a\.m\.|p\.m\.)?(?![\w:])", re.I)
_PHONE = re.compile(r"(?<![\w])\+\d{1,3}(?:[ -]?\d{1,5}){2,5}(?![\w])")
_IDENT = re.compile(r"(?<![\w-])([A-Za-z]{1,6}[-_]?\d[\w-]*|\d+[-_][A-Za-z][\w-]*)(?![\w-])")
_NUMBER = re.compile(r"(?<![\w.,])([-+]?\d{1,3}(?:[,\u202f\u00a0 ]\d{3})+(?:\.\d+)?|[-+]?\d+(?:[.,]\d+)?)(?![\w]|[.,]\d)"
                     r"(\s*%)?")
_UNIT_AFTER = re.compile(r"^\s*(?:([A-Z]{3})\b|(€|\$|£|¥)|(euros?|dollars?|pounds?|francs?|cents?|pence|penny)\b"
                         r"|([a-zA-Z][a-zA-Z-]{1,20}))")
_UNIT_BEFORE = re.compile(r"(?:\b([A-Z]{3})|(€|\$|£|¥))\s*$")
_NOT_NOUNS = frozenset(("and", "or", "of", "to", "at", "in", "on", "for", "is", "are", "was", "were", "be", "been",
                        "has", "have", "had", "with", "from", "by", "as", "than", "but", "the", "a", "an", "per",
                        "instead", "not", "rather", "when", "while", "although", "though", "whereas", "after", "before", "so", "yet"))
_COUNT_LABEL = re.compile(r"([a-zA-Z][a-zA-Z_-]{1,24})\s*[:=]\s*$")
_WORDNUM = re.compile(r"\b(" + "|".join(sorted(_WORD_NUMBERS, key=len, reverse=True)) + r")\s+([a-zA-Z][a-zA-Z-]{2,20})\b", re.I)


@dataclass(frozen=True)
class StatedValue:
    """One value the symptom states. ``kind``: ``money`` (``number`` in major units, ``unit`` the
    currency or ``cent``), ``number`` (``unit`` the word after it, or ``%``), ``count`` (a number
    of things: ``unit`` names them), ``version``, ``date``, ``text`` (quoted), ``identifier``."""

    text: str
    kind: str
    role: str = "stated"
    number: Decimal | None = None
    unit: str | None = None

    def describe(self) -> str:
        return f"{self.text!r} ({self.kind}{', ' + self.role if self.role != 'stated' else ''})"


def _decimal(raw: str) -> Decimal | None:
    s = raw.replace("\u202f", "").replace("\u00a0", "").replace(" ", "")
    if re.fullmatch(r"[-+]?\d{1,3}(?:,\d{3})+(?:\.\d+)?", s):
        s = s.replace(",", "")
    elif re.fullmatch(r"[-+]?\d+,\d{1,2}", s):
        s = s.replace(",", ".")
    try:
        return Decimal(s)
    except InvalidOperation:
        return None


_WHEN = re.compile(r"(\S+)\s+(?:at|on|since|from|until|till|by|before|after|around)\s+(?:\S+\s+(?:or|and|to|-)\s+)?$",
                   re.I)


def _role(text: str, start: int, end: int, *, when: bool = False) -> str:
    """The role of the value at ``text[start:end]``. ``when``: a date or a time of day, which after
    "at" / "on" / "since" … says when something happened ("at 07:58 it lists …") — context, not what
    came out — unless the word before is a verb of what came out ("charged on 10 January")."""
    before = text[max(0, start - 60):start]
    if when:
        m = _WHEN.search(before)
        if m and not _SEEN.search(m.group(1).rstrip(":;,")):
            return "stated"
    # the clause the value sits in: a comma, a semicolon or a full stop ends the words that speak of it
    before = re.split(r"[.;!?]\s|,\s(?:but|and|while|whereas)\b", before)[-1]
    after = text[end:end + 60]
    if _SEEN_AFTER.search(after) and _PAID_LIKE.search(before) and not _EXPECTING.search(before):
        # "was paid for 3 h instead of 3.75 h": a verb of what was given or bought, but the value is
        # the one a correction follows — what came out
        return "seen"
    if _EXPECTED.search(before) or _EXPECTED_AFTER.search(after) or _SHORT_OF.search(before):
        # "not" / "never" / "no" before a value say it did not come out: what was expected
        return "expected"
    if _SEEN_TOTAL.search(before) and not _SEEN.search(before) \
            and _CONCEDED.search(re.split(r"[.;!?]\s", text[max(0, start - 160):start])[-1]):
        return "expected"   # "… although its lines come to 63.50": what the parts make, not what came out
    if _SEEN.search(before) or _SEEN_AS.search(before) or _SEEN_TOTAL.search(before) or _SEEN_AFTER.search(after):
        return "seen"
    return "stated"


def _unit(text: str, start: int, end: int) -> tuple[str | None, str | None]:
    """(currency, word) around a number."""
    m = _UNIT_BEFORE.search(text[max(0, start - 6):start])
    if m:
        cur = m.group(1) or _CUR_SIGNS.get(m.group(2) or "")
        if cur in CURRENCIES or m.group(2):
            return cur, None
    m = _UNIT_AFTER.match(text[end:end + 24])
    if m:
        if m.group(1) and m.group(1) in CURRENCIES:
            return m.group(1), None
        if m.group(2):
            return _CUR_SIGNS[m.group(2)], None
        if m.group(3):
            return _CUR_WORDS[m.group(3).lower()], None
        if m.group(4):
            return None, m.group(4).lower()
    return None, None


def _word_date(day: str, month: str, year: str | None) -> str | None:
    """ISO text of a date in words; ``--MM-DD`` (ISO 8601's form without a year) when no year is
    given. ``None`` when it is no date (a 31st of April)."""
    import calendar

    mon = next((n for name, n in _MONTHS.items() if name.startswith(month.lower().rstrip("."))), None)
    d = int(day)
    if mon is None or not 1 <= d <= calendar.monthrange(int(year) if year else 2024, mon)[1]:
        return None
    return f"{year}-{mon:02d}-{d:02d}" if year else f"--{mon:02d}-{d:02d}"


def stated_values(symptom: str) -> list[StatedValue]:
    """The concrete values ``symptom`` states, in order of appearance (bounded, deduplicated)."""
    text = (symptom or "")[:MAX_TEXT]
    taken: list[tuple[int, int]] = []
    found: list[tuple[int, StatedValue]] = []

    def free(a: int, b: int) -> bool:
        return all(b <= x or a >= y for x, y in taken)

    def add(a: int, b: int, value: StatedValue) -> None:
        taken.append((a, b))
        found.append((a, value))

    for m in _QUOTED.finditer(text):
        inner = m.group(2).strip()
        a, b = m.start(2), m.end(2)
        if len(inner) >= 3 and free(a, b):
            add(a - 1, b + 1, StatedValue(inner, "text", _role(text, a - 1, b + 1)))
    for m in _ISO_DATE.finditer(text):
        if free(m.start(), m.end()):
            add(m.start(), m.end(), StatedValue(m.group(1), "date", _role(text, m.start(), m.end())))
    for m in _RANGE.finditer(text):
        if free(m.start(), m.end()):
            add(m.start(), m.end(), StatedValue(m.group(1), "text", _role(text, m.start(), m.end())))
    for rx, day_at, month_at in ((_DAY_MONTH, 1, 2), (_MONTH_DAY, 2, 1)):
        for m in rx.finditer(text):
            iso = _word_date(m.group(day_at), m.group(month_at), m.group(3))
            if iso and free(m.start(), m.end()):
                add(m.start(), m.end(), StatedValue(iso, "date", _role(text, m.start(), m.end(), when=True)))
    for m in _CLOCK.finditer(text):
        hour, suffix = int(m.group(1)), (m.group(4) or "").lower().replace(".", "")
        if suffix and not 1 <= hour <= 12:
            continue
        hour = hour % 12 + (12 if suffix == "pm" else 0) if suffix else hour
        if free(m.start(), m.end()):
            add(m.start(), m.end(), StatedValue(f"{hour:02d}:{m.group(2)}", "time",
                                                          _role(text, m.start(), m.end(), when=True)))
    for m in _VERSION.finditer(text):
        if free(m.start(), m.end()):
            add(m.start(), m.end(), StatedValue(m.group(1), "version", _role(text, m.start(), m.end())))
    for m in _PHONE.finditer(text):
        if free(m.start(), m.end()):
            add(m.start(), m.end(), StatedValue(m.group(0), "identifier", _role(text, m.start(), m.end())))
    for m in _IDENT.finditer(text):
        tok = m.group(1)
        if free(m.start(), m.end()) and re.search(r"[A-Za-z]", tok) and re.search(r"\d", tok) \
                and (len(tok) >= 4 or re.fullmatch(r"[A-Za-z]{1,3}[-_]\d+", tok)) \
                and not re.fullmatch(r"\d+(?:st|nd|rd|th|s|ms|h|am|pm|kb|mb|gb|x)", tok, re.I):
            add(m.start(), m.end(), StatedValue(tok, "identifier", _role(text, m.start(), m.end())))
    for m in _NUMBER.finditer(text):
        a, b = m.start(1), m.end()
        if not free(a, b):
            continue
        num = _decimal(m.group(1))
        if num is None:
            continue
        role = _role(text, a, b)
        if m.group(2):
            add(a, b, StatedValue(m.group(0).strip(), "number", role, num, "%"))
            continue
        cur, word = _unit(text, a, m.end(1))
        label = _COUNT_LABEL.search(text[max(0, a - 30):a])
        if cur:
            major = num / 100 if cur == "cent" else num
            add(a, b, StatedValue(m.group(0).strip(), "money", role, major, cur))
        elif label and num == num.to_integral_value() and "." not in m.group(1):
            add(a, b, StatedValue(f"{label.group(1).strip()}: {m.group(1)}", "count", role, num,
                                  label.group(1).strip().lower()))
        elif word and num == num.to_integral_value() and "." not in m.group(1) and word not in _NOT_NOUNS \
                and word not in MEASURES:   # a count is written without decimals: "420.00" is an amount
            add(a, b, StatedValue(f"{m.group(1)} {word}", "count", role, num, word))
        else:
            add(a, b, StatedValue(m.group(1), "number", role, num, word))
    for m in _WORDNUM.finditer(text):
        if not free(m.start(), m.end()):
            continue
        word, noun = m.group(1).lower(), m.group(2).lower()
        if noun in _CUR_WORDS:
            major = Decimal(_WORD_NUMBERS[word]) / (100 if _CUR_WORDS[noun] == "cent" else 1)
            add(m.start(), m.end(), StatedValue(m.group(0), "money", _role(text, m.start(), m.end()), major,
                                                _CUR_WORDS[noun]))
        else:
            add(m.start(), m.end(), StatedValue(m.group(0), "count", _role(text, m.start(), m.end()),
                                                Decimal(_WORD_NUMBERS[word]), noun))
    out, seen = [], set()
    for _pos, v in sorted(found, key=lambda x: x[0]):
        key = (v.kind, v.text)
        if key in seen:
            continue
        seen.add(key)
        out.append(v)
        if len(out) >= MAX_VALUES:
            break
    return out
