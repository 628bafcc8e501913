"""The compiled rules: typed, immutable, built once by :mod:`mailbot.rules_file`.

The YAML files in ``rules/`` are the IT person's; this module is what the
classifier sees after they were validated. Each phrase list is compiled into a
:class:`~mailbot.core.matching.PhraseSet`, so classifying never re-reads or
re-tokenises a rule.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from mailbot.core.matching import PhraseIndex, PhraseSet, build_index
from mailbot.core.model import Kind, Role

__all__ = [
    "AutomaticRules",
    "DomainRole",
    "Group",
    "KindRules",
    "Parent",
    "Person",
    "Routing",
    "RuleSet",
    "Scoring",
    "Topic",
    "UrgentRules",
    "topic_set",
]


def topic_set(numeral: str) -> str:
    """The name of a topic's phrase set in :attr:`RuleSet.index`."""
    return f"topic:{numeral}"


@dataclass(frozen=True, slots=True)
class Person:
    """A staff member on the roster."""

    address: str
    name: str
    role: Role
    group: str | None
    title: str = ""


@dataclass(frozen=True, slots=True)
class Parent:
    """A known parent and the child they speak for."""

    address: str
    name: str
    child: str = ""
    class_name: str = ""


@dataclass(frozen=True, slots=True)
class DomainRole:
    """Every address under ``domain`` (or a subdomain of it) has ``role``."""

    domain: str
    role: Role


@dataclass(frozen=True, slots=True)
class Group:
    """A subject group (tổ) or union (đoàn thể)."""

    code: str
    name: str
    owes_article: bool


@dataclass(frozen=True, slots=True)
class Topic:
    """One section of the plan's appendix with the phrases that speak of it."""

    numeral: str
    title: str
    phrases: PhraseSet


@dataclass(frozen=True, slots=True)
class Scoring:
    """How much a phrase counts by where it stands, and the thresholds."""

    subject: float = 3.0
    text: float = 1.0
    attachment: float = 0.5
    topic_min: float = 2.0
    topic_keep_ratio: float = 0.5
    max_repeats: int = 3
    #: Syllables that, typed without marks, stand for several everyday words
    #: (``anh``: anh, ảnh; ``gap``: gấp, gặp). A one-word phrase with marks does
    #: not match them in text typed plain; longer phrases still do.
    plain_ambiguous: frozenset[str] = frozenset()


@dataclass(frozen=True, slots=True)
class AutomaticRules:
    """Header tests for automatic mail (RFC 3834, RFC 2369, RFC 3464, RFC 8098)."""

    sender_locals: frozenset[str]
    sender_local_prefixes: tuple[str, ...]
    sender_local_suffixes: tuple[str, ...]
    precedence: frozenset[str]
    list_headers: tuple[str, ...]
    flag_headers: tuple[str, ...]
    subjects: PhraseSet


@dataclass(frozen=True, slots=True)
class KindRules:
    """Phrases and thresholds that tell one kind of message from another."""

    submission: PhraseSet
    feedback: PhraseSet
    approval: PhraseSet
    media: PhraseSet
    other: PhraseSet = field(default_factory=lambda: PhraseSet({}, {}))
    media_max_words: int = 120
    media_mention_max_words: int = 80
    approval_max_words: int = 80
    submission_min_words: int = 120
    document_types: tuple[str, ...] = (".docx", ".doc", ".odt", ".pdf")


@dataclass(frozen=True, slots=True)
class UrgentRules:
    """Signals of an incident, and the context that makes them not one."""

    signals: PhraseSet
    dampers: PhraseSet
    threshold: float = 3.0
    damper_weight: float = 1.0


@dataclass(frozen=True, slots=True)
class Routing:
    """Where things go: IMAP folders by kind and group, offices by topic."""

    folders: dict[str, str]
    group_folders: dict[str, str]
    quarantine: str
    offices: dict[str, str]
    department: str


@dataclass(frozen=True, slots=True)
class RuleSet:
    """Everything the classifier needs, validated and compiled."""

    staff: dict[str, Person]
    parents: dict[str, Parent]
    domains: tuple[DomainRole, ...]
    parent_phrases: PhraseSet
    groups: dict[str, Group]
    topics: tuple[Topic, ...]
    kinds: KindRules
    automatic: AutomaticRules
    urgent: UrgentRules
    routing: Routing
    scoring: Scoring = field(default_factory=Scoring)
    #: How a stranger presents as someone else than a parent ("cựu học sinh", "bố mẹ em":
    #: the writer's own parents); they outweigh :attr:`parent_phrases`.
    not_parent_phrases: PhraseSet = field(default_factory=lambda: PhraseSet({}, {}))
    sources: tuple[str, ...] = ()
    index: PhraseIndex = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        index = build_index(self.phrase_sets(), self.scoring.plain_ambiguous)
        object.__setattr__(self, "index", index)

    def phrase_sets(self) -> dict[str, PhraseSet]:
        """Every phrase set the classifier asks about, by name (see :func:`topic_set`)."""
        sets = {
            "parent": self.parent_phrases,
            "not_parent": self.not_parent_phrases,
            "submission": self.kinds.submission,
            "feedback": self.kinds.feedback,
            "approval": self.kinds.approval,
            "media": self.kinds.media,
            "other": self.kinds.other,
            "urgent": self.urgent.signals,
            "damper": self.urgent.dampers,
        }
        sets.update({topic_set(t.numeral): t.phrases for t in self.topics})
        return sets

    def folder_for(self, kind: Kind, group: str | None) -> str:
        """The IMAP folder a message of ``kind`` from ``group`` is filed in."""
        if group and kind == "submission" and group in self.routing.group_folders:
            return self.routing.group_folders[group]
        return self.routing.folders[kind]
