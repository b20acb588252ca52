"""The symptom's words, read through the knowledge base's vocabulary.

A symptom mixes two kinds of words: the *domain* ("checkout", "gift box", "notifications") and
the *condition* ("times out", "memory keeps climbing", "crashes", "stale"). Domain words
should meet the code's names loosely (inflections, abbreviations: "notifications" ~ `Notify`);
condition words must not — "times out" is not about `time_zone/1`, "memory" not about
`memoize/2`. The condition vocabulary is the knowledge base's own: the symptom-class phrases of
:mod:`.candidates`, every entry's `tags`, and the detail words of the trace-signature
vocabulary (`knowledge/signatures.py`).

:func:`read_symptom` splits a symptom accordingly:

* phrases of several words ("times out", "never arrive", "send_after", "cancel_timer") are
  consumed whole: their words never meet a name on their own; the phrase meets an identifier
  only when the identifier holds the same words in a row (`cancel_timer`, `send_after`);
* single condition words ("timeout", "cache", "counter", "restart") meet a name only when one
  of the name's words is the same word up to inflection ("restarted" ~ `restart`,
  "caching" ~ `cache`);
* everything else is a domain word, matched as before (equal, or a shared prefix of five
  letters).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

_TOKEN = re.compile(r"[a-z0-9]+")


def tokens(text: str) -> list[str]:
    """Lowercase tokens of a symptom or an identifier (CamelCase and snake_case split; nothing
    dropped — short words and stopwords matter inside phrases)."""
    spaced = re.sub(r"(?<=[a-z0-9])(?=[A-Z])", " ", text)
    return _TOKEN.findall(spaced.lower())


def forms(word: str) -> frozenset[str]:
    """A word and its likely stems: plural and -ed/-ing removed (with and without a final e)."""
    out = {word}
    for suffix in ("ies", "es", "s", "ing", "ed"):
        if word.endswith(suffix) and len(word) - len(suffix) >= 3:
            stem = word[: -len(suffix)]
            out |= {stem, stem + "e"} if suffix != "ies" else {stem + "y"}
    return frozenset(out)


def same_word(a: str, b: str) -> bool:
    return a == b or bool(forms(a) & forms(b))


@dataclass(frozen=True)
class Vocabulary:
    singles: frozenset[str]                 # condition words
    phrases: tuple[tuple[str, ...], ...]    # condition phrases of two or more words, longest first

    def is_single(self, word: str) -> bool:
        return any(f in self.singles for f in forms(word))


@lru_cache(maxsize=1)
def kb_vocabulary() -> Vocabulary:
    """The condition vocabulary: symptom-class phrases, knowledge-base tags, signature details."""
    from elixir_scope.knowledge.kb import KnowledgeBase
    from elixir_scope.knowledge.signatures import VOCABULARY

    from .candidates import CLASS_WORDS

    raw: set[str] = {w for words in CLASS_WORDS.values() for w in words}
    raw |= {t for entry in KnowledgeBase.load() for t in entry.tags}
    for token in VOCABULARY:
        raw |= {part for part in token.split(":") if not part[:1].isupper()}
    singles, phrases = set(), set()
    for text in raw:
        toks = tuple(tokens(text))
        if len(toks) == 1 and len(toks[0]) >= 3 and not toks[0].isdigit():
            singles.add(toks[0])
        elif len(toks) > 1:
            phrases.add(toks)
    return Vocabulary(frozenset(singles), tuple(sorted(phrases, key=lambda p: (-len(p), p))))


@dataclass(frozen=True)
class SymptomWords:
    domain: tuple[str, ...]                 # matched loosely against names
    conditions: tuple[str, ...]             # single condition words: matched as the same word
    phrases: tuple[tuple[str, ...], ...]    # condition phrases found in the symptom


def read_symptom(symptom: str, stopwords: frozenset[str], vocabulary: Vocabulary | None = None) -> SymptomWords:
    """Split ``symptom`` into domain words, condition words and condition phrases."""
    vocab = vocabulary or kb_vocabulary()
    toks = tokens(symptom)
    covered = [False] * len(toks)
    found: list[tuple[str, ...]] = []
    for phrase in vocab.phrases:
        n = len(phrase)
        for i in range(len(toks) - n + 1):
            if any(covered[i:i + n]):
                continue
            if all(same_word(toks[i + k], phrase[k]) for k in range(n)):
                covered[i:i + n] = [True] * n
                if phrase not in found:
                    found.append(phrase)
    domain, conditions = [], []
    for tok, used in zip(toks, covered):
        if used or len(tok) < 3 or tok in stopwords:
            continue
        (conditions if vocab.is_single(tok) else domain).append(tok)
    return SymptomWords(tuple(dict.fromkeys(domain)), tuple(dict.fromkeys(conditions)), tuple(found))


def phrase_in(phrase: tuple[str, ...], name_words: list[str]) -> bool:
    """``phrase``'s words in a row among an identifier's words."""
    n = len(phrase)
    return any(all(same_word(name_words[i + k], phrase[k]) for k in range(n))
               for i in range(len(name_words) - n + 1))
