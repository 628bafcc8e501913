"""Whole-syllable phrase matching over analysed Vietnamese text.

A :class:`PhraseSet` is compiled once from the rules and then scans a text's
tokens in one pass: each phrase is indexed by its first syllable, so the cost
is linear in the text, whatever the number of phrases. A phrase matches whole
syllables only ("ma" never matches inside "mang"), by the tone-placement-free
key for accented text and by the folded form for text typed plain (see
:mod:`mailbot.core.text`).
"""

from __future__ import annotations

import importlib
import re
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from mailbot.core.text import (
    PLAIN_MARK,
    Token,
    analyse,
    fold,
    search_form,
    syllable_key,
    tokens,
)

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


@dataclass(frozen=True, slots=True, eq=False)
class _Node:
    """The phrases that begin with the syllables read so far: those ending here, and the
    next syllable's nodes by :attr:`Token.look <mailbot.core.text.Token>` (its tone-free
    key, or its folded form behind :data:`~mailbot.core.text.PLAIN_MARK` for plain text)."""

    ends: tuple[Entry, ...] = ()
    after: dict[str, _Node] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class _Pattern:
    """A rule's regular expression, and a literal any match must contain ("" when unknown)."""

    name: str
    pattern: re.Pattern[str]
    phrase: Phrase
    literal: str


@dataclass(frozen=True, slots=True)
class PhraseIndex:
    """Many named phrase sets in one index, so a text is scanned once for all of them.

    Classifying asks some thirty sets (twelve topics, four kinds, urgency …)
    about the same three texts; scanning each text once and sorting the hits
    by set is what keeps classifying cheap beside parsing. The phrases form
    a trie of syllables: from each word of the text, one dictionary look-up
    per following word, for as long as some phrase still fits, whatever the
    number of phrases. Each word is compared in its own line's mode, by key
    or folded (see :func:`mailbot.core.text.analyse`).
    """

    root: _Node
    regexes: tuple[_Pattern, ...]

    def find(self, analysed: tuple[Token, ...], raw: str) -> dict[str, list[Match]]:
        """Every set's matches in one text: ``{set name: [Match, …]}``."""
        hits: list[Entry] = []
        looks = [tok.look for tok in analysed]
        size = len(looks)
        for i, first in enumerate(map(self.root.after.get, looks)):
            node, j = first, i + 1
            while node is not None:
                hits.extend(node.ends)
                if j == size:
                    break
                node = node.after.get(looks[j])
                j += 1
        counts = Counter(hits)
        self._regex_hits(raw, counts)
        out: dict[str, list[Match]] = {}
        for (name, phrase), n in counts.items():
            out.setdefault(name, []).append(Match(phrase, n))
        return out

    def _regex_hits(self, raw: str, counts: Counter[Entry]) -> None:
        if not raw or not self.regexes:
            return
        folded = search_form(raw)
        for rule in self.regexes:
            if rule.literal not in folded:
                continue
            n = len(rule.pattern.findall(folded))
            if n:
                counts[(rule.name, rule.phrase)] += n


def build_index(
    sets: dict[str, PhraseSet], plain_ambiguous: frozenset[str] = frozenset()
) -> PhraseIndex:
    """Merge named phrase sets into one :class:`PhraseIndex`.

    A one-syllable phrase with marks whose folded form is in ``plain_ambiguous``
    is left out of the plain-text paths: typed without marks, ``anh`` is far
    more often "anh" (brother, you) than "ảnh" (photo).
    """
    entries = [
        (name, p) for name, ps in sets.items() for group in ps.by_key.values() for p in group
    ]
    regexes = [
        _Pattern(name, pat, p, _required_literal(pat))
        for name, ps in sets.items()
        for pat, p in ps.regexes
    ]
    return PhraseIndex(root=_node(entries, 0, {}, plain_ambiguous), regexes=tuple(regexes))


def _node(
    entries: list[Entry],
    depth: int,
    made: dict[tuple[int, ...], _Node],
    plain_ambiguous: frozenset[str],
) -> _Node:
    """The trie node for ``entries``, which agree on their first ``depth`` syllables.

    A node is shared by every path that leads to the same phrases (``made``).
    """
    memo = (depth, *(id(e) for e in entries))
    if memo in made:
        return made[memo]
    longer = [e for e in entries if len(e[1].keys) > depth]
    groups: dict[str, list[Entry]] = {}
    for entry in longer:
        phrase = entry[1]
        groups.setdefault(phrase.keys[depth], []).append(entry)
        if not _ambiguous_plain(phrase, plain_ambiguous):
            groups.setdefault(PLAIN_MARK + phrase.folded[depth], []).append(entry)
    node = _Node(
        ends=tuple(e for e in entries if len(e[1].keys) == depth),
        after={
            look: _node(group, depth + 1, made, plain_ambiguous) for look, group in groups.items()
        },
    )
    made[memo] = node
    return node


def _ambiguous_plain(phrase: Phrase, plain_ambiguous: frozenset[str]) -> bool:
    """A one-word phrase with marks that, typed plain, reads as other words too."""
    if len(phrase.keys) != 1:
        return False
    return phrase.folded[0] in plain_ambiguous and phrase.keys[0] != phrase.folded[0]


def _required_literal(pattern: re.Pattern[str]) -> str:
    """The longest run of plain characters at the start of every match, after any
    leading anchors (``^``, ``\\b``): text without it cannot match, and ``in``
    finds that much faster than the pattern's own scan. "" when there is none
    or the pattern is case-insensitive."""
    if pattern.flags & re.IGNORECASE:
        return ""
    try:  # the standard library's own parser of patterns, private (re._parser)
        parser: Any = importlib.import_module("re._parser")
        items = list(parser.parse(pattern.pattern, pattern.flags))
        anchor, literal = parser.AT, parser.LITERAL
    except Exception:  # it changed: no shortcut, and the same result
        return ""
    chars: list[str] = []
    for op, value in items:
        if op is anchor and not chars:
            continue
        if op is not literal:
            break
        chars.append(chr(value))
    return "".join(chars)
