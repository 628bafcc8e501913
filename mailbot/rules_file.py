"""Read ``rules/*.yaml`` once, validate it, and compile it into a :class:`RuleSet`.

The rule files are edited by the school's IT person, so every mistake is
reported with the file, the line and what was expected, all problems at once
(click's style), and nothing is half-loaded: :func:`load_rules` either returns
a complete rule set or raises :class:`~mailbot.errors.RulesError`.

A *phrase block* is the one way rules list words. It is a mapping with any of
``strong`` (weight 3), ``keywords`` (weight 1), ``weak`` (weight 0.5) — lists
of words or phrases matched as whole syllables, ignoring case and tone-mark
placement — and ``regex`` (weight 2), regular expressions run on the
lower-cased text.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

from mailbot.core.matching import PhraseSet, compile_phrases
from mailbot.core.model import KINDS, ROLES, TOPICS, Role
from mailbot.core.rules import (
    AutomaticRules,
    DomainRole,
    Group,
    KindRules,
    Parent,
    Person,
    Routing,
    RuleSet,
    Scoring,
    Topic,
    UrgentRules,
)
from mailbot.core.text import fold, syllable_key, tokens
from mailbot.errors import Problem, RulesError
from mailbot.yamlfile import Node, Reader, expected, read_yaml

__all__ = ["RULE_FILES", "default_rules_dir", "load_rules", "summary"]

RULE_FILES = (
    "people.yaml",
    "groups.yaml",
    "topics.yaml",
    "kinds.yaml",
    "urgent.yaml",
    "routing.yaml",
)
TIERS = {"strong": 3.0, "keywords": 1.0, "weak": 0.5}
REGEX_WEIGHT = 2.0
_ADDRESS = re.compile(r"^[^@\s]+@[a-z0-9-]+(\.[a-z0-9-]+)+$")
_DOMAIN = re.compile(r"^[a-z0-9-]+(\.[a-z0-9-]+)+$")


def default_rules_dir() -> Path:
    """The project's ``rules/`` folder (beside the package in a checkout)."""
    return Path(__file__).resolve().parent.parent / "rules"


def _phrases(r: Reader, node: Node | None, where: str, label: str) -> PhraseSet:
    block = r.mapping(node, where, (*TIERS, "regex")) if node is not None else {}
    entries: list[tuple[str, float, str]] = []
    seen: dict[tuple[str, ...], tuple[str, int]] = {}
    for tier, weight in TIERS.items():
        for item in r.seq(block.get(tier), f"{where}.{tier}"):
            word = r.text(item, f"a keyword in {where}.{tier}")
            key = tuple(syllable_key(w) for w in tokens(word))
            if key in seen:
                first, line = seen[key]
                r.problem(
                    item,
                    f"{word!r} in {where}.{tier} is the same phrase as {first!r} (line {line}):"
                    " matching ignores case and tone-mark placement, so it would count twice;"
                    " keep one",
                )
            elif word:
                seen[key] = (word, item.line)
                entries.append((word, weight, label))
    regexes = [r for r in _regexes(r, block.get("regex"), where, label) if r]
    return compile_phrases(entries, regexes)


def _regexes(
    r: Reader, node: Node | None, where: str, label: str
) -> Iterator[tuple[re.Pattern[str], float, str] | None]:
    for item in r.seq(node, f"{where}.regex"):
        pattern = r.text(item, f"a regex in {where}.regex")
        try:
            yield re.compile(pattern.casefold()), REGEX_WEIGHT, label
        except re.error as exc:
            r.problem(item, f"regex {pattern!r} does not compile: {exc}; fix the pattern")
            yield None


# --- the six files ----------------------------------------------------------------


def load_rules(directory: Path) -> RuleSet:
    """Load, validate and compile every rule file in ``directory``.

    Raises :class:`RulesError` listing every problem found in every file.
    """
    problems: list[Problem] = []
    if not directory.is_dir():
        raise RulesError([Problem(str(directory), 0, "is not a folder of rule files")])
    roots = _read_all(directory, problems)
    if problems:
        raise RulesError(problems)
    readers = {name: Reader(str(directory / name), problems) for name in RULE_FILES}
    groups = _groups(roots["groups.yaml"], readers["groups.yaml"])
    staff, parents, domains, parent_phrases, not_parent = _people(
        roots["people.yaml"], readers["people.yaml"], groups
    )
    topics = _topics(roots["topics.yaml"], readers["topics.yaml"])
    kinds, automatic, scoring = _kinds(roots["kinds.yaml"], readers["kinds.yaml"])
    urgent = _urgent(roots["urgent.yaml"], readers["urgent.yaml"])
    routing = _routing(roots["routing.yaml"], readers["routing.yaml"], groups)
    if problems:
        raise RulesError(problems)
    return RuleSet(
        staff=staff,
        parents=parents,
        domains=domains,
        parent_phrases=parent_phrases,
        not_parent_phrases=not_parent,
        groups=groups,
        topics=topics,
        kinds=kinds,
        automatic=automatic,
        urgent=urgent,
        routing=routing,
        scoring=scoring,
        sources=tuple(str(directory / n) for n in RULE_FILES),
    )


