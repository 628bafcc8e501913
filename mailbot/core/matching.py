"""Whole-syllable phrase matching over analysed Vietnamese text.

A :class:`PhraseSet` is compiled once from the rules and then scans a text's
tokens in one pass: each phrase is indexed by its first syllable, so the cost
is linear in the text, whatever the number of phrases. A phrase matches whole
syllables only ("ma" never matches inside "mang"), by the tone-placement-free
key for accented text and by the folded form for text typed plain (see
:mod:`mailbot.core.text`).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from mailbot.core.text import Token, analyse, fold, search_form, syllable_key, tokens

__all__ = ["Match", "Phrase", "PhraseIndex", "PhraseSet", "build_index", "compile_phrases"]


@dataclass(frozen=True, slots=True, eq=False)
class Phrase:
    """One keyword or phrase from a rule file, with its weight and label.

    Compared and hashed by identity: each is compiled once, and classifying
    counts hits in dictionaries keyed by phrase.
    """

    text: str
    weight: float
    label: str
    keys: tuple[str, ...] = field(default=(), repr=False)
    folded: tuple[str, ...] = field(default=(), repr=False)


@dataclass(frozen=True, slots=True)
class Match:
    """One phrase found ``count`` times in a text."""

    phrase: Phrase
    count: int


def _phrase(text: str, weight: float, label: str) -> Phrase:
    words = tokens(text)
    return Phrase(
        text=text,
        weight=weight,
        label=label,
        keys=tuple(syllable_key(w) for w in words),
        folded=tuple(fold(w) for w in words),
    )


@dataclass(frozen=True, slots=True)
class PhraseSet:
    """Phrases indexed by first syllable, plus regular expressions.

    Regular expressions run on the NFC, case-folded text, for the few rules
    that need more than a phrase (numbers, links, reference codes).
    """

    by_key: dict[str, tuple[Phrase, ...]]
    by_fold: dict[str, tuple[Phrase, ...]]
    regexes: tuple[tuple[re.Pattern[str], Phrase], ...] = ()

    def __bool__(self) -> bool:
        return bool(self.by_key or self.regexes)

    def find(self, analysed: tuple[Token, ...], raw: str = "") -> list[Match]:
        """Every phrase found in ``analysed`` (and every regex in ``raw``), with counts."""
        counts: dict[Phrase, int] = {}
        for i, tok in enumerate(analysed):
            index = self.by_fold if tok.plain else self.by_key
            for phrase in index.get(tok.folded if tok.plain else tok.key, ()):
                if _matches_at(phrase, analysed, i):
                    counts[phrase] = counts.get(phrase, 0) + 1
        if raw and self.regexes:
            folded = search_form(raw)
            for pattern, phrase in self.regexes:
                n = len(pattern.findall(folded))
                if n:
                    counts[phrase] = counts.get(phrase, 0) + n
        return [Match(p, n) for p, n in counts.items()]

    def search(self, text: str) -> list[Match]:
        """Convenience: analyse ``text`` and find phrases in it."""
        return self.find(analyse(text), text)


def _matches_at(phrase: Phrase, analysed: tuple[Token, ...], start: int) -> bool:
    if start + len(phrase.keys) > len(analysed):
        return False
    for offset, (key, folded) in enumerate(zip(phrase.keys, phrase.folded, strict=True)):
        tok = analysed[start + offset]
        if (tok.folded != folded) if tok.plain else (tok.key != key):
            return False
    return True


def compile_phrases(
    entries: Iterable[tuple[str, float, str]],
    regexes: Iterable[tuple[re.Pattern[str], float, str]] = (),
) -> PhraseSet:
    """Build a :class:`PhraseSet` from ``(text, weight, label)`` entries."""
    by_key: dict[str, list[Phrase]] = {}
    by_fold: dict[str, list[Phrase]] = {}
    for text, weight, label in entries:
        phrase = _phrase(text, weight, label)
        if not phrase.keys:
            continue
        by_key.setdefault(phrase.keys[0], []).append(phrase)
        by_fold.setdefault(phrase.folded[0], []).append(phrase)
    compiled = tuple((pat, Phrase(pat.pattern, w, label)) for pat, w, label in regexes)
    return PhraseSet(
        by_key={k: tuple(v) for k, v in by_key.items()},
        by_fold={k: tuple(v) for k, v in by_fold.items()},
        regexes=compiled,
    )


Entry = tuple[str, Phrase]


@dataclass(frozen=True, slots=True)
class _Bucket:
    """The phrases that start with one syllable: one-word ones, and the rest by second word."""

    singles: tuple[Entry, ...] = ()
    by_key: dict[str, tuple[Entry, ...]] = field(default_factory=dict)
    by_fold: dict[str, tuple[Entry, ...]] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class PhraseIndex:
    """Many named phrase sets in one index, so a text is scanned once for all of them.

    Classifying asks some thirty sets (twelve topics, four kinds, urgency …)
    about the same three texts; scanning each text once and sorting the hits
    by set is what keeps classifying cheap beside parsing. Phrases are
    indexed by their first two syllables, so common first words ("học",
    "bài") cost one dictionary look-up, not a comparison per phrase.
    """

    by_key: dict[str, _Bucket]
    by_fold: dict[str, _Bucket]
    regexes: tuple[tuple[str, re.Pattern[str], Phrase], ...]

    def find(self, analysed: tuple[Token, ...], raw: str) -> dict[str, list[Match]]:
        """Every set's matches in one text: ``{set name: [Match, …]}``."""
        counts: dict[Entry, int] = {}
        last = len(analysed) - 1
        for i, tok in enumerate(analysed):
            bucket = (self.by_fold if tok.plain else self.by_key).get(
                tok.folded if tok.plain else tok.key
            )
            if bucket is None:
                continue
            for entry in bucket.singles:
                counts[entry] = counts.get(entry, 0) + 1
            if i < last:
                nxt = analysed[i + 1]
                seconds = (
                    bucket.by_fold.get(nxt.folded) if nxt.plain else bucket.by_key.get(nxt.key)
                )
                for entry in seconds or ():  # two syllables: both compared by the look-ups
                    if len(entry[1].keys) == 2 or _matches_at(entry[1], analysed, i):
                        counts[entry] = counts.get(entry, 0) + 1
        self._regex_hits(raw, counts)
        out: dict[str, list[Match]] = {}
        for (name, phrase), n in counts.items():
            out.setdefault(name, []).append(Match(phrase, n))
        return out

    def _regex_hits(self, raw: str, counts: dict[Entry, int]) -> None:
        if not raw or not self.regexes:
            return
        folded = search_form(raw)
        for name, pattern, phrase in self.regexes:
            n = len(pattern.findall(folded))
            if n:
                counts[(name, phrase)] = counts.get((name, phrase), 0) + n