def _read_all(directory: Path, problems: list[Problem]) -> dict[str, Node]:
    roots: dict[str, Node] = {}
    for name in RULE_FILES:
        path = directory / name
        reader = Reader(str(path), problems)
        if not path.is_file():
            reader.problem(0, "is missing; every rules folder needs " + ", ".join(RULE_FILES))
            continue
        node = read_yaml(path, reader)
        if node is not None:
            roots[name] = node
    for path in sorted(directory.glob("*.y*ml")):
        if path.name not in RULE_FILES:
            close = expected(path.name, RULE_FILES)
            problems.append(Problem(str(path), 0, f"is not a rule file mailbot reads; {close}"))
    return roots


def _groups(root: Node, r: Reader) -> dict[str, Group]:
    top = r.mapping(root, "groups.yaml", ("groups",), ("groups",))
    groups: dict[str, Group] = {}
    for item in r.seq(top.get("groups"), "groups"):
        m = r.mapping(item, "a group", ("code", "name", "owes_article"), ("code", "name"))
        code = r.text(m.get("code"), "code")
        if code in groups:
            r.problem(item, f"group code '{code}' is listed twice")
        owes = r.flag(m.get("owes_article"), "owes_article", True)
        groups[code] = Group(code, r.text(m.get("name"), "name"), owes)
    return groups


_PERSON_KEYS = ("address", "name", "role", "group", "title")
_STAFF_ROLES: tuple[str, ...] = ("leadership", "it", "teacher", "staff")


def _people(
    root: Node, r: Reader, groups: dict[str, Group]
) -> tuple[dict[str, Person], dict[str, Parent], tuple[DomainRole, ...], PhraseSet, PhraseSet]:
    keys = ("staff", "parents", "domains", "parent_phrases", "not_parent_phrases")
    top = r.mapping(root, "people.yaml", keys, ("staff",))
    seen: dict[str, int] = {}
    staff: dict[str, Person] = {}
    for item in r.seq(top.get("staff"), "staff"):
        m = r.mapping(item, "a staff entry", _PERSON_KEYS, ("address", "name", "role"))
        address = _address(r, m.get("address"), seen)
        role = r.choice(m.get("role"), "role", _STAFF_ROLES)
        group = _group_ref(r, m.get("group"), groups)
        staff[address] = Person(
            address, r.text(m.get("name"), "name"), _role(role), group, _opt(r, m, "title")
        )
    parents: dict[str, Parent] = {}
    for item in r.seq(top.get("parents"), "parents"):
        m = r.mapping(item, "a parent", ("address", "name", "child", "class"), ("address", "name"))
        address = _address(r, m.get("address"), seen)
        name = r.text(m.get("name"), "name")
        parents[address] = Parent(address, name, _opt(r, m, "child"), _opt(r, m, "class"))
    domains = tuple(_domain(r, item) for item in r.seq(top.get("domains"), "domains"))
    phrases = _phrases(r, top.get("parent_phrases"), "parent_phrases", "parent")
    others = _phrases(r, top.get("not_parent_phrases"), "not_parent_phrases", "not_parent")
    return staff, parents, tuple(d for d in domains if d), phrases, others


def _opt(r: Reader, m: dict[str, Node], key: str) -> str:
    return r.text(m[key], key) if key in m else ""


def _role(value: str | None) -> Role:
    for role in ROLES:
        if role == value:
            return role
    return "unknown"


def _address(r: Reader, node: Node | None, seen: dict[str, int]) -> str:
    address = r.text(node, "address").lower()
    if node is None or not address:
        return address
    if not _ADDRESS.match(address):
        r.problem(node, f"'{address}' is not an e-mail address (expected name@domain)")
    elif address in seen:
        r.problem(node, f"address {address} is listed twice (first on line {seen[address]})")
    else:
        seen[address] = node.line
    return address


def _group_ref(r: Reader, node: Node | None, groups: dict[str, Group]) -> str | None:
    if node is None or node.value is None:
        return None
    code = r.text(node, "group")
    if code not in groups:
        r.problem(node, f"group '{code}' is not in groups.yaml; {expected(code, tuple(groups))}")
        return None
    return code


def _domain(r: Reader, item: Node) -> DomainRole | None:
    m = r.mapping(item, "a domain entry", ("domain", "role"), ("domain", "role"))
    domain = r.text(m.get("domain"), "domain").lower().lstrip("@")
    role = r.choice(m.get("role"), "role", ROLES)
    if domain and not _DOMAIN.match(domain):
        r.problem(item, f"'{domain}' is not a domain name (expected e.g. dienbien.edu.vn)")
        return None
    return DomainRole(domain, _role(role)) if domain and role else None


def _topics(root: Node, r: Reader) -> tuple[Topic, ...]:
    top = r.mapping(root, "topics.yaml", ("topics",), ("topics",))
    node = top.get("topics")
    sections = r.mapping(node, "topics", TOPICS) if node is not None else {}
    for numeral in TOPICS:
        if node is not None and numeral not in sections:
            r.problem(node, f"topic {numeral} is missing; the plan has sections I to XII")
    topics = []
    for numeral in TOPICS:
        if numeral in sections:
            topics.append(_topic(r, numeral, sections[numeral]))
    return tuple(topics)


def _topic(r: Reader, numeral: str, node: Node) -> Topic:
    allowed = ("title", *TIERS, "regex")
    m = r.mapping(node, f"topic {numeral}", allowed, ("title",))
    title = r.text(m.get("title"), f"topic {numeral} title")
    block = Node({k: v for k, v in m.items() if k != "title"}, node.line)
    return Topic(numeral, title, _phrases(r, block, f"topic {numeral}", numeral))


_AUTO_LISTS = (
    "sender_locals",
    "sender_local_prefixes",
    "sender_local_suffixes",
    "precedence",
    "list_headers",
    "flag_headers",
)


def _kinds(root: Node, r: Reader) -> tuple[KindRules, AutomaticRules, Scoring]:
    keys = (
        "automatic",
        "submission",
        "feedback",
        "approval",
        "media",
        "other",
        "limits",
        "scoring",
    )
    top = r.mapping(root, "kinds.yaml", keys, ("automatic", "submission", "feedback", "approval"))
    limits_node = top.get("limits")
    limits = r.mapping(limits_node, "limits", _LIMIT_KEYS) if limits_node else {}
    d = KindRules(PhraseSet({}, {}), PhraseSet({}, {}), PhraseSet({}, {}), PhraseSet({}, {}))
    kinds = KindRules(
        submission=_phrases(r, top.get("submission"), "submission", "submission"),
        feedback=_phrases(r, top.get("feedback"), "feedback", "feedback"),
        approval=_phrases(r, top.get("approval"), "approval", "approval"),
        media=_phrases(r, top.get("media"), "media", "media"),
        other=_phrases(r, top.get("other"), "other", "other"),
        media_max_words=int(
            r.number(limits.get("media_max_words"), "limits.media_max_words", d.media_max_words)
        ),
        media_mention_max_words=int(
            r.number(
                limits.get("media_mention_max_words"),
                "limits.media_mention_max_words",
                d.media_mention_max_words,
            )
        ),
        approval_max_words=int(
            r.number(
                limits.get("approval_max_words"),
                "limits.approval_max_words",
                d.approval_max_words,
            )
        ),
        submission_min_words=int(
            r.number(
                limits.get("submission_min_words"),
                "limits.submission_min_words",
                d.submission_min_words,
            )
        ),
    )
    return kinds, _automatic(top.get("automatic"), r), _scoring(top.get("scoring"), r)


def _automatic(node: Node | None, r: Reader) -> AutomaticRules:
    m = r.mapping(node, "automatic", (*_AUTO_LISTS, "subjects")) if node else {}
    lists = {key: tuple(_lower_list(r, m.get(key), key)) for key in _AUTO_LISTS}
    return AutomaticRules(
        sender_locals=frozenset(lists["sender_locals"]),
        sender_local_prefixes=lists["sender_local_prefixes"],
        sender_local_suffixes=lists["sender_local_suffixes"],
        precedence=frozenset(lists["precedence"]),
        list_headers=lists["list_headers"],
        flag_headers=lists["flag_headers"],
        subjects=_phrases(r, m.get("subjects"), "automatic.subjects", "auto-subject"),
    )


def _lower_list(r: Reader, node: Node | None, where: str) -> Iterator[str]:
    for item in r.seq(node, where):
        value = r.text(item, f"an entry of {where}").lower()
        if value:
            yield value


_LIMIT_KEYS = (
    "media_max_words",
    "media_mention_max_words",
    "approval_max_words",
    "submission_min_words",
)
_SCORING_KEYS = (
    "subject",
    "text",
    "attachment",
    "topic_min",
    "topic_keep_ratio",
    "max_repeats",
    "plain_ambiguous",
)