def build_index(sets: dict[str, PhraseSet]) -> PhraseIndex:
    """Merge named phrase sets into one :class:`PhraseIndex`."""
    entries = [
        (name, p) for name, ps in sets.items() for group in ps.by_key.values() for p in group
    ]
    regexes = [(name, pat, p) for name, ps in sets.items() for pat, p in ps.regexes]
    return PhraseIndex(
        by_key=_buckets(entries, lambda p: p.keys),
        by_fold=_buckets(entries, lambda p: p.folded),
        regexes=tuple(regexes),
    )


def _buckets(entries: list[Entry], form: Callable[[Phrase], tuple[str, ...]]) -> dict[str, _Bucket]:
    singles: dict[str, list[Entry]] = {}
    by_key: dict[str, dict[str, list[Entry]]] = {}
    by_fold: dict[str, dict[str, list[Entry]]] = {}
    for entry in entries:
        words = form(entry[1])
        if len(words) == 1:
            singles.setdefault(words[0], []).append(entry)
            continue
        by_key.setdefault(words[0], {}).setdefault(entry[1].keys[1], []).append(entry)
        by_fold.setdefault(words[0], {}).setdefault(entry[1].folded[1], []).append(entry)
    firsts = set(singles) | set(by_key)
    return {
        first: _Bucket(
            singles=tuple(singles.get(first, ())),
            by_key={k: tuple(v) for k, v in by_key.get(first, {}).items()},
            by_fold={k: tuple(v) for k, v in by_fold.get(first, {}).items()},
        )
        for first in firsts
    }