def _scoring(node: Node | None, r: Reader) -> Scoring:
    if node is None:
        return Scoring()
    m = r.mapping(node, "scoring", _SCORING_KEYS)
    d = Scoring()
    return Scoring(
        subject=r.number(m.get("subject"), "scoring.subject", d.subject),
        text=r.number(m.get("text"), "scoring.text", d.text),
        attachment=r.number(m.get("attachment"), "scoring.attachment", d.attachment),
        topic_min=r.number(m.get("topic_min"), "scoring.topic_min", d.topic_min),
        topic_keep_ratio=r.number(
            m.get("topic_keep_ratio"), "scoring.topic_keep_ratio", d.topic_keep_ratio
        ),
        max_repeats=int(r.number(m.get("max_repeats"), "scoring.max_repeats", d.max_repeats)),
        plain_ambiguous=_plain_ambiguous(r, m.get("plain_ambiguous")),
    )


def _plain_ambiguous(r: Reader, node: Node | None) -> frozenset[str]:
    """Syllables typed without marks, each one word with no diacritic (``anh``, ``gap``)."""
    found: set[str] = set()
    for item in r.seq(node, "scoring.plain_ambiguous"):
        word = r.text(item, "a syllable in scoring.plain_ambiguous")
        if len(tokens(word)) != 1 or fold(word) != word.casefold():
            r.problem(
                item,
                f"{word!r} in scoring.plain_ambiguous must be one syllable typed without "
                "diacritics, as plain text has it (anh, gap, hoi)",
            )
        else:
            found.add(fold(word))
    return frozenset(found)


def _urgent(root: Node, r: Reader) -> UrgentRules:
    keys = ("signals", "dampers", "threshold", "damper_weight")
    m = r.mapping(root, "urgent.yaml", keys, ("signals",))
    return UrgentRules(
        signals=_phrases(r, m.get("signals"), "signals", "urgent"),
        dampers=_phrases(r, m.get("dampers"), "dampers", "damper"),
        threshold=r.number(m.get("threshold"), "threshold", 3.0),
        damper_weight=r.number(m.get("damper_weight"), "damper_weight", 1.0),
    )


def _routing(root: Node, r: Reader, groups: dict[str, Group]) -> Routing:
    keys = ("folders", "group_folders", "quarantine", "department", "offices")
    m = r.mapping(root, "routing.yaml", keys, ("folders", "quarantine", "department"))
    folders = _string_map(r, m.get("folders"), "folders", KINDS, required=True)
    group_folders = _string_map(r, m.get("group_folders"), "group_folders", tuple(groups))
    offices = _string_map(r, m.get("offices"), "offices", TOPICS)
    department = r.text(m.get("department"), "department").lower()
    for where, address, node in _addresses(m, offices, department):
        if not _ADDRESS.match(address):
            r.problem(node, f"{where} '{address}' is not an e-mail address")
    return Routing(
        folders=folders,
        group_folders=group_folders,
        quarantine=r.text(m.get("quarantine"), "quarantine", "Quarantine"),
        offices={k: v.lower() for k, v in offices.items()},
        department=department,
    )


def _addresses(
    m: dict[str, Node], offices: dict[str, str], department: str
) -> Iterator[tuple[str, str, Node | int]]:
    if "department" in m and department:
        yield "department", department, m["department"]
    office_node = m.get("offices")
    for numeral, address in offices.items():
        yield f"office for topic {numeral}", address.lower(), office_node or 0


def _string_map(
    r: Reader, node: Node | None, where: str, keys: tuple[str, ...], *, required: bool = False
) -> dict[str, str]:
    if node is None:
        return {}
    m = r.mapping(node, where, keys)
    if required:
        for key in keys:
            if key not in m:
                r.problem(node, f"{where} lacks '{key}'; every kind needs a folder")
    return {key: r.text(value, f"{where}.{key}") for key, value in m.items()}


def summary(rules: RuleSet) -> str:
    """One short paragraph for ``mailbot rules check``."""
    keywords = sum(_count(t.phrases) for t in rules.topics)
    other = sum(
        _count(p) for p in (rules.kinds.submission, rules.kinds.feedback, rules.kinds.approval)
    )
    return (
        f"{len(rules.staff)} staff, {len(rules.parents)} parents, {len(rules.domains)} domains; "
        f"{len(rules.groups)} groups ({sum(g.owes_article for g in rules.groups.values())} owe "
        f"a monthly article); {len(rules.topics)} topics with {keywords} keywords; "
        f"{other} kind keywords; {_count(rules.urgent.signals)} urgent signals"
    )


def _count(phrases: PhraseSet) -> int:
    return sum(len(v) for v in phrases.by_key.values()) + len(phrases.regexes)
